"""The native and portable JITs against the interpreter: same r0, memory, errors and maps on
every `.data` test, on the corpus programs, and on random straight-line and looping programs."""
from __future__ import annotations

import pathlib
import platform
import re

import pytest
from hypothesis import given, settings, strategies as st

from cfg import isa
from cfg.datafile import read_data_file
from cfg.program import Program
from runtime import vm
from runtime.jit.python import PyJitMachine

DATA = sorted((pathlib.Path(__file__).resolve().parents[1] / "data").glob("*.data"))
NATIVE = platform.machine() == "x86_64" and platform.system() == "Linux"
ENGINES = [PyJitMachine]
if NATIVE:
    from runtime.jit.native import NativeMachine
    ENGINES.append(NativeMachine)


def _without_addresses(text: str | None) -> str | None:
    """Error messages name host addresses, which differ between machines."""
    return None if text is None else re.sub(r"0x[0-9a-f]+", "ADDR", text)


# what the native engines trap on as the interpreter does (vm.TRAPS); other errors are faults
# the uninstrumented native code does not check
_RUN_TIME_TRAP = re.compile(r"pc \d+: (%s)$" % "|".join(
    re.escape(t).replace(r"\{0\}", "-?\\d+").replace(r"\{1\}", "\\d+") for t in vm.TRAPS))


def _outcome(result: vm.Result) -> tuple:
    return (None if result.error else result.r0, _without_addresses(result.error), result.mem)


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.__name__)
@pytest.mark.parametrize("path", DATA, ids=[p.stem for p in DATA])
def test_data_suite_matches_the_interpreter(engine, path):
    test = read_data_file(path)
    program = Program(test.insns, maps=test.maps)
    expected = vm.run(program, mem=test.mem or None)
    if engine is not PyJitMachine and expected.error and not _RUN_TIME_TRAP.match(expected.error):
        pytest.skip("the native JIT runs verified programs only; this one faults")
    got = engine(program).run(vm.make_context(mem=test.mem or None))
    assert _outcome(got) == _outcome(expected)


# --- random programs --------------------------------------------------------------------------
ALU_OPS = [code for code in isa.ALU_OP_NAMES]


@st.composite
def alu_program(draw):
    """Random ALU/jump programs over r0-r5 that always terminate (forward jumps, one counted
    loop), covering both widths, both source forms and the signed division forms."""
    insns = [isa.lddw(r, draw(st.integers(0, (1 << 64) - 1))) for r in range(6)]
    body = []
    for _ in range(draw(st.integers(1, 25))):
        cls = draw(st.sampled_from([isa.CLS_ALU, isa.CLS_ALU64]))
        code = draw(st.sampled_from(ALU_OPS))
        dst, src = draw(st.integers(0, 5)), draw(st.integers(0, 5))
        variant = 1 if code in (isa.ALU_DIV, isa.ALU_MOD) and draw(st.booleans()) else 0
        if draw(st.booleans()):
            body.append(isa.Insn(cls | isa.SRC_X | code, dst, src, variant, 0))
        else:
            imm = draw(st.integers(-(1 << 31), (1 << 31) - 1))
            if code in (isa.ALU_LSH, isa.ALU_RSH, isa.ALU_ARSH):
                imm &= 31 if cls == isa.CLS_ALU else 63
            body.append(isa.Insn(cls | code, dst, 0, variant, imm))
        if draw(st.integers(0, 4)) == 0:  # a forward conditional jump over the next insn
            jcls = draw(st.sampled_from([isa.CLS_JMP, isa.CLS_JMP32]))
            jop = draw(st.sampled_from(list(isa.JMP_OP_NAMES)))
            body.append(isa.Insn(jcls | isa.SRC_X | jop, draw(st.integers(0, 5)),
                                 draw(st.integers(0, 5)), 1, 0))
            body.append(isa.Insn(isa.CLS_ALU64 | isa.ALU_ADD, 0, 0, 0, 1))
    # wrap the body in a loop counted by r9
    loop = [isa.Insn(isa.CLS_ALU64 | isa.ALU_MOV, 9, 0, 0, draw(st.integers(1, 4)))]
    back = -(len(body) + 2)
    tail = [isa.Insn(isa.CLS_ALU64 | isa.ALU_SUB, 9, 0, 0, 1),
            isa.Insn(isa.CLS_JMP | isa.JMP_JNE, 9, 0, back, 0),
            isa.Insn(isa.CLS_ALU64 | isa.SRC_X | isa.ALU_XOR, 0, 1, 0, 0),
            isa.Insn(isa.CLS_JMP | isa.JMP_EXIT)]
    return Program(insns + loop + body + tail)


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.__name__)
@settings(max_examples=60, deadline=None)
@given(program=alu_program())
def test_random_alu_programs_match_the_interpreter(engine, program):
    expected = vm.run(program)
    assert expected.error is None
    assert engine(program).run(vm.make_context()).r0 == expected.r0


@pytest.mark.parametrize("dialect", ["cpython", "numba"])
@settings(max_examples=8, deadline=None)
@given(program=alu_program())
def test_random_alu_programs_match_the_interpreter_in_each_pyjit_dialect(dialect, program):
    from runtime.jit import numba_support
    if dialect == "numba" and not numba_support.available()[0]:
        pytest.skip(numba_support.available()[1])
    expected = vm.run(program)
    got = PyJitMachine(program, dialect=dialect).run(vm.make_context())
    assert (got.r0, got.error, got.steps) == (expected.r0, expected.error, expected.steps)
