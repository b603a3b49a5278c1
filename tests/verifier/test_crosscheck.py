"""z3 cross-checks (verifier.crosscheck): every unsafe corpus program gets a witness that the
interpreter replays to the violation, safe accesses get none, invariants hold on every path,
and the CLI (`bpfcheck crosscheck`, `bpfcheck verify --explain`) prints them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from cfg.asm import assemble
from cfg.elf import load_programs
from cfg.program import Program
from domains.bounds import Interval
from verifier.analyze import Error, Options, analyze
from verifier.crosscheck import (check_invariants, explain, find_witness, memory_witnesses,
                                 replay, run_command, write_witness)

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
ENTRIES = [e for e in yaml.safe_load((CORPUS / "manifest.yaml").read_text())["programs"]
           if e.get("platform", "linux") == "linux"]
SAFE = [e for e in ENTRIES if e["verdict"] == "accept"]
UNSAFE = [e for e in ENTRIES if e["verdict"] == "reject"]


def _program(entry):
    return load_programs(str(CORPUS / entry["object"]), entry.get("section"),
                         entry.get("function"))[0]


@pytest.mark.parametrize("entry", UNSAFE, ids=lambda e: e["object"])
def test_every_unsafe_corpus_program_has_a_replayed_witness(entry):
    report = analyze(_program(entry), Options(termination=True))
    out = explain(report)
    assert out, "no error to explain"
    for x in out:
        assert x.witness is not None, f"{x.error}: no witness"
        assert x.confirmed, f"{x.error}: {x.observation}"
        assert x.witness.pc == x.error.pc and x.witness.trace[-1] == x.error.pc
    listed = {(x.error.kind) for x in out}
    assert entry["kind"] in listed


@pytest.mark.parametrize("entry", [e for e in SAFE if "long_jump" not in e["object"]
                                   and "big_stack" not in e["object"]],
                         ids=lambda e: f"{e['object']}:{e['function']}")
def test_safe_programs_get_no_witness(entry):
    """No memory access of a safe program faults on any path (loops unrolled twice)."""
    report = analyze(_program(entry), Options(termination=True))
    assert report.ok
    found, _complete = memory_witnesses(report, max_paths=150)
    assert found == [], [w.describe() for w in found]


@pytest.mark.parametrize("name", ["bad_xdp_off_by_one.o", "bad_map_null_deref.o",
                                  "bad_stack_var_offset.o"])
def test_unsafe_programs_get_memory_witnesses(name):
    entry = next(e for e in UNSAFE if e["object"].endswith(name))
    report = analyze(_program(entry))
    found, _ = memory_witnesses(report)
    assert {w.pc for w in found} >= {e.pc for e in report.errors}


def test_a_false_alarm_gets_no_witness():
    """An assertion that holds (a checked packet read) has no witness: "may be a false
    positive" is what --explain says then."""
    text = ("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 14\n"
            "if r4 > r3 goto +1\nr0 = *(u8 *)(r2 + 13)\nr0 = 2\nexit")
    program = Program(assemble(text), name="t", section="xdp", type="xdp")
    report = analyze(program)
    w, cut = find_witness(report, Error(5, "packet-bounds", "probe"))
    assert w is None and not cut
    w, _ = find_witness(report, Error(5, "packet-bounds", "probe"))
    # the same read one byte further is a real bug: a 14-byte packet shows it
    bad = Program(assemble(text.replace("r2 + 13", "r2 + 14")), name="t", section="xdp",
                  type="xdp")
    rep = analyze(bad)
    assert [e.kind for e in rep.errors] == ["packet-bounds"]
    (x,) = explain(rep)
    assert x.confirmed and len(x.witness.packet) == 14, x.witness.describe()


