"""A small x86-64 encoder: the instruction forms the eBPF JIT needs, nothing more.

Registers are numbered as in the ISA (rax=0 ... r15=15). Memory operands are always
`[base + disp32]`, so every memory form has one fixed length, which keeps jump fix-ups simple.
Jumps to labels are always rel32 and patched when the label is bound.
"""
from __future__ import annotations

import struct

RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = range(8)
R8, R9, R10, R11, R12, R13, R14, R15 = range(8, 16)

# Condition codes (the low nibble of Jcc / SETcc / CMOVcc).
CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A = 0x2, 0x3, 0x4, 0x5, 0x6, 0x7
CC_L, CC_GE, CC_LE, CC_G = 0xC, 0xD, 0xE, 0xF

# ALU group-1 operation numbers (the /digit of 0x81 and the opcode base for reg forms).
OP_ADD, OP_OR, OP_AND, OP_SUB, OP_XOR, OP_CMP = 0, 1, 4, 5, 6, 7


def _fits8(value: int) -> bool:
    return -128 <= value <= 127


class Label:
    """A position in the code, bound once; jumps to it are patched when it is bound."""

    __slots__ = ("position", "fixups")

    def __init__(self) -> None:
        self.position: int | None = None
        self.fixups: list[int] = []


class Assembler:
    """Appends machine code to `code`; see the module docstring for the conventions."""

    def __init__(self) -> None:
        self.code = bytearray()
        self.abs_fixups: list[tuple[int, Label]] = []  # imm64 slots to fill with label addresses

    # --- raw encoding helpers ----------------------------------------------------------------
    def _rex(self, w: bool, reg: int, rm: int, force: bool = False, index: int = 0) -> None:
        rex = 0x40 | (8 if w else 0) | ((reg >> 3) << 2) | ((index >> 3) << 1) | (rm >> 3)
        if rex != 0x40 or force:
            self.code.append(rex)

    def _modrm_reg(self, reg: int, rm: int) -> None:
        self.code.append(0xC0 | ((reg & 7) << 3) | (rm & 7))

    def _modrm_mem(self, reg: int, base: int, disp: int) -> None:
        self.code.append(0x80 | ((reg & 7) << 3) | (base & 7))  # mod=10: disp32
        if base & 7 == RSP:  # rsp/r12 as base needs a SIB byte
            self.code.append(0x24)
        self.code += struct.pack("<i", disp)

    def _imm32(self, value: int) -> None:
        self.code += struct.pack("<i", value)

    # --- register-register and register-immediate ALU -----------------------------------------
    def alu_rr(self, op: int, dst: int, src: int, w: bool = True) -> None:
        """dst op= src (add/or/and/sub/xor/cmp)."""
        self._rex(w, src, dst)
        self.code.append(op * 8 + 1)
        self._modrm_reg(src, dst)

    def alu_ri(self, op: int, dst: int, imm: int, w: bool = True) -> None:
        """dst op= imm32 (sign-extended to 64 bits for w)."""
        self._rex(w, 0, dst)
        if _fits8(imm):
            self.code.append(0x83)
            self._modrm_reg(op, dst)
            self.code += struct.pack("<b", imm)
        else:
            self.code.append(0x81)
            self._modrm_reg(op, dst)
            self._imm32(imm)

    def test_rr(self, a: int, b: int, w: bool = True) -> None:
        self._rex(w, b, a)
        self.code.append(0x85)
        self._modrm_reg(b, a)

    def test_ri(self, a: int, imm: int, w: bool = True) -> None:
        self._rex(w, 0, a)
        self.code.append(0xF7)
        self._modrm_reg(0, a)
        self._imm32(imm)

    def mov_rr(self, dst: int, src: int, w: bool = True) -> None:
        self._rex(w, src, dst)
        self.code.append(0x89)
        self._modrm_reg(src, dst)

    def mov_ri(self, dst: int, imm: int, w: bool = True) -> None:
        """mov dst, imm: 32-bit zero-extending form, sign-extended imm32, or imm64."""
        if not w:
            self._rex(False, 0, dst)
            self.code.append(0xB8 + (dst & 7))
            self.code += struct.pack("<I", imm & 0xFFFFFFFF)
        elif -0x80000000 <= imm <= 0x7FFFFFFF:
            self._rex(True, 0, dst)
            self.code.append(0xC7)
            self._modrm_reg(0, dst)
            self._imm32(imm)
        else:
            self.mov_ri64(dst, imm)

    def mov_ri64(self, dst: int, imm: int) -> None:
        self._rex(True, 0, dst)
        self.code.append(0xB8 + (dst & 7))
        self.code += struct.pack("<Q", imm & 0xFFFFFFFFFFFFFFFF)

    def mov_label_address(self, dst: int, label: Label) -> None:
        """dst = absolute address of label (filled in by `link`)."""
        self.mov_ri64(dst, 0)
        self.abs_fixups.append((len(self.code) - 8, label))

    def imul_rr(self, dst: int, src: int, w: bool = True) -> None:
        self._rex(w, dst, src)
        self.code += b"\x0f\xaf"
        self._modrm_reg(dst, src)

    def imul_ri(self, dst: int, imm: int, w: bool = True) -> None:
        self._rex(w, dst, dst)
        self.code.append(0x69)
        self._modrm_reg(dst, dst)
        self._imm32(imm)

    def unary(self, digit: int, reg: int, w: bool = True) -> None:
        """F7 /digit: 2=not, 3=neg, 6=div, 7=idiv."""
        self._rex(w, 0, reg)
        self.code.append(0xF7)
        self._modrm_reg(digit, reg)

    def shift_ri(self, digit: int, reg: int, count: int, w: bool = True) -> None:
        """C1 /digit ib: 4=shl, 5=shr, 7=sar, 1=ror."""
        self._rex(w, 0, reg)
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
        label.position = len(self.code)
        for at in label.fixups:
            struct.pack_into("<i", self.code, at, label.position - (at + 4))
        label.fixups.clear()

    def _rel32(self, label: Label) -> None:
        at = len(self.code)
        self.code += b"\0\0\0\0"
        if label.position is not None:
            struct.pack_into("<i", self.code, at, label.position - (at + 4))
        else:
            label.fixups.append(at)

    def jmp(self, label: Label) -> None:
        self.code.append(0xE9)
        self._rel32(label)

    def jcc(self, cc: int, label: Label) -> None:
        self.code += bytes((0x0F, 0x80 | cc))
        self._rel32(label)

    def call(self, label: Label) -> None:
        self.code.append(0xE8)
        self._rel32(label)

    def link(self, base_address: int) -> bytes:
        """Fill absolute label addresses for code placed at `base_address`; return the code."""
        for at, label in self.abs_fixups:
            if label.position is None:
                raise ValueError("unbound label")
            struct.pack_into("<Q", self.code, at, base_address + label.position)
        return bytes(self.code)
