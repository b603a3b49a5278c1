"""Immediate forms of the native JIT against the interpreter.

The translation picks shorter code by the immediate's value: `test r, r` for a compare with 0,
`test r8, imm8` / `test r32, imm32` for jset masks, `and r32, imm` for a non-negative mask,
`xor r32, r32` for a move of 0, `mov r32, imm32` for values that zero-extend. Random programs
over edge values of registers and immediates check each choice against the interpreter.
"""
import platform

import pytest
from hypothesis import given, settings, strategies as st

from cfg import isa
from cfg.isa import Insn, lddw
from cfg.program import Program
from runtime import vm

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 host only")

M64 = (1 << 64) - 1
IMM_EDGES = [0, 1, -1, 0x7F, 0x80, 0xFF, 0x100, -0x80, -0x81, 0x7FFFFFFF, -0x80000000,
             0xFFFF, 0x8000]
VALUE_EDGES = [0, 1, M64, 1 << 63, (1 << 63) - 1, 0x80, 0xFF, 0x100, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFF, 1 << 32, 0xFFFFFFFF80000000, 0xFFFFFFFFFFFFFF80]
imms = st.one_of(st.sampled_from(IMM_EDGES), st.integers(-(1 << 31), (1 << 31) - 1))
values = st.one_of(st.sampled_from(VALUE_EDGES), st.integers(0, M64))
regs = st.integers(1, 5)     # r0 collects which branches were taken
ALU_IMM_OPS = [isa.ALU_ADD, isa.ALU_SUB, isa.ALU_OR, isa.ALU_AND, isa.ALU_XOR, isa.ALU_MOV,
               isa.ALU_MUL]


@st.composite
def imm_program(draw):
    insns = [lddw(0, 0)] + [lddw(r, draw(values)) for r in range(1, 6)]
    for k in range(draw(st.integers(1, 30))):
        if draw(st.booleans()):
            cls = draw(st.sampled_from([isa.CLS_JMP, isa.CLS_JMP32]))
            op = draw(st.sampled_from(list(isa.JMP_OP_NAMES)))
            insns += [Insn(cls | op, draw(regs), 0, 1, draw(imms)),
                      Insn(isa.CLS_ALU64 | isa.ALU_ADD, 0, 0, 0, 1 << (k % 31))]
        else:
            cls = draw(st.sampled_from([isa.CLS_ALU, isa.CLS_ALU64]))
            insns.append(Insn(cls | draw(st.sampled_from(ALU_IMM_OPS)), draw(regs), 0, 0,
                              draw(imms)))
    for r in range(1, 6):   # fold every register into r0
        insns.append(Insn(isa.CLS_ALU64 | isa.SRC_X | isa.ALU_XOR, 0, r, 0, 0))
        insns.append(Insn(isa.CLS_ALU64 | isa.ALU_MUL, 0, 0, 0, 0x1003F))
    return insns + [Insn(0x95)]


@settings(max_examples=300, deadline=None)
@given(imm_program())
def test_immediate_forms_match_the_interpreter(insns):
    from runtime.jit.native import NativeMachine

    program = Program(insns)
    want = vm.run(program)
    got = vm.run(program, engine=NativeMachine)
    assert (got.r0, got.error) == (want.r0, want.error)


def test_lddw_of_zero_and_of_values_that_zero_extend():
    from runtime.jit.native import NativeMachine

    for value in (0, 0xFFFFFFFF, 0x80000000, 1 << 32, M64, 0xFFFFFFFF80000000):
        program = Program([lddw(0, M64), lddw(0, value), Insn(0x95)])
        assert vm.run(program, engine=NativeMachine).r0 == value


@pytest.mark.parametrize("cls", [isa.CLS_JMP, isa.CLS_JMP32], ids=["64", "32"])
@pytest.mark.parametrize("op", list(isa.JMP_OP_NAMES), ids=list(isa.JMP_OP_NAMES.values()))
def test_every_jump_on_edge_immediates_and_values(cls, op):
    from runtime.jit.native import NativeMachine

    for imm in IMM_EDGES:
        insns = [Insn(0xB7, 0, 0, 0, 0)]
        for value in VALUE_EDGES:   # r0 = r0 * 3 + (branch not taken)
            insns += [lddw(1, value), Insn(isa.CLS_ALU64 | isa.ALU_MUL, 0, 0, 0, 3),
                      Insn(cls | op, 1, 0, 1, imm), Insn(isa.CLS_ALU64 | isa.ALU_ADD, 0, 0, 0, 1)]
        program = Program(insns + [Insn(0x95)])
        assert vm.run(program, engine=NativeMachine).r0 == vm.run(program).r0, imm
