"""The eBPF instruction set (RFC 9669 with the v4 additions), as one table.

`decode(bytes) -> list[Insn]` and `encode(insns) -> bytes` round-trip byte for byte; every
other part of bpfcheck (assembler, disassembler, verifier, interpreter, JITs) reads the
`Insn` objects and the `spec()` of each one from here, so the meaning of an opcode lives in
one place.

An `Insn` keeps the raw fields (opcode, dst, src, off, imm). A wide instruction (lddw) is one
`Insn` of two slots: `next_imm` holds the second slot's imm field.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable

from cfg.errors import DecodeError

INSN_SIZE = 8
MAX_REG = 10  # r0..r10; r10 is the read-only frame pointer

# --- opcode fields -------------------------------------------------------------------------
# Instruction classes (low 3 bits).
CLS_LD, CLS_LDX, CLS_ST, CLS_STX, CLS_ALU, CLS_JMP, CLS_JMP32, CLS_ALU64 = range(8)

# Source bit for ALU/JMP classes.
SRC_K = 0x00  # immediate
SRC_X = 0x08  # register

# ALU operation codes (high 4 bits).
ALU_ADD, ALU_SUB, ALU_MUL, ALU_DIV = 0x00, 0x10, 0x20, 0x30
ALU_OR, ALU_AND, ALU_LSH, ALU_RSH = 0x40, 0x50, 0x60, 0x70
ALU_NEG, ALU_MOD, ALU_XOR, ALU_MOV = 0x80, 0x90, 0xA0, 0xB0
ALU_ARSH, ALU_END = 0xC0, 0xD0

# Jump operation codes (high 4 bits).
JMP_JA, JMP_JEQ, JMP_JGT, JMP_JGE = 0x00, 0x10, 0x20, 0x30
JMP_JSET, JMP_JNE, JMP_JSGT, JMP_JSGE = 0x40, 0x50, 0x60, 0x70
JMP_CALL, JMP_EXIT, JMP_JLT, JMP_JLE = 0x80, 0x90, 0xA0, 0xB0
JMP_JSLT, JMP_JSLE, JMP_JCOND = 0xC0, 0xD0, 0xE0

# Memory access sizes (bits 3-4) and modes (bits 5-7).
SIZE_W, SIZE_H, SIZE_B, SIZE_DW = 0x00, 0x08, 0x10, 0x18
SIZE_BYTES = {SIZE_W: 4, SIZE_H: 2, SIZE_B: 1, SIZE_DW: 8}
BYTES_SIZE = {v: k for k, v in SIZE_BYTES.items()}
MODE_IMM, MODE_ABS, MODE_IND, MODE_MEM = 0x00, 0x20, 0x40, 0x60
MODE_MEMSX, MODE_ATOMIC = 0x80, 0xC0

# Atomic operations (imm field of STX|ATOMIC).
ATOMIC_FETCH = 0x01
ATOMIC_ADD, ATOMIC_OR, ATOMIC_AND, ATOMIC_XOR = 0x00, 0x40, 0x50, 0xA0
ATOMIC_XCHG = 0xE0 | ATOMIC_FETCH
ATOMIC_CMPXCHG = 0xF0 | ATOMIC_FETCH

# lddw source forms (src field of LD|IMM|DW).
LDDW_IMM64 = 0          # a 64-bit constant
LDDW_MAP_FD = 1         # imm: map file descriptor
LDDW_MAP_VALUE = 2      # imm: map fd, next_imm: offset into the map's value
LDDW_VARIABLE = 3       # imm: BTF id of a kernel variable
LDDW_CODE = 4           # imm: pc-relative address of a function
LDDW_MAP_IDX = 5        # imm: index of the map in the program's map table
LDDW_MAP_IDX_VALUE = 6  # imm: map index, next_imm: offset into the value
LDDW_FORMS = (LDDW_IMM64, LDDW_MAP_FD, LDDW_MAP_VALUE, LDDW_VARIABLE, LDDW_CODE,
              LDDW_MAP_IDX, LDDW_MAP_IDX_VALUE)

# Call forms (src field of JMP|CALL|K).
CALL_HELPER = 0   # imm: helper id
CALL_LOCAL = 1    # imm: pc-relative offset of a bpf-to-bpf call
CALL_KFUNC = 2    # imm: BTF id of a kernel function

OPCODE_LDDW = CLS_LD | MODE_IMM | SIZE_DW  # 0x18


def _s16(value: int) -> int:
    return ((value + 0x8000) & 0xFFFF) - 0x8000


def _s32(value: int) -> int:
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


# --- the table -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """What an instruction means, independent of its operands.

    kind: alu | neg | mov | movsx | end | bswap | ldx | ldxsx | st | stx | atomic | lddw |
          ldabs | ldind | ja | jcond | call | callx | exit | may_goto
    name: the uBPF mnemonic (`add32`, `ldxw`, `jslt`, `lock add`, ...).
    op:   the operation (alu op name, jump condition, atomic op) where there is one.
    width: 32 or 64 for ALU and conditional jumps; size: bytes for memory accesses.
    """

    kind: str
    name: str
    op: str = ""
    width: int = 64
    size: int = 0
    uses_src_reg: bool = False  # the src field names a register (X form)


ALU_OP_NAMES = {
    ALU_ADD: "add", ALU_SUB: "sub", ALU_MUL: "mul", ALU_DIV: "div", ALU_OR: "or",
    ALU_AND: "and", ALU_LSH: "lsh", ALU_RSH: "rsh", ALU_MOD: "mod", ALU_XOR: "xor",
    ALU_ARSH: "arsh",
}
JMP_OP_NAMES = {
    JMP_JEQ: "jeq", JMP_JGT: "jgt", JMP_JGE: "jge", JMP_JSET: "jset", JMP_JNE: "jne",
    JMP_JSGT: "jsgt", JMP_JSGE: "jsge", JMP_JLT: "jlt", JMP_JLE: "jle", JMP_JSLT: "jslt",
    JMP_JSLE: "jsle",
}
ATOMIC_OP_NAMES = {
    ATOMIC_ADD: "add", ATOMIC_OR: "or", ATOMIC_AND: "and", ATOMIC_XOR: "xor",
    ATOMIC_ADD | ATOMIC_FETCH: "fetch_add", ATOMIC_OR | ATOMIC_FETCH: "fetch_or",
    ATOMIC_AND | ATOMIC_FETCH: "fetch_and", ATOMIC_XOR | ATOMIC_FETCH: "fetch_xor",
    ATOMIC_XCHG: "xchg", ATOMIC_CMPXCHG: "cmpxchg",
}
SIZE_SUFFIX = {1: "b", 2: "h", 4: "w", 8: "dw"}

# Key: (opcode, variant). The variant is `off` for div/mod/mov (signed forms and movsx), `imm`
# for atomics and byte swaps, `src` for calls, and 0 otherwise. See `_variant`.
SPECS: dict[tuple[int, int], Spec] = {}


def _build_table() -> None:
    for cls, width, suffix in ((CLS_ALU64, 64, ""), (CLS_ALU, 32, "32")):
        for src in (SRC_K, SRC_X):
            x = src == SRC_X
            for code, op in ALU_OP_NAMES.items():
                opcode = cls | src | code
                SPECS[(opcode, 0)] = Spec("alu", op + suffix, op, width, uses_src_reg=x)
                if code in (ALU_DIV, ALU_MOD):
                    sop = "s" + op
                    SPECS[(opcode, 1)] = Spec("alu", sop + suffix, sop, width, uses_src_reg=x)
            opcode = cls | src | ALU_MOV
            SPECS[(opcode, 0)] = Spec("mov", "mov" + suffix, "mov", width, uses_src_reg=x)
            if x:
                for bits in ((8, 16, 32) if width == 64 else (8, 16)):
                    SPECS[(opcode, bits)] = Spec("movsx", f"movsx{bits}{width}", "movsx", width,
                                                 bits // 8, uses_src_reg=True)
        SPECS[(cls | SRC_K | ALU_NEG, 0)] = Spec("neg", "neg" + suffix, "neg", width)
    for bits in (16, 32, 64):
        SPECS[(CLS_ALU | SRC_K | ALU_END, bits)] = Spec("end", f"le{bits}", "le", 64, bits // 8)
        SPECS[(CLS_ALU | SRC_X | ALU_END, bits)] = Spec("end", f"be{bits}", "be", 64, bits // 8)
        SPECS[(CLS_ALU64 | SRC_K | ALU_END, bits)] = Spec("bswap", f"swap{bits}", "bswap", 64,
                                                          bits // 8)
    for size_code, nbytes in SIZE_BYTES.items():
        sfx = SIZE_SUFFIX[nbytes]
        SPECS[(CLS_LDX | MODE_MEM | size_code, 0)] = Spec("ldx", "ldx" + sfx, size=nbytes,
                                                          uses_src_reg=True)
        SPECS[(CLS_ST | MODE_MEM | size_code, 0)] = Spec("st", "st" + sfx, size=nbytes)
        SPECS[(CLS_STX | MODE_MEM | size_code, 0)] = Spec("stx", "stx" + sfx, size=nbytes,
                                                          uses_src_reg=True)
        if nbytes != 8:
            SPECS[(CLS_LDX | MODE_MEMSX | size_code, 0)] = Spec(
                "ldxsx", f"ldx{sfx}sx", size=nbytes, uses_src_reg=True)
            SPECS[(CLS_LD | MODE_ABS | size_code, 0)] = Spec("ldabs", "ldabs" + sfx, size=nbytes)
            SPECS[(CLS_LD | MODE_IND | size_code, 0)] = Spec("ldind", "ldind" + sfx, size=nbytes,
                                                             uses_src_reg=True)
    for size_code in (SIZE_W, SIZE_DW):
        nbytes = SIZE_BYTES[size_code]
        for aop, name in ATOMIC_OP_NAMES.items():
            SPECS[(CLS_STX | MODE_ATOMIC | size_code, aop)] = Spec(
                "atomic", "lock " + name.replace("_", " ") + ("32" if nbytes == 4 else ""),
                name, nbytes * 8, nbytes, uses_src_reg=True)
    SPECS[(OPCODE_LDDW, 0)] = Spec("lddw", "lddw", size=8)
    for cls, width, suffix in ((CLS_JMP, 64, ""), (CLS_JMP32, 32, "32")):
        for src in (SRC_K, SRC_X):
            for code, op in JMP_OP_NAMES.items():
                SPECS[(cls | src | code, 0)] = Spec("jcond", op + suffix, op, width,
                                                    uses_src_reg=src == SRC_X)
    SPECS[(CLS_JMP | JMP_JA, 0)] = Spec("ja", "ja")
    SPECS[(CLS_JMP32 | JMP_JA, 0)] = Spec("ja", "ja32", width=32)  # 32-bit offset in imm
    SPECS[(CLS_JMP | JMP_JCOND, 0)] = Spec("may_goto", "may_goto")
    for form, name in ((CALL_HELPER, "call"), (CALL_LOCAL, "call local"),
                       (CALL_KFUNC, "call runtime")):
        SPECS[(CLS_JMP | JMP_CALL, form)] = Spec("call", name, ("helper", "local", "kfunc")[form])
    SPECS[(CLS_JMP | SRC_X | JMP_CALL, 0)] = Spec("callx", "callx")
    SPECS[(CLS_JMP | JMP_EXIT, 0)] = Spec("exit", "exit")


_build_table()

_OFF_VARIANT = {CLS_ALU | SRC_K | ALU_DIV, CLS_ALU | SRC_X | ALU_DIV, CLS_ALU | SRC_K | ALU_MOD,
                CLS_ALU | SRC_X | ALU_MOD, CLS_ALU64 | SRC_K | ALU_DIV, CLS_ALU64 | SRC_X | ALU_DIV,
                CLS_ALU64 | SRC_K | ALU_MOD, CLS_ALU64 | SRC_X | ALU_MOD,
                CLS_ALU | SRC_X | ALU_MOV, CLS_ALU64 | SRC_X | ALU_MOV}
_IMM_VARIANT = {op for (op, _v), s in SPECS.items() if s.kind in ("atomic", "end", "bswap")}
_SRC_VARIANT = {CLS_JMP | JMP_CALL}
VALID_OPCODES = frozenset(op for op, _ in SPECS)


def _variant(opcode: int, src: int, off: int, imm: int) -> int:
    if opcode in _OFF_VARIANT:
        return off
    if opcode in _IMM_VARIANT:
        return imm
    if opcode in _SRC_VARIANT:
        return src
    return 0


# --- instructions ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Insn:
    """One decoded instruction. `off` is signed 16-bit, `imm` and `next_imm` signed 32-bit;
    `next_imm` is the second slot's imm of an lddw and 0 for every other instruction."""

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    next_imm: int = 0

    @property
    def cls(self) -> int:
        return self.opcode & 0x07

    @property
    def slots(self) -> int:
        """How many 8-byte slots the instruction takes (2 for lddw)."""
        return 2 if self.opcode == OPCODE_LDDW else 1

    @property
    def imm64(self) -> int:
        """The 64-bit constant of an lddw, unsigned."""
        return (self.imm & 0xFFFFFFFF) | ((self.next_imm & 0xFFFFFFFF) << 32)

    @property
    def spec(self) -> Spec:
        """The table entry for this instruction (raises KeyError if invalid)."""
        return SPECS[(self.opcode, _variant(self.opcode, self.src, self.off, self.imm))]

    @property
    def jump_offset(self) -> int:
        """Relative target of a jump in slots (imm for gotol, off otherwise)."""
        if self.opcode == CLS_JMP32 | JMP_JA:
            return self.imm
        return self.off

    def is_jump(self) -> bool:
        return self.cls in (CLS_JMP, CLS_JMP32) and self.spec.kind in ("ja", "jcond", "may_goto")


