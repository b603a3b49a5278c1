"""Invariant soundness on concrete runs (verifier.difftest): corpus programs stay inside their
invariants, and the monitor does catch states outside a (deliberately wrong) invariant."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from cfg.asm import assemble
from cfg.elf import load_programs
from cfg.program import Program
from domains.bounds import Interval
from runtime import context as C
from verifier import types as T
from verifier.analyze import Options, analyze
from verifier.difftest import Input, Monitor, monitor_program
from verifier.inputs import context_for, inputs, packet_of_length, packets

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
ENTRIES = [e for e in yaml.safe_load((CORPUS / "manifest.yaml").read_text())["programs"]
           if e.get("platform", "linux") == "linux"]
SAFE = [e for e in ENTRIES if e["verdict"] == "accept"]
UNSAFE = [e for e in ENTRIES if e["verdict"] == "reject"]


def _program(entry):
    return load_programs(str(CORPUS / entry["object"]), entry.get("section"),
                         entry.get("function"))[0]


def _ctx_size(program) -> int:
    from verifier.platform import get_platform
    return get_platform("linux").program_type_for(program.type, program.section).context.size


@pytest.mark.parametrize("entry", [e for e in SAFE if "long_jump" not in e["object"]
                                   and "big_stack" not in e["object"]],
                         ids=lambda e: f"{e['object']}:{e['function']}")
def test_corpus_runs_stay_inside_invariants(entry):
    program = _program(entry)
    report = analyze(program, Options(termination=True))
    mon = Monitor(report)

    @settings(max_examples=6, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(inputs(program, program.type, _ctx_size(program)))
    def run(inp):
        mon.run(inp)

    run()
    assert mon.stats.instructions > 0 and mon.stats.checked_states > 0
    assert not mon.escapes, "\n".join(map(str, mon.escapes))


@pytest.mark.slow
@pytest.mark.parametrize("entry", SAFE, ids=lambda e: f"{e['object']}:{e['function']}")
def test_corpus_every_packet_length(entry):
    program = _program(entry)
    size = _ctx_size(program)
    mon = monitor_program(program, (Input(context_for(program.type, packet_of_length(n), size))
                                    for n in range(0, 1501, 1 if len(program.insns) < 60 else 13)))
    assert not mon.escapes, "\n".join(map(str, mon.escapes[:5]))


def test_length_sweep_of_a_parser():
    program = _program(next(e for e in SAFE if e["object"].endswith("xdp_eth_drop.o")))
    mon = monitor_program(program, (Input(C.xdp(packet_of_length(n))) for n in range(0, 80)))
    assert mon.stats.runs == 80
    assert not mon.escapes


# ---- the monitor finds what is wrong -------------------------------------------------------------
def _asm_program(text: str, ptype: str = "xdp") -> Program:
    return Program(assemble(text), name="t", section=ptype, type=ptype)


def _tampered(report, pc: int, change):
    mon = Monitor(report)
    base = mon.state

    def state(p):
        st = base(p)
        if p == pc:
            st = st.copy()
            change(st)
        return st
    mon.state = state
    return mon


def test_value_escape_is_reported():
    report = analyze(_asm_program("r2 = 5\nr0 = 0\nexit"))
    assert report.ok
    mon = _tampered(report, 1, lambda st: st.num.set_interval("r2.svalue", Interval(0, 4)))
    esc = mon.run(Input(C.xdp(b"")))
    assert [(e.pc, e.what, e.variable, e.value) for e in esc] == [(1, "value", "r2.svalue", 5)]


def test_relation_escape_is_reported():
    from domains.linear import LinearExpression as E
    from domains.linear import le
    report = analyze(_asm_program("r2 = 5\nr3 = 7\nr0 = 0\nexit"))

    def change(st):
        st.num.forget(["r2.svalue", "r3.svalue"])
        st.num.add_constraint(le(E.var("r3.svalue") - E.var("r2.svalue"), 1))
    esc = _tampered(report, 2, change).run(Input(C.xdp(b"")))
    assert [e.what for e in esc] == ["relation"]


def test_type_escape_is_reported():
    report = analyze(_asm_program("r2 = r10\nr0 = 0\nexit"))
    mon = _tampered(report, 1, lambda st: st.types.__setitem__("r2", T.CTX))
    esc = mon.run(Input(C.xdp(b"abc")))
    assert [(e.what, e.variable) for e in esc] == [("type", "r2.type")]


def test_uninitialised_register_escape_is_reported():
    report = analyze(_asm_program("r0 = 0\nexit"))
    mon = _tampered(report, 1, lambda st: st.set_const("r4", 0))
    esc = mon.run(Input(C.xdp(b"")))
    assert [(e.what, e.variable) for e in esc] == [("uninit", "r4.type")]


def test_stack_initialisation_escape_is_reported():
    report = analyze(_asm_program("*(u32 *)(r10 - 4) = 1\nr0 = 0\nexit"))
    assert report.ok
    mon = _tampered(report, 1, lambda st: st.stack.write(4096 - 16, 4096 - 8))
    esc = mon.run(Input(C.xdp(b"")))
    assert [e.what for e in esc] == ["stack-init"]
    clean = Monitor(report).run(Input(C.xdp(b"")))   # the bytes written are fine
    assert clean == []


def test_packet_offsets_and_size_are_concretised():
    text = ("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 14\n"
            "if r4 > r3 goto +1\nr0 = *(u8 *)(r2 + 13)\nr0 = 2\nexit")
    report = analyze(_asm_program(text))
    assert report.ok
    # claim the packet is always shorter than 20 bytes: a 30-byte packet escapes
    mon = _tampered(report, 5, lambda st: st.num.set_interval("packet_size", Interval(0, 19)))
    assert mon.run(Input(C.xdp(bytes(10)))) == []
    esc = mon.run(Input(C.xdp(bytes(30))))
    assert [(e.variable, e.value) for e in esc] == [("packet_size", 30)]


def test_a_trap_of_an_accepted_program_is_an_escape():
    program = _program(next(e for e in UNSAFE if e["object"].endswith("bad_xdp_no_bounds.o")))
    report = analyze(program)
    esc = Monitor(report).run(Input(C.xdp(b"")))
    assert [e.what for e in esc] == ["trap"]


# ---- the input strategies ---------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(packets())
def test_packets_have_lengths_up_to_1500(pkt):
    assert 0 <= len(pkt) <= 1500


@pytest.mark.parametrize("n", [0, 1, 14, 54, 55, 1500])
def test_packet_of_length(n):
    assert len(packet_of_length(n)) == n
    assert packet_of_length(n) == packet_of_length(n)
