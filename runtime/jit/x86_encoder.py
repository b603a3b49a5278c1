"""A small x86-64 encoder: the instruction forms the eBPF JIT needs, nothing more.

Registers are numbered as in the ISA (rax=0 ... r15=15). Every form takes the shortest
encoding LLVM's assembler would pick for the same text (imm8 and accumulator forms, disp8 or no
displacement, `mov r32, imm32` when a value zero-extends), so the tests can check our bytes
against llvm-mc. Jumps and calls to labels are laid out at the end (`layout`): the fixed bytes
are kept apart from the jumps, every jump starts as short as it can be (an unconditional jump
to the very next byte takes no bytes at all, other jumps rel8) and grows to rel32 only when its
distance does not fit, until the sizes settle (they only grow, so this ends).
"""
from __future__ import annotations

import itertools
import struct

RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = range(8)
R8, R9, R10, R11, R12, R13, R14, R15 = range(8, 16)

# Condition codes (the low nibble of Jcc / SETcc / CMOVcc).
CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A = 0x2, 0x3, 0x4, 0x5, 0x6, 0x7
CC_L, CC_GE, CC_LE, CC_G = 0xC, 0xD, 0xE, 0xF

# ALU group-1 operation numbers (the /digit of 0x81 and the opcode base for reg forms).
OP_ADD, OP_OR, OP_AND, OP_SUB, OP_XOR, OP_CMP = 0, 1, 4, 5, 6, 7

# Jump kinds, and their sizes in bytes short / long.
JMP, JCC, CALL = 0, 1, 2
_LONG_SIZE = {JMP: 5, JCC: 6, CALL: 5}


def _fits8(value: int) -> bool:
    return -128 <= value <= 127


class Label:
    """A position in the code: bound once (`Assembler.bind`); `position` is its offset in the
    final code, known after `Assembler.layout`."""

    __slots__ = ("position", "_offset", "_jumps_before")

    def __init__(self) -> None:
        self.position: int | None = None
        self._offset: int | None = None    # in the fixed bytes
        self._jumps_before = 0              # jumps emitted before the label was bound

    def _final(self, shift: list[int]) -> int:
        if self._offset is None:
            raise ValueError("jump to a label that is never bound")
        return self._offset + shift[self._jumps_before]


