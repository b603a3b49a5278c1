"""`verifier.analyze` (Report, invariants, domains, options) and the `verify` / `yaml` CLIs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import verifier
from cfg.asm import assemble
from cfg.program import Program
from domains.interval import IntervalDomain
from verifier.analyze import Options, analyze
from verifier.constraints import entails, parse
from verifier.cli import main

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "build"
PARSER = """
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
r0 = 1
if r4 > r3 goto out
r0 = *(u16 *)(r2 + 12)
out:
exit
"""


def _prog(text: str, type: str = "xdp") -> Program:
    return Program(assemble(text), type=type)


def test_package_exports_analyze():
    rep = verifier.analyze(_prog("r0 = 0\nexit"))
    assert rep.ok and isinstance(rep, verifier.Report)
    assert verifier.Options().termination is False


def test_packet_parser_is_proven_and_the_invariant_explains_why():
    rep = analyze(_prog(PARSER))
    assert rep.ok, rep.errors
    inv = rep.invariant_at(6)
    assert "r2.type=packet" in inv and "packet_size=r3.packet_offset" in inv
    assert "packet_size=[14, 65535]" in inv
    st = rep.state_at(6)
    assert entails(st, parse("r4.packet_offset-r2.packet_offset=14"))
    assert rep.invariant_at(3) is not None and rep.invariant_at(1000) is None
    assert rep.stats["instructions"] == 8 and rep.stats["iterations"] >= 3
    assert set(rep.invariants) == set(rep.block_states())


LOOP_AND_CALL = """
r6 = 0
loop:
r1 = r6
call f
r6 += 1
if r6 < 4 goto loop
r0 = r6
exit
f:
r0 = r1
r0 += 2
exit
"""


@pytest.mark.parametrize("text, termination", [(PARSER, False), (LOOP_AND_CALL, True)])
def test_pc_states_are_state_at_for_every_pc(text, termination):
    rep = analyze(_prog(text), Options(termination=termination))
    states = rep.pc_states()
    assert set(states) == set(rep.program.pcs)
    for pc, st in states.items():
        assert str(st) == str(rep.state_at(pc)), pc


def test_error_names_pc_kind_and_the_failed_facts():
    rep = analyze(_prog(PARSER.replace("r4 += 14", "r4 += 13")))
    [err] = rep.errors
    assert (err.pc, err.kind, err.code) == (6, "packet-bounds", "BPF001")
    assert "`r2.packet_offset + 14 <= packet_size` not proven" in err.detail
    assert "`packet_size` in [13, 65535]" in err.detail and "`r2.packet_offset` = 0" in err.detail


def test_interval_domain_by_name_and_by_class():
    text = "r1 = 0\nL:\nr1 += 1\nif r1 < 10 goto L\nr0 = 0\nexit"
    for dom in ("interval", IntervalDomain):
        rep = analyze(_prog(text), domain=dom)
        assert rep.ok
    assert analyze(_prog(text), termination=True).ok             # zone relates counter and r1
    assert not analyze(_prog(text), domain="interval", termination=True).ok


def test_unknown_domain_is_a_clear_error():
    from cfg.errors import BpfcheckError
    with pytest.raises(BpfcheckError):
        analyze(_prog("r0 = 0\nexit"), domain="octagon-nope")


def test_division_by_zero_option():
    text = "call 7\nr1 = 10\nr1 /= r0\nr0 = 0\nexit"
    assert analyze(_prog(text)).ok
    rep = analyze(_prog(text), Options(allow_division_by_zero=False))
    assert [e.kind for e in rep.errors] == ["division-by-zero"]


def test_verify_cli_exit_codes_and_json(capsys):
    good, bad = CORPUS / "xdp_eth_drop.o", CORPUS / "bad_xdp_off_by_one.o"
    assert main(["verify", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS")
    assert main(["verify", str(good), str(bad), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    results = data["results"]
    assert [r["ok"] for r in results] == [True, False]
    err = results[1]["errors"][0]
    assert err["kind"] == "packet-bounds" and "bad_xdp_off_by_one.c:18" in err["source"]
    assert {"instructions", "time_ms"} <= set(results[1]["stats"])


def test_verify_cli_text_shows_the_c_line(capsys):
    assert main(["verify", str(CORPUS / "bad_map_null_deref.o")]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "[null-deref]" in out and "bad_map_null_deref.c:18" in out
    assert "*count += 1;" in out


def test_verify_cli_verbose_prints_invariants(capsys):
    assert main(["verify", "-v", str(CORPUS / "xdp_eth_drop.o")]) == 0
    assert "r1.type=ctx" in capsys.readouterr().out


def test_verify_cli_bad_input_exit_2(tmp_path, capsys):
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"not an elf")
    assert main(["verify", str(junk)]) == 2
    assert "bpfcheck: error:" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "missing.o")]) == 2


def test_yaml_cli_json(tmp_path, capsys):
    case = tmp_path / "t.yaml"
    case.write_text("---\ntest-case: one\ncode:\n  <start>: |\n    r0 = 1\n    exit\n"
                    "post: [\"r0.svalue=1\"]\n---\ntest-case: two\ncode:\n  <start>: |\n"
                    "    exit\n")
    assert main(["yaml", str(case), "--format", "json"]) == 1
    cases = json.loads(capsys.readouterr().out)["cases"]
    assert [c["passed"] for c in cases] == [True, False]
    assert "r0.svalue=1" in cases[0]["post"]
    assert cases[1]["errors"][0]["pc"] == 0 and "no error" not in cases[1]["reason"]


def test_yaml_bad_file_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("test-case: [unclosed\n")
    assert main(["yaml", str(bad)]) == 2


def test_yaml_case_with_bad_control_flow_fails_alone(tmp_path, capsys):
    case = tmp_path / "t.yaml"
    case.write_text("---\ntest-case: jumps out\ncode:\n  <start>: |\n    r0 = 0\n"
                    "    goto +7\n    exit\n---\ntest-case: fine\ncode:\n"
                    "  <start>: |\n    r0 = 0\n    exit\n")
    assert main(["yaml", str(case), "--format", "json"]) == 1
    cases = json.loads(capsys.readouterr().out)["cases"]
    assert [c["passed"] for c in cases] == [False, True]