def lddw(dst: int, value: int, src: int = LDDW_IMM64) -> Insn:
    """Build an lddw of a 64-bit value (for src=0) or of an (imm, next_imm) pair packed the same
    way for the pseudo forms."""
    value &= 0xFFFFFFFFFFFFFFFF
    return Insn(OPCODE_LDDW, dst, src, 0, _s32(value & 0xFFFFFFFF), _s32(value >> 32))


def check(insn: Insn, index: int | None = None) -> Spec:
    """Validate an instruction's fields and return its spec; raises DecodeError."""
    def bad(msg: str) -> DecodeError:
        return DecodeError(f"{msg} (opcode {insn.opcode:#04x})", index)

    if not 0 <= insn.opcode <= 0xFF:
        raise bad("opcode out of range")
    if insn.opcode not in VALID_OPCODES:
        raise DecodeError(f"unknown opcode {insn.opcode:#04x}", index)
    if not (0 <= insn.dst <= 0xF and 0 <= insn.src <= 0xF):
        raise bad("register field out of range")
    if not (-0x8000 <= insn.off <= 0x7FFF):
        raise bad("offset out of 16-bit range")
    if not (-0x80000000 <= insn.imm <= 0x7FFFFFFF and -0x80000000 <= insn.next_imm <= 0x7FFFFFFF):
        raise bad("immediate out of 32-bit range")
    try:
        spec = insn.spec
    except KeyError:
        raise _variant_error(insn, index) from None
    kind = spec.kind
    if insn.dst > MAX_REG:
        raise bad(f"bad destination register r{insn.dst}")
    if insn.src > MAX_REG and kind not in ("call", "lddw"):
        raise bad(f"bad source register r{insn.src}")
    if kind != "lddw" and insn.next_imm:
        raise bad("second-slot immediate on a one-slot instruction")
    reserved = _reserved_fields(insn, spec)
    if reserved:
        raise bad(f"reserved field {reserved} is not zero")
    return spec