class Assembler:
    """Appends machine code; see the module docstring for the conventions.

    `code` holds the fixed bytes only (jumps are recorded apart); `layout()` settles the jump
    sizes and label positions, `link(base)` returns the final code."""

    def __init__(self) -> None:
        self.code = bytearray()
        self._jump_at: list[int] = []       # offset of each jump in the fixed bytes
        self._jump_kind: list[int] = []
        self._jump_cc: list[int] = []
        self._jump_label: list[Label] = []
        self._jump_size: list[int] = []
        self._labels: list[Label] = []
        self._abs_fixups: list[tuple[int, int, Label]] = []  # imm64 slots for label addresses

    # --- raw encoding helpers ----------------------------------------------------------------
    def _rex(self, w: bool, reg: int, rm: int, force: bool = False, index: int = 0) -> None:
        rex = 0x40 | (8 if w else 0) | ((reg >> 3) << 2) | ((index >> 3) << 1) | (rm >> 3)
        if rex != 0x40 or force:
            self.code.append(rex)

    def _modrm_reg(self, reg: int, rm: int) -> None:
        self.code.append(0xC0 | ((reg & 7) << 3) | (rm & 7))

    def _modrm_mem(self, reg: int, base: int, disp: int) -> None:
        """[base + disp]: no displacement when it is 0 (except for rbp/r13 as base, whose
        mod=00 encoding means rip-relative), else disp8 when it fits, else disp32."""
        if disp == 0 and base & 7 != RBP:
            mod, tail = 0x00, b""
        elif _fits8(disp):
            mod, tail = 0x40, struct.pack("<b", disp)
        else:
            mod, tail = 0x80, struct.pack("<i", disp)
        self.code.append(mod | ((reg & 7) << 3) | (base & 7))
        if base & 7 == RSP:  # rsp/r12 as base needs a SIB byte
            self.code.append(0x24)
        self.code += tail

    def _imm32(self, value: int) -> None:
        self.code += struct.pack("<i", value)

    # --- register-register and register-immediate ALU -----------------------------------------
    def alu_rr(self, op: int, dst: int, src: int, w: bool = True) -> None:
        """dst op= src (add/or/and/sub/xor/cmp)."""
        self._rex(w, src, dst)
        self.code.append(op * 8 + 1)
        self._modrm_reg(src, dst)

    def alu_ri(self, op: int, dst: int, imm: int, w: bool = True) -> None:
        """dst op= imm32 (sign-extended to 64 bits for w): imm8 form when it fits, the
        accumulator form for rax."""
        self._rex(w, 0, dst)
        if _fits8(imm):
            self.code.append(0x83)
            self._modrm_reg(op, dst)
            self.code += struct.pack("<b", imm)
            return
        if dst == RAX:
            self.code.append(op * 8 + 5)
        else:
            self.code.append(0x81)
            self._modrm_reg(op, dst)
        self._imm32(imm)

    def test_rr(self, a: int, b: int, w: bool = True) -> None:
        self._rex(w, b, a)
        self.code.append(0x85)
        self._modrm_reg(b, a)

    def test_ri(self, a: int, imm: int, w: bool = True) -> None:
        """Flags of a & imm32 (sign-extended to 64 bits for w)."""
        self._rex(w, 0, a)
        if a == RAX:
            self.code.append(0xA9)
        else:
            self.code.append(0xF7)
            self._modrm_reg(0, a)
        self._imm32(imm)

    def test_ri8(self, a: int, imm: int) -> None:
        """Flags of (low byte of a) & imm8."""
        self._rex(False, 0, a, force=a in (RSP, RBP, RSI, RDI))
        if a == RAX:
            self.code.append(0xA8)
        else:
            self.code.append(0xF6)
            self._modrm_reg(0, a)
        self.code.append(imm & 0xFF)

    def mov_rr(self, dst: int, src: int, w: bool = True) -> None:
        self._rex(w, src, dst)
        self.code.append(0x89)
        self._modrm_reg(src, dst)

    def mov_ri(self, dst: int, imm: int, w: bool = True) -> None:
        """mov dst, imm (flags untouched), shortest first: `mov r32, imm32` (zero-extends; all
        of a 32-bit move, and a 64-bit one whose value is in [0, 2^32)), sign-extended imm32,
        imm64."""
        if not w or 0 <= imm <= 0xFFFFFFFF:
            self._rex(False, 0, dst)
            self.code.append(0xB8 + (dst & 7))
            self.code += struct.pack("<I", imm & 0xFFFFFFFF)
        elif -0x80000000 <= imm < 0:
            self._rex(True, 0, dst)
            self.code.append(0xC7)
            self._modrm_reg(0, dst)
            self._imm32(imm)
        else:
            self.mov_ri64(dst, imm)

    def zero(self, dst: int) -> None:
        """dst = 0 as `xor r32, r32` (clobbers the flags: not between a compare and its jump)."""
        self.alu_rr(OP_XOR, dst, dst, False)

    def mov_ri64(self, dst: int, imm: int) -> None:
        self._rex(True, 0, dst)
        self.code.append(0xB8 + (dst & 7))
        self.code += struct.pack("<Q", imm & 0xFFFFFFFFFFFFFFFF)

    def mov_label_address(self, dst: int, label: Label) -> None:
        """dst = absolute address of label (filled in by `link`)."""
        self.mov_ri64(dst, 0)
        self._abs_fixups.append((len(self.code) - 8, len(self._jump_at), label))

    def imul_rr(self, dst: int, src: int, w: bool = True) -> None:
        self._rex(w, dst, src)
        self.code += b"\x0f\xaf"
        self._modrm_reg(dst, src)

    def imul_ri(self, dst: int, imm: int, w: bool = True) -> None:
        """dst *= imm32 (imm8 form when it fits)."""
        self._rex(w, dst, dst)
        if _fits8(imm):
            self.code.append(0x6B)
            self._modrm_reg(dst, dst)
            self.code += struct.pack("<b", imm)
        else:
            self.code.append(0x69)
            self._modrm_reg(dst, dst)
            self._imm32(imm)

    def unary(self, digit: int, reg: int, w: bool = True) -> None:
        """F7 /digit: 2=not, 3=neg, 6=div, 7=idiv."""
        self._rex(w, 0, reg)
        self.code.append(0xF7)
        self._modrm_reg(digit, reg)

    def shift_ri(self, digit: int, reg: int, count: int, w: bool = True) -> None:
        """C1 /digit ib (D1 /digit for a count of 1): 4=shl, 5=shr, 7=sar, 1=ror."""
        self._rex(w, 0, reg)
        if count == 1:
            self.code.append(0xD1)
            self._modrm_reg(digit, reg)
            return
        self.code.append(0xC1)
        self._modrm_reg(digit, reg)
        self.code.append(count & 0xFF)

    def shift_cl(self, digit: int, reg: int, w: bool = True) -> None:
        self._rex(w, 0, reg)
        self.code.append(0xD3)
        self._modrm_reg(digit, reg)

    def ror16_8(self, reg: int) -> None:
        """ror r16, 8: swap the two low bytes."""
        self.code.append(0x66)
        self._rex(False, 0, reg)
        self.code.append(0xC1)
        self._modrm_reg(1, reg)
        self.code.append(8)

    def bswap(self, reg: int, w: bool = True) -> None:
        self._rex(w, 0, reg)
        self.code += bytes((0x0F, 0xC8 + (reg & 7)))

    def movzx_rr(self, dst: int, src: int, bits: int) -> None:
        """dst32 = zero-extended low `bits` (8 or 16) of src."""
        self._rex(False, dst, src, force=bits == 8 and src in (RSP, RBP, RSI, RDI))
        self.code += b"\x0f\xb6" if bits == 8 else b"\x0f\xb7"
        self._modrm_reg(dst, src)

    def movsx_rr(self, dst: int, src: int, bits: int, w: bool = True) -> None:
        """dst = sign-extended low `bits` (8, 16, 32) of src; 32-bit dst zero-extends."""
        if bits == 32:
            self._rex(True, dst, src)
            self.code.append(0x63)
        else:
            self._rex(w, dst, src, force=bits == 8 and src in (RSP, RBP, RSI, RDI))
            self.code += b"\x0f\xbe" if bits == 8 else b"\x0f\xbf"
        self._modrm_reg(dst, src)

    def cqo(self) -> None:
        self.code += b"\x48\x99"

    def cdq(self) -> None:
        self.code.append(0x99)

    def push(self, reg: int) -> None:
        self._rex(False, 0, reg)
        self.code.append(0x50 + (reg & 7))

    def pop(self, reg: int) -> None:
        self._rex(False, 0, reg)
        self.code.append(0x58 + (reg & 7))

    def ret(self) -> None:
        self.code.append(0xC3)

    def call_reg(self, reg: int) -> None:
        self._rex(False, 0, reg)
        self.code.append(0xFF)
        self._modrm_reg(2, reg)

    def jmp_reg(self, reg: int) -> None:
        self._rex(False, 0, reg)
        self.code.append(0xFF)
        self._modrm_reg(4, reg)

    def lea(self, dst: int, base: int, disp: int) -> None:
        self._rex(True, dst, base)
        self.code.append(0x8D)
        self._modrm_mem(dst, base, disp)

    # --- memory -------------------------------------------------------------------------------
    def load(self, dst: int, base: int, disp: int, size: int, signed: bool = False) -> None:
        """dst = [base + disp] of `size` bytes, zero- or sign-extended to 64 bits."""
        if size == 8:
            self._rex(True, dst, base)
            self.code.append(0x8B)
        elif size == 4:
            self._rex(signed, dst, base)
            self.code.append(0x63 if signed else 0x8B)
        else:
            self._rex(signed, dst, base)
            self.code += bytes((0x0F, (0xBE if signed else 0xB6) + (size == 2)))
        self._modrm_mem(dst, base, disp)

    def store(self, base: int, disp: int, src: int, size: int) -> None:
        """[base + disp] = low `size` bytes of src."""
        if size == 2:
            self.code.append(0x66)
        self._rex(size == 8, src, base, force=size == 1 and src in (RSP, RBP, RSI, RDI))
        self.code.append(0x88 if size == 1 else 0x89)
        self._modrm_mem(src, base, disp)

    def store_imm(self, base: int, disp: int, imm: int, size: int) -> None:
        """[base + disp] = imm (imm32 sign-extended for 8-byte stores)."""
        if size == 2:
            self.code.append(0x66)
        self._rex(size == 8, 0, base)
        self.code.append(0xC6 if size == 1 else 0xC7)
        self._modrm_mem(0, base, disp)
        if size == 1:
            self.code.append(imm & 0xFF)
        elif size == 2:
            self.code += struct.pack("<H", imm & 0xFFFF)
        else:
            self._imm32(imm)

    def lock_alu_mem(self, op: int, base: int, disp: int, src: int, w: bool) -> None:
        """lock [base + disp] op= src (add/or/and/xor)."""
        self.code.append(0xF0)
        self._rex(w, src, base)
        self.code.append(op * 8 + 1)
        self._modrm_mem(src, base, disp)

    def lock_xadd(self, base: int, disp: int, src: int, w: bool) -> None:
        self.code.append(0xF0)
        self._rex(w, src, base)
        self.code += b"\x0f\xc1"
        self._modrm_mem(src, base, disp)

    def xchg_mem(self, base: int, disp: int, src: int, w: bool) -> None:
        self._rex(w, src, base)
        self.code.append(0x87)
        self._modrm_mem(src, base, disp)

    def lock_cmpxchg(self, base: int, disp: int, src: int, w: bool) -> None:
        self.code.append(0xF0)
        self._rex(w, src, base)
        self.code += b"\x0f\xb1"
        self._modrm_mem(src, base, disp)

    # --- control flow -------------------------------------------------------------------------
    def bind(self, label: Label) -> None:
        if label._offset is not None:
            raise ValueError("label bound twice")
        label._offset, label._jumps_before = len(self.code), len(self._jump_at)
        self._labels.append(label)

    def _jump(self, kind: int, cc: int, label: Label) -> None:
        self._jump_at.append(len(self.code))
        self._jump_kind.append(kind)
        self._jump_cc.append(cc)
        self._jump_label.append(label)
        self._jump_size.append(0 if kind == JMP else 2 if kind == JCC else 5)

    def jmp(self, label: Label) -> None:
        self._jump(JMP, 0, label)

    def jcc(self, cc: int, label: Label) -> None:
        self._jump(JCC, cc, label)

    def call(self, label: Label) -> None:
        self._jump(CALL, 0, label)

    def _shifts(self) -> list[int]:
        """shift[k]: the bytes that the first k jumps take (a fixed byte at offset x that
        follows k jumps lands at x + shift[k])."""
        return [0, *itertools.accumulate(self._jump_size)]

    def layout(self) -> int:
        """Settle the size of every jump (the smallest that reaches its label: none for a jmp
        to the next byte, rel8, else rel32), fix every label's `position`; return the size of
        the code."""
        sizes, kinds, at, labels = self._jump_size, self._jump_kind, self._jump_at, \
            self._jump_label
        changed = True
        while changed:  # sizes only grow, and each is at most 6: this ends
            changed = False
            shift = self._shifts()
            for j, kind in enumerate(kinds):
                size = sizes[j]
                if kind == CALL or size > 2:
                    continue
                start = at[j] + shift[j]
                target = labels[j]._final(shift)
                # no bytes only for a jmp to what follows it directly (not a jmp to itself)
                empty = target == start and labels[j]._jumps_before > j
                if size == 0 and empty or _fits8(target - start - 2):
                    if size == 0 and not empty:
                        sizes[j] = 2
                        changed = True
                    continue
                sizes[j] = _LONG_SIZE[kind]
                changed = True
        shift = self._shifts()
        for label in self._labels:
            label.position = label._final(shift)
        return len(self.code) + shift[-1]

    def link(self, base_address: int) -> bytes:
        """The final code, placed at `base_address` (for absolute label addresses)."""
        self.layout()
        shift = self._shifts()
        out = bytearray()
        done = 0
        for at, kind, cc, label, size in zip(self._jump_at, self._jump_kind, self._jump_cc,
                                             self._jump_label, self._jump_size):
            out += self.code[done:at]
            done = at
            if size == 0:
                continue
            disp = label.position - (len(out) + size)
            if size == 2:
                out += bytes((0xEB if kind == JMP else 0x70 | cc,)) + struct.pack("<b", disp)
            elif kind == JCC:
                out += bytes((0x0F, 0x80 | cc)) + struct.pack("<i", disp)
            else:
                out += bytes((0xE9 if kind == JMP else 0xE8,)) + struct.pack("<i", disp)
        out += self.code[done:]
        for at, jumps_before, label in self._abs_fixups:
            if label._offset is None:
                raise ValueError("address of a label that is never bound")
            struct.pack_into("<Q", out, at + shift[jumps_before], base_address + label.position)
        return bytes(out)
