"""Branch relaxation in the native JIT: jumps whose native distance sits at the rel8 limit.

Each program puts B bytes of native padding under a jump (`add r0, 1` is `add rax, 1`, 4 bytes;
`mov r2, 0x12345` is `mov esi, imm32`, 5 bytes; the encoder tests check both against LLVM), for
every B across the limit. The code grows by one byte per byte of padding, plus the growth of
each jump from rel8 to rel32 exactly once, at the padding where its distance stops fitting; and
every program gives the interpreter's r0 on both sides of its branches.
"""
import platform

import pytest

from cfg.isa import Insn
from cfg.program import Program
from runtime import vm

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 host only")

ADD_R0_1 = Insn(0x07, 0, 0, 0, 1)          # add rax, 1: 4 bytes
MOV_R2 = Insn(0xB7, 2, 0, 0, 0x12345)      # mov esi, 0x12345: 5 bytes
LDXB_R3 = Insn(0x71, 3, 1, 0, 0)           # r3 = the flag byte in memory
EXIT = Insn(0x95)
JCC_GROWTH, JMP_GROWTH = 6 - 2, 5 - 2
SWEEP = range(110, 141)


def pad(nbytes: int) -> list[Insn]:
    fives = nbytes % 4                      # 5 * fives + 4 * fours == nbytes
    return [MOV_R2] * fives + [ADD_R0_1] * ((nbytes - 5 * fives) // 4)


def forward_jcc(b: int) -> list[Insn]:
    body = pad(b)
    return [LDXB_R3, Insn(0xB7, 0, 0, 0, 0), Insn(0x15, 3, 0, len(body), 0),  # jeq r3, 0
            *body, Insn(0x07, 0, 0, 0, 1000), EXIT]


def backward_jcc(b: int) -> list[Insn]:
    # loop: pad; sub r6, 1 (4 bytes); jne r6, 0, loop (test rbx, rbx: 3 bytes, then the jcc)
    body = pad(b) + [Insn(0x17, 6, 0, 0, 1)]
    return [LDXB_R3, Insn(0xB7, 0, 0, 0, 0), Insn(0xB7, 6, 0, 0, 3), *body,
            Insn(0x55, 6, 0, -(len(body) + 1), 0), EXIT]


def forward_ja(b: int) -> list[Insn]:
    body = pad(b)
    return [LDXB_R3, Insn(0xB7, 0, 0, 0, 0), Insn(0x55, 3, 0, 1, 0),   # jne r3, 0, +1
            Insn(0x05, 0, 0, len(body), 0), *body, Insn(0x07, 0, 0, 0, 1000), EXIT]


def backward_ja(b: int) -> list[Insn]:
    # loop: jeq r6, 0, out; pad; sub r6, 1; ja loop; out: exit  (both jumps span the padding)
    body = pad(b) + [Insn(0x17, 6, 0, 0, 1)]
    return [LDXB_R3, Insn(0xB7, 0, 0, 0, 0), Insn(0xB7, 6, 0, 0, 3),
            Insn(0x15, 6, 0, len(body) + 1, 0), *body, Insn(0x05, 0, 0, -(len(body) + 2), 0),
            EXIT]


# (program, the padding at which each jump is first long, and by how much it grows)
CASES = {
    "forward jcc": (forward_jcc, {128: JCC_GROWTH}),            # distance b
    "backward jcc": (backward_jcc, {120: JCC_GROWTH}),          # -(b + 4 + 3 + 2) >= -128
    "forward ja": (forward_ja, {128: JMP_GROWTH}),              # distance b
    # ja back over test rbx, rbx (3), the jeq (2), b, 4: -(3 + 2 + b + 4 + 2) >= -128 until
    # b = 117; the jeq then spans b + 4 + 5 bytes, <= 127 until b = 118
    "backward ja": (backward_ja, {118: JMP_GROWTH, 119: JCC_GROWTH}),
}


def native_size_and_results(insns: list[Insn]) -> tuple[int, list[int]]:
    from runtime.jit.native import NativeMachine

    program = Program(insns)
    machine = NativeMachine(program)
    try:
        size = machine.native.code_size
        results = []
        for flag in (0, 1):
            want = vm.run(program, mem=bytes([flag]))
            got = machine.run(vm.make_context(mem=bytes([flag])))
            assert (got.r0, got.error) == (want.r0, want.error), (flag, got, want)
            results.append(got.r0)
    finally:
        machine.close()
    return size, results


@pytest.mark.parametrize("name", sorted(CASES))
def test_jumps_across_the_rel8_limit(name):
    build, growth_at = CASES[name]
    sizes = {b: native_size_and_results(build(b))[0] for b in SWEEP}
    growth = {b: sizes[b] - sizes[b - 1] - 1 for b in SWEEP[1:] if sizes[b] - sizes[b - 1] != 1}
    assert growth == growth_at
