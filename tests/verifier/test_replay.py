"""Every unsafe Linux corpus program gets a z3 witness that `bpfcheck run --checked` replays
to the violation at the error's pc; safe programs run clean under the same monitor."""
from __future__ import annotations

import pathlib
import shlex

import pytest
import yaml

from cfg.elf import load_object
from runtime.packets import samples
from verifier.analyze import analyze
from verifier.cli import main
from verifier.crosscheck import explain, run_command, write_witness

ROOT = pathlib.Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "corpus" / "manifest.yaml").read_text())["programs"]
LINUX = [p for p in MANIFEST if p["platform"] == "linux"]
UNSAFE = [p for p in LINUX if p["verdict"] == "reject"]
SAFE_RUNNABLE = [p for p in LINUX if p["verdict"] == "accept"
                 and p["type"] in ("xdp", "sched_cls", "socket_filter")]


def _program(entry):
    obj = load_object(str(ROOT / "corpus" / entry["object"]))
    return obj.program(entry["section"], entry["function"])


@pytest.mark.parametrize("entry", UNSAFE, ids=[p["function"] for p in UNSAFE])
def test_witness_replays_to_the_violation(entry, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    program = _program(entry)
    report = analyze(program, termination=True)
    explanations = [e for e in explain(report) if e.witness is not None]
    assert explanations, "no witness found for a program the manifest calls unsafe"
    for ex in explanations:
        stem = str(tmp_path / f"{program.name}.pc{ex.error.pc}")
        write_witness(ex.witness, stem)
        argv = shlex.split(run_command(program, ex.witness, stem))[1:]
        assert main(argv) == 1, f"replay of pc {ex.error.pc} ({ex.error.kind}) showed nothing"
        out = capsys.readouterr().out
        assert "error" in out


@pytest.mark.parametrize("entry", SAFE_RUNNABLE, ids=[p["function"] for p in SAFE_RUNNABLE])
def test_safe_programs_run_clean_under_the_monitor(entry, tmp_path, capsys):
    path = str(ROOT / "corpus" / entry["object"])
    for name, packet in samples().items():
        f = tmp_path / f"{name}.bin"
        f.write_bytes(packet)
        code = main(["run", path, "--section", entry["section"], "--function",
                     entry["function"], "--packet", str(f), "--checked"])
        out = capsys.readouterr().out
        assert code == 0, f"{name}: {out}"
