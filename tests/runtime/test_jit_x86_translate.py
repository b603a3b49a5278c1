"""The native translation on hand-built programs whose results follow from RFC 9669."""
import platform

import pytest

from cfg.isa import (ALU_DIV, ALU_MOD, CLS_ALU, CLS_ALU64, SRC_X, Insn as I, lddw)
from cfg.program import Function, Program

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 host only")

M = (1 << 64) - 1


_STACK = None


def compile_(insns, functions=()):
    import ctypes

    from runtime.jit.x86_64 import JitLinks, compile_native

    global _STACK
    if _STACK is None:
        _STACK = (ctypes.c_uint64 * (8 * 512 // 8))()
    top = ctypes.addressof(_STACK) + ctypes.sizeof(_STACK)
    return compile_native(Program(insns, functions=functions),
                          JitLinks(helper=lambda i: 0, lddw=lambda i: 0, stack_top=top))


def run(insns, r1=0, r2=0, functions=()):
    return compile_(insns, functions)(r1, r2)


def binop(opcode_op, variant, a, b, wide=True):
    cls = CLS_ALU64 if wide else CLS_ALU
    return run([lddw(0, a), lddw(1, b), I(cls | SRC_X | opcode_op, 0, 1, variant, 0), I(0x95)])


def test_loop_sums():
    prog = [I(0xB7, 0, 0, 0, 0), I(0xB7, 1, 0, 0, 1), I(0x0F, 0, 1, 0, 0), I(0x07, 1, 0, 0, 1),
            I(0xA5, 1, 0, -3, 101), I(0x95)]
    assert run(prog) == 5050


@pytest.mark.parametrize("op,variant,a,b,wide,want", [
    (ALU_DIV, 0, 10, 0, True, 0),                    # x / 0 = 0
    (ALU_MOD, 0, 10, 0, True, 10),                   # x % 0 = x
    (ALU_DIV, 1, 1 << 63, M, True, 1 << 63),         # INT_MIN / -1 wraps
    (ALU_MOD, 1, 1 << 63, M, True, 0),               # INT_MIN % -1 = 0
    (ALU_DIV, 1, (-7) & M, 2, True, (-3) & M),       # signed division truncates
    (ALU_MOD, 1, (-7) & M, 2, True, (-1) & M),       # remainder takes the dividend's sign
    (ALU_DIV, 0, 0x1_0000_000A, 3, False, 3),        # 32-bit: upper half ignored
    (ALU_MOD, 0, 0xFFFF_FFFF_0000_000A, 0, False, 10),  # 32-bit x % 0 zero-extends x
    (ALU_DIV, 1, 0x8000_0000, 0xFFFF_FFFF, False, 0x8000_0000),
])
def test_division_semantics(op, variant, a, b, wide, want):
    assert binop(op, variant, a, b, wide) == want


def test_shift_by_register_that_lives_in_rcx():
    assert run([I(0xB7, 4, 0, 0, 3), I(0xB7, 0, 0, 0, 1), I(0x6F, 0, 4, 0, 0), I(0x95)]) == 8
    assert run([I(0xB7, 4, 0, 0, 3), I(0xB7, 2, 0, 0, 2), I(0x6F, 4, 2, 0, 0),
                I(0xBF, 0, 4, 0, 0), I(0x95)]) == 12


def test_atomics_on_the_stack():
    fetch_add = [I(0x7A, 10, 0, -8, 5), I(0xB7, 1, 0, 0, 7), I(0xDB, 10, 1, -8, 0x01),
                 I(0x79, 0, 10, -8, 0), I(0x0F, 0, 1, 0, 0), I(0x95)]
    assert run(fetch_add) == 12 + 5
    fetch_or = [I(0x7A, 10, 0, -8, 0b1100), I(0xB7, 1, 0, 0, 0b1010), I(0xDB, 10, 1, -8, 0x41),
                I(0x79, 0, 10, -8, 0), I(0x27, 0, 0, 0, 100), I(0x0F, 0, 1, 0, 0), I(0x95)]
    assert run(fetch_or) == 0b1110 * 100 + 0b1100


def test_local_call_preserves_callee_saved_registers():
    prog = [I(0xB7, 1, 0, 0, 5), I(0xB7, 6, 0, 0, 100), I(0x85, 0, 1, 0, 2),
            I(0x0F, 0, 6, 0, 0), I(0x95),
            I(0xBF, 0, 1, 0, 0), I(0x27, 0, 0, 0, 2), I(0xB7, 6, 0, 0, 1), I(0x95)]
    assert run(prog, functions=(Function("main", 0, 5), Function("f", 5, 9))) == 110


def test_byte_swaps_and_sign_extension():
    value = 0x1122334455667788
    assert run([lddw(0, value), I(0xDC, 0, 0, 0, 16), I(0x95)]) == 0x8877
    assert run([lddw(0, value), I(0xD7, 0, 0, 0, 64), I(0x95)]) == 0x8877665544332211
    assert run([lddw(0, 0x80), I(0xBF, 0, 0, 8, 0), I(0x95)]) == M - 0x7F
    assert run([lddw(0, 0x8000), I(0xBC, 0, 0, 16, 0), I(0x95)]) == 0xFFFF8000


def test_frames_are_512_bytes_apart_in_the_given_stack():
    # main stores 7 at r10-8, calls f which stores 9 at its own r10-8 and returns r10;
    # main returns (its r10 - f's r10): one frame of 512 bytes.
    prog = [I(0x7A, 10, 0, -8, 7),          # 0: *(u64 *)(r10 - 8) = 7
            I(0x85, 0, 1, 0, 4),            # 1: call pc 6
            I(0xBF, 1, 10, 0, 0),           # 2: r1 = r10
            I(0x1F, 1, 0, 0, 0),            # 3: r1 -= r0
            I(0xBF, 0, 1, 0, 0),            # 4: r0 = r1
            I(0x95),                        # 5: exit
            I(0x7A, 10, 0, -8, 9),          # 6: *(u64 *)(r10 - 8) = 9
            I(0xBF, 0, 10, 0, 0),           # 7: r0 = r10
            I(0x95)]                        # 8: exit
    assert run(prog, functions=(Function("main", 0, 6), Function("f", 6, 9))) == 512


def test_entry_receives_r1():
    assert run([I(0xBF, 0, 1, 0, 0), I(0x95)], r1=42) == 42


def test_each_function_returns_through_its_own_epilogue():
    # main calls f twice and g once; f exits in the middle and at its end, g calls f
    prog = [I(0xB7, 1, 0, 0, 3), I(0x85, 0, 1, 0, 7),          # 0, 1: call f(3)
            I(0xBF, 6, 0, 0, 0),                               # 2: r6 = r0
            I(0xB7, 1, 0, 0, 0), I(0x85, 0, 1, 0, 4),          # 3, 4: call f(0)
            I(0x0F, 6, 0, 0, 0), I(0x85, 0, 1, 0, 7),          # 5: r6 += r0, 6: call g
            I(0x0F, 0, 6, 0, 0), I(0x95),                      # 7, 8: r0 += r6; exit
            I(0xB7, 0, 0, 0, 100), I(0x15, 1, 0, 2, 0),        # f: 9, 10: if r1 == 0 -> 13
            I(0xB7, 0, 0, 0, 7), I(0x95),                      # 11, 12
            I(0x95),                                           # 13: r0 = 100
            I(0xB7, 1, 0, 0, 1), I(0x85, 0, 1, 0, -7),         # g: 14, 15: call f(1)
            I(0x07, 0, 0, 0, 1000), I(0x95)]                   # 16, 17
    functions = (Function("main", 0, 9), Function("f", 9, 14), Function("g", 14, 18))
    assert run(prog, functions=functions) == 7 + 100 + 1007


def test_jump_to_the_next_instruction_takes_no_code():
    plain = [I(0xB7, 0, 0, 0, 9), I(0x95)]
    assert run([I(0xB7, 0, 0, 0, 9), I(0x05, 0, 0, 0, 0), I(0x95)]) == 9
    assert compile_([plain[0], I(0x05, 0, 0, 0, 0), plain[1]]).code_size == \
        compile_(plain).code_size


def test_a_function_that_ends_without_exit_still_returns():
    # main's last instruction is a conditional jump back (always taken), so its epilogue
    # goes after all the code
    prog = [I(0xB7, 0, 0, 0, 0), I(0x25, 0, 0, 1, 4),     # 0, 1: if r0 > 4 goto 3
            I(0x05, 0, 0, 1, 0), I(0x95),                 # 2: goto 4, 3: exit
            I(0x07, 0, 0, 0, 1), I(0x35, 0, 0, -5, 0),    # 4: r0 += 1, 5: if r0 >= 0 goto 1
            I(0x95)]
    assert run(prog, functions=(Function("main", 0, 6), Function("rest", 6, 7))) == 5
