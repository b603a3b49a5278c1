"""`bpfcheck bench domains` runs on tiny sizes and prints one row per operation."""
from __future__ import annotations

from verifier.cli import main


def test_bench_domains_prints_a_table(capsys):
    assert main(["bench", "domains", "--vars", "6,8", "--min-time", "0.001"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["zone", "(us/op)"] and "dense 8" in out[0] and "sparse 6" in out[0]
    rows = {line.split()[0] for line in out[2:]}
    assert {"join", "meet", "widen", "leq", "add_constraint", "assign", "forget"} <= rows
    assert main(["bench", "domains", "--domain", "interval", "--vars", "6", "--min-time", "0.001"]) == 0


def test_bench_domains_rejects_bad_input(capsys):
    assert main(["bench", "domains", "--domain", "octagon", "--min-time", "0.001"]) == 2
    assert "unknown abstract domain" in capsys.readouterr().err
    assert main(["bench", "domains", "--vars", "x"]) == 2
