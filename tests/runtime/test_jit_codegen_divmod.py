"""Division and modulo on the native JIT against the interpreter, at every edge.

By an immediate the JIT decides the divide-by-zero and INT_MIN / -1 cases at translation time
(no check for a nonzero immediate, no division at all for 0 and a signed -1), by a register it
checks at run time; both must give the interpreter's result (RFC 9669) for every edge divisor
and dividend, in 32 and 64 bits, signed and unsigned, whichever eBPF registers hold the operands
(r0 and r3 live in rax and rdx, which div/idiv use), and leave every other register alone.
"""
import platform
import struct

import pytest

from cfg.isa import ALU_DIV, ALU_MOD, CLS_ALU, CLS_ALU64, SRC_X, Insn, lddw
from cfg.program import Program
from runtime import vm

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 host only")

M64 = (1 << 64) - 1
IMMEDIATES = [0, 1, -1, 2, -2, 3, -3, 7, 255, 0x10000, 0x7FFFFFFF, -0x80000000]
DIVIDENDS = [0, 1, M64, 1 << 63, (1 << 63) - 1, 0x80000000, 0xFFFFFFFF, 0x7FFFFFFF,
             0xFFFFFFFF80000000, 0x1_0000_0007, 100, (-100) & M64, 0xDEADBEEFCAFEF00D]
LDXDW, STXDW = 0x79, 0x7B
OPS = [("div", ALU_DIV, 0), ("mod", ALU_MOD, 0), ("sdiv", ALU_DIV, 1), ("smod", ALU_MOD, 1)]
OTHER_REGS = [0, 2, 3, 4, 5, 6, 7, 8, 9]   # r1 points at the memory


def divisions(code: int, variant: int, wide: bool, dst: int, divisor) -> Program:
    """For each dividend in memory: dst = dividend; dst op= divisor; store dst. Then store
    every register, so that a clobbered one shows. `divisor` is ("imm", value) or
    ("reg", register, value)."""
    cls = CLS_ALU64 if wide else CLS_ALU
    insns = [lddw(r, 0x1111111111111111 * (r + 1)) for r in OTHER_REGS]
    for i in range(len(DIVIDENDS)):
        insns.append(Insn(LDXDW, dst, 1, 8 * i, 0))
        if divisor[0] == "imm":
            insns.append(Insn(cls | code, dst, 0, variant, divisor[1]))
        else:
            src, value = divisor[1], divisor[2]
            if src != dst:
                insns.append(lddw(src, value))
            insns.append(Insn(cls | SRC_X | code, dst, src, variant, 0))
        insns.append(Insn(STXDW, 1, dst, 8 * i, 0))
    base = 8 * len(DIVIDENDS)
    insns += [Insn(STXDW, 1, r, base + 8 * k, 0) for k, r in enumerate(OTHER_REGS)]
    insns += [Insn(0xB7, 0, 0, 0, 0), Insn(0x95)]
    return Program(insns)


def check(program: Program) -> None:
    from runtime.jit.native import NativeMachine

    mem = struct.pack(f"<{len(DIVIDENDS)}Q", *DIVIDENDS) + bytes(8 * len(OTHER_REGS))
    want = vm.run(program, mem=mem)
    got = vm.run(program, mem=mem, engine=NativeMachine)
    assert want.error is None and got.error is None, (want.error, got.error)
    if got.mem != want.mem:
        n = len(DIVIDENDS)
        ours, theirs = struct.unpack(f"<{len(mem) // 8}Q", got.mem), \
            struct.unpack(f"<{len(mem) // 8}Q", want.mem)
        bad = [(f"dividend {DIVIDENDS[i]:#x}" if i < n else f"r{OTHER_REGS[i - n]}",
                f"jit {ours[i]:#x}", f"interp {theirs[i]:#x}")
               for i in range(len(ours)) if ours[i] != theirs[i]]
        pytest.fail(f"{bad}")


@pytest.mark.parametrize("wide", [True, False], ids=["64", "32"])
@pytest.mark.parametrize("name,code,variant", OPS, ids=[op[0] for op in OPS])
@pytest.mark.parametrize("dst", [0, 3, 2, 9], ids=lambda r: f"r{r}")
def test_division_by_every_edge_immediate(name, code, variant, wide, dst):
    for imm in IMMEDIATES:
        check(divisions(code, variant, wide, dst, ("imm", imm)))


@pytest.mark.parametrize("wide", [True, False], ids=["64", "32"])
@pytest.mark.parametrize("name,code,variant", OPS, ids=[op[0] for op in OPS])
@pytest.mark.parametrize("dst,src", [(0, 3), (3, 0), (2, 4), (9, 0), (0, 0), (3, 3), (5, 2)],
                         ids=lambda r: f"r{r}")
def test_division_by_every_edge_register_value(name, code, variant, wide, dst, src):
    values = [v & M64 for v in IMMEDIATES] + [1 << 63, M64 - 1, 0xFFFFFFFF, 1 << 32]
    for value in values:
        check(divisions(code, variant, wide, dst, ("reg", src, value)))