def _variant_error(insn: Insn, index: int | None) -> DecodeError:
    op = insn.opcode
    if op in _OFF_VARIANT:
        return DecodeError(f"invalid offset {insn.off} for opcode {op:#04x}", index)
    if op in _IMM_VARIANT:
        return DecodeError(f"invalid immediate {insn.imm:#x} for opcode {op:#04x}", index)
    return DecodeError(f"invalid source field {insn.src} for opcode {op:#04x}", index)


def _reserved_fields(insn: Insn, spec: Spec) -> str:
    """Name the first field that must be zero for this kind and is not ('' when all fine)."""
    k = spec.kind
    must_be_zero: tuple[str, ...]
    if k in ("alu", "mov", "movsx"):
        must_be_zero = ("imm",) if spec.uses_src_reg else ("src",)
        if k == "alu" and spec.op not in ("sdiv", "smod") or k == "mov":
            must_be_zero += ("off",)
    elif k == "neg":
        must_be_zero = ("src", "off", "imm")
    elif k in ("end", "bswap"):
        must_be_zero = ("src", "off")
    elif k in ("ldx", "ldxsx"):
        must_be_zero = ("imm",)
    elif k == "st":
        must_be_zero = ("src",)
    elif k == "stx":
        must_be_zero = ("imm",)
    elif k == "atomic":
        must_be_zero = ()
    elif k == "lddw":
        must_be_zero = ("off",)
        if insn.src not in LDDW_FORMS:
            return "src"
        if insn.src not in (LDDW_IMM64, LDDW_MAP_VALUE, LDDW_MAP_IDX_VALUE) and insn.next_imm:
            return "next_imm"
    elif k == "ldabs":
        must_be_zero = ("dst", "src", "off")
    elif k == "ldind":
        must_be_zero = ("dst", "off")
    elif k == "jcond":
        must_be_zero = ("imm",) if spec.uses_src_reg else ("src",)
    elif k == "ja":
        must_be_zero = ("dst", "src", "imm") if spec.width == 64 else ("dst", "src", "off")
    elif k == "may_goto":
        must_be_zero = ("dst", "src", "imm")
    elif k == "call":
        must_be_zero = ("dst", "off")
    elif k == "callx":
        must_be_zero = ("src", "off", "imm")
    else:  # exit
        must_be_zero = ("dst", "src", "off", "imm")
    for name in must_be_zero:
        if getattr(insn, name):
            return name
    return ""


