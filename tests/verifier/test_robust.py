"""The verifier never crashes: any valid instruction sequence gives a Report or a
BpfcheckError (bad control flow), whatever the domain, program type and options."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfg.errors import BpfcheckError
from cfg.isa import _IMM_VARIANT, _OFF_VARIANT, _SRC_VARIANT, SPECS, Insn, check
from cfg.program import MapDef, Program
from verifier.analyze import Options, analyze

KEYS = sorted(SPECS)
MAPS = (MapDef("a", 2, 4, 8, 1), MapDef("h", 1, 4, 8, 8), MapDef("p", 3, 4, 4, 4))


@st.composite
def insn(draw):
    op, var = draw(st.sampled_from(KEYS))
    kind = SPECS[(op, var)].kind
    f = dict(opcode=op, dst=draw(st.integers(0, 10)), src=draw(st.integers(0, 10)),
             off=draw(st.sampled_from([0, 1, -1, 2, -8, 8, -16, -512, 100])),
             imm=draw(st.sampled_from([0, 1, -1, 2, 7, 12, 32, 64, 255, -4096, 1 << 20])))
    if op in _OFF_VARIANT:
        f["off"] = var
    elif op in _IMM_VARIANT:
        f["imm"] = var
    elif op in _SRC_VARIANT:
        f["src"] = var
    if kind == "lddw":
        f["src"], f["off"] = draw(st.integers(0, 6)), 0
    if kind == "call" and var == 0:
        f["imm"] = draw(st.sampled_from([1, 2, 3, 5, 6, 7, 12, 16, 26, 44, 113, 131, 132, 999]))
    i = Insn(**f)
    try:
        check(i)
    except BpfcheckError:
        return Insn(0xB7, 0, 0, 0, 0)  # r0 = 0
    return i


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(insn(), min_size=1, max_size=12), st.sampled_from(["zone", "interval"]),
       st.sampled_from(["xdp", "socket_filter", "kprobe", "sched_cls"]), st.booleans())
def test_any_program_gives_a_report_or_a_clear_error(insns, domain, ptype, termination):
    prog = Program(list(insns) + [Insn(0x95)], type=ptype, maps=MAPS)
    try:
        rep = analyze(prog, Options(termination=termination), domain=domain)
    except BpfcheckError:
        return
    assert rep.ok == (not rep.errors)
    for e in rep.errors:
        assert e.kind and e.message and e.code.startswith("BPF")