def test_witness_files_replay_with_bpfcheck_run(tmp_path, capsys):
    from verifier.cli import main
    entry = next(e for e in UNSAFE if e["object"].endswith("bad_xdp_off_by_one.o"))
    program = _program(entry)
    report = analyze(program)
    (x,) = explain(report)
    stem = str(tmp_path / "w")
    files = write_witness(x.witness, stem)
    assert files == [stem + ".packet"]
    cmd = run_command(program, x.witness, stem).split()
    assert cmd[:2] == ["bpfcheck", "run"] and "--checked" in cmd
    capsys.readouterr()
    assert main(cmd[1:]) == 1
    out = capsys.readouterr().out
    assert f"error: pc {x.error.pc}: invalid read" in out and "of packet" in out


def test_replay_rejects_an_input_that_does_not_violate():
    entry = next(e for e in UNSAFE if e["object"].endswith("bad_xdp_off_by_one.o"))
    program = _program(entry)
    (x,) = explain(analyze(program))
    from dataclasses import replace
    ok, seen = replay(program, replace(x.witness, packet=x.witness.packet + bytes(64)))
    assert not ok, seen


@pytest.mark.parametrize("entry", [e for e in SAFE if "long_jump" not in e["object"]
                                   and "big_stack" not in e["object"]
                                   and "v4_egress" not in e["object"]],
                         ids=lambda e: f"{e['object']}:{e['function']}")
def test_invariants_hold_on_every_path(entry):
    report = analyze(_program(entry), Options(termination=True))
    res = check_invariants(report, max_paths=200)
    assert res.states > 0
    assert res.violations == []


def test_invariant_check_finds_a_wrong_invariant(monkeypatch):
    text = ("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 14\n"
            "if r4 > r3 goto +2\nr0 = *(u8 *)(r2 + 13)\nr0 = 1\nr0 = 2\nexit")
    report = analyze(Program(assemble(text), name="t", section="xdp", type="xdp"))
    states = report.block_states()
    assert check_invariants(report).violations == []
    wrong = {pc: st.copy() for pc, st in states.items()}
    pc = max(p for p in wrong if p == 5)
    wrong[pc].num.set_interval("packet_size", Interval(14, 20))
    monkeypatch.setattr(type(report), "block_states", lambda self: wrong)
    res = check_invariants(report)
    assert any(v.startswith("pc 5: `packet_size <= 20`") for v in res.violations), res.violations


def test_crosscheck_cli_on_one_object(capsys):
    from verifier.cli import main
    code = main(["crosscheck", str(CORPUS / "build" / "xdp_eth_drop.o"),
                 str(CORPUS / "build" / "bad_xdp_off_by_one.o"), "--samples", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "soundness escapes: 0" in out and "alarms with a replayed witness: 1/1" in out
    assert "xdp_eth_drop" in out and "bad_xdp_off_by_one" in out


def test_crosscheck_cli_bad_input(tmp_path, capsys):
    from verifier.cli import main
    bad = tmp_path / "x.o"
    bad.write_bytes(b"not an elf")
    assert main(["crosscheck", str(bad)]) == 2
    assert "bpfcheck: error:" in capsys.readouterr().err


def test_verify_explain_prints_a_replayable_witness(tmp_path, capsys):
    from verifier.cli import main
    obj = str(CORPUS / "build" / "bad_map_null_deref.o")
    code = main(["verify", obj, "--no-cache", "--cache-dir", str(tmp_path / "c"), "--explain",
                 "--witness-dir", str(tmp_path / "w")])
    out = capsys.readouterr().out
    assert code == 1
    assert "explain 7: null-deref: confirmed" in out
    assert "lookup of key 00000000 returns NULL" in out
    replay = next(ln.split("replay: ", 1)[1] for ln in out.splitlines() if "replay: " in ln)
    assert main(replay.split()[1:]) == 1
    assert "error: pc 7: invalid read of 8 bytes at 0x0" in capsys.readouterr().out


def test_verify_explain_is_silent_for_safe_programs(tmp_path, capsys):
    from verifier.cli import main
    obj = str(CORPUS / "build" / "xdp_eth_drop.o")
    assert main(["verify", obj, "--no-cache", "--cache-dir", str(tmp_path / "c"),
                 "--explain"]) == 0
    assert "explain" not in capsys.readouterr().out