# --- bytes <-> instructions ------------------------------------------------------------------
_SLOT = struct.Struct("<BBhi")


# No kernel loads a program of more slots (BPF_COMPLEXITY_LIMIT_INSNS); the bound also keeps a
# huge input from costing minutes and gigabytes (decoding takes ~3 s per million slots).
MAX_SLOTS = 1_000_000


def decode(data: bytes) -> list[Insn]:
    """Decode a little-endian instruction stream; raises DecodeError with the slot index."""
    data = bytes(data)
    if len(data) % INSN_SIZE:
        raise DecodeError(f"length {len(data)} is not a multiple of {INSN_SIZE}")
    count = len(data) // INSN_SIZE
    if count > MAX_SLOTS:
        raise DecodeError(f"{count} instruction slots: more than the kernel's limit of "
                          f"{MAX_SLOTS}")
    out: list[Insn] = []
    i = 0
    while i < count:
        opcode, regs, off, imm = _SLOT.unpack_from(data, i * INSN_SIZE)
        next_imm = 0
        if opcode == OPCODE_LDDW:
            if i + 1 >= count:
                raise DecodeError("lddw cut in half: its second slot is missing", i)
            op2, regs2, off2, next_imm = _SLOT.unpack_from(data, (i + 1) * INSN_SIZE)
            if op2 or regs2 or off2:
                raise DecodeError("second slot of lddw has non-zero opcode, registers or offset",
                                  i + 1)
        insn = Insn(opcode, regs & 0x0F, regs >> 4, off, imm, next_imm)
        check(insn, i)
        out.append(insn)
        i += insn.slots
    return out


def encode(insns: Iterable[Insn]) -> bytes:
    """Encode instructions to bytes; each is validated (DecodeError names its slot index)."""
    parts: list[bytes] = []
    slot = 0
    for insn in insns:
        check(insn, slot)
        parts.append(_SLOT.pack(insn.opcode, insn.dst | (insn.src << 4), insn.off, insn.imm))
        if insn.opcode == OPCODE_LDDW:
            parts.append(_SLOT.pack(0, 0, 0, insn.next_imm))
        slot += insn.slots
    return b"".join(parts)


def slot_offsets(insns: Iterable[Insn]) -> list[int]:
    """The slot index (pc, as jumps count it) of each instruction."""
    pcs, pc = [], 0
    for insn in insns:
        pcs.append(pc)
        pc += insn.slots
    return pcs
