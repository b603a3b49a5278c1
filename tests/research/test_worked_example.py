"""docs/research.md's worked example: the page shows the script verbatim, and the script runs
(the parity package made importable and registered through a dist-info entry point, as
`pip install -e examples/parity_domain` would)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.research.conftest import CORPUS, ROOT

EXAMPLE = ROOT / "examples" / "parity_domain"
SCRIPT = EXAMPLE / "worked_example.py"


def test_docs_show_the_script_verbatim():
    doc = (ROOT / "docs" / "research.md").read_text()
    m = re.search(r"<!-- worked-example: begin -->\n```python\n(.*?)```\n<!-- worked-example: end -->",
                  doc, re.S)
    assert m and m.group(1) == SCRIPT.read_text()


def _installed(tmp_path) -> dict:
    site = tmp_path / "site"
    info = site / "bpfcheck_parity_domain-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bpfcheck-parity-domain\nVersion: 0.1.0\n")
    ep = re.search(r'\[project.entry-points."bpfcheck.domains"\]\n(.*?)\n', (EXAMPLE / "pyproject.toml").read_text())
    (info / "entry_points.txt").write_text("[bpfcheck.domains]\n" + ep.group(1).replace('"', "") + "\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(EXAMPLE), str(ROOT)])
    return env


def test_worked_example_runs(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("xdp_eth_drop.o", "bad_cgroup_exit_code.o", "socket_udp_only.o"):
        os.symlink(CORPUS / name, corpus / name)
    os.symlink(EXAMPLE / "bitmask" / "xdp_nibble_index.o", corpus / "xdp_nibble_index.o")
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(SCRIPT), str(corpus), str(out)], cwd=tmp_path,
                         env=_installed(tmp_path), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "parity domain: parity_domain ParityDomain" in res.stdout
    assert "16 runs" in res.stdout
    assert re.search(r"xdp_nibble_index\.o:xdp_nibble_index\s+tnum-interval", res.stdout)
    assert (out / "report" / "index.html").exists() and (out / "report" / "time_cdf.svg").exists()
    sys.path.insert(0, str(ROOT))
    from verifier.research.store import load
    df = load(str(out / "results.parquet"))
    assert set(df["domain"]) == {"interval", "zone", "tnum-interval", "parity"}
    assert set(df["status"]) == {"ok"}


def test_parity_domain_is_sound_on_samples():
    """The example domain honours the protocol's soundness contract on random states."""
    import random
    sys.path.insert(0, str(EXAMPLE))
    from domains.linear import LinearExpression as E
    from domains.linear import eq
    from parity_domain import ParityDomain
    from domains.bounds import Interval
    rng = random.Random(4)
    for _ in range(300):
        env = {v: rng.randint(-20, 20) for v in "xyz"}
        d = ParityDomain.top()
        for v in "xy":
            d.set_interval(v, Interval.const(env[v]))
        assert d.contains(env)
        e = E.var("x") * rng.randint(-3, 3) + E.var("y") * rng.randint(-3, 3) + rng.randint(-5, 5)
        d2 = d.copy()
        d2.assign("z", e)
        assert d2.contains({**env, "z": e.evaluate(env)})
        j = d.join(d2)
        assert j.contains(env) and d.leq(j) and d2.leq(j)
        c = eq("z", e)
        if c.holds({**env, "z": e.evaluate(env)}):
            d3 = d.copy()
            d3.add_constraint(c)
            assert d3.contains({**env, "z": e.evaluate(env)})
