"""The uBPF / bpf_conformance assembly syntax (`add32 %r0, 1`, `ldxw %r0, [%r1+4]`).

Mnemonics are the `Spec.name`s of `cfg.isa`: ALU ops with a `32` suffix for the 32-bit class,
`sdiv`/`smod`, `movsx864`/`movsx832`/`movsx1664`/`movsx1632`/`movsx3264`, `le16`/`be32`/
`swap64`, `ldxw`/`ldxwsx`, `stw`, `stxw`, `lddw`, `ldabsw`, `ldindw`, `ja`/`ja32`, `jeq`/`jeq32`,
`call N` / `call local T` / `call runtime N`, `callx %rN`, `lock [fetch] add[32] [%rD+off], %rS`,
`lock xchg`, `lock cmpxchg`, `may_goto`, `exit`. Jump targets are `+N`, `-N` or labels; `exit`
names the first exit when no label of that name exists.
"""
from __future__ import annotations

import re

from cfg import isa
from cfg.asmtext import NUM, IDENT_RE, Pending, format_pseudo, imm32, is_number, off16, \
    parse_int, parse_pseudo, reg_number
from cfg.errors import AsmError
from cfg.isa import Insn

# mnemonic -> spec key, for every mnemonic whose operands follow from its kind
_BY_NAME: dict[str, tuple[int, int]] = {}
for _key, _spec in isa.SPECS.items():
    if _spec.kind in ("alu", "mov") and _spec.uses_src_reg:
        continue  # the K form names the mnemonic; the operand picks K or X
    _BY_NAME.setdefault(_spec.name, _key)
# aliases
for _bits in (16, 32, 64):
    _BY_NAME[f"bswap{_bits}"] = _BY_NAME[f"swap{_bits}"]
for _size, _sfx in isa.SIZE_SUFFIX.items():
    if _size != 8:
        _BY_NAME[f"ldxs{_sfx}"] = _BY_NAME[f"ldx{_sfx}sx"]
_BY_NAME["gotol"] = _BY_NAME["ja32"]

_MEM_RE = re.compile(rf"^\[\s*(%?r\d+)\s*(?:([+-])\s*({NUM}))?\s*\]$")


def _mem(text: str) -> tuple[int, int]:
    m = _MEM_RE.match(text.strip())
    if not m:
        raise AsmError(f"bad memory operand {text.strip()!r} (expected [%rN+off])")
    off = parse_int(m.group(3)) if m.group(3) else 0
    return reg_number(m.group(1), "r"), off16(-off if m.group(2) == "-" else off,
                                              "memory offset")


def _is_reg(text: str) -> bool:
    return bool(re.match(r"^%?r\d+$", text.strip()))


def _target(text: str, field: str) -> tuple[int, str | None]:
    t = text.strip()
    if is_number(t):
        v = parse_int(t)
        return (off16(v, "jump offset") if field == "off" else imm32(v, "jump offset")), None
    if IDENT_RE.match(t):
        return 0, t
    raise AsmError(f"bad jump target {t!r}")


def _split(rest: str) -> list[str]:
    rest = rest.strip()
    return [p.strip() for p in rest.split(",")] if rest else []


def _want(ops: list[str], n: int, mnemonic: str) -> None:
    if len(ops) != n:
        raise AsmError(f"{mnemonic} takes {n} operand{'s' if n != 1 else ''}, got {len(ops)}")


def _sign_extended64(value: int, width: int) -> int:
    """A 64-bit operation sign-extends its 32-bit immediate, so a 64-bit constant that is such
    an extension (0xffffffffffffffff is -1) means the same as its 32-bit form; any other wide
    constant stays out of range (imm32 says so)."""
    if width == 64 and (1 << 64) - (1 << 31) <= value < (1 << 64):
        return value - (1 << 64)
    return value


def _lddw_operand(dst: int, text: str) -> Pending:
    item = parse_pseudo(dst, text)
    if item is not None:
        return item
    value = parse_int(text, "64-bit immediate")
    if not -(1 << 63) <= value < (1 << 64):
        raise AsmError(f"immediate {value} out of 64-bit range")
    return Pending(isa.lddw(dst, value))


def parse(text: str) -> Pending:
    """One instruction in uBPF syntax; AsmError (without a line number) otherwise."""
    t = text.strip()
    parts = t.split(None, 1)
    mnemonic, rest = parts[0].lower(), (parts[1] if len(parts) > 1 else "")
    if mnemonic == "lock":
        words = rest.split(None, 2)
        if words and words[0] == "fetch" and len(words) > 1:
            mnemonic, rest = f"lock fetch {words[1]}", " ".join(words[2:])
        elif words:
            mnemonic, rest = f"lock {words[0]}", " ".join(words[1:])
        if mnemonic in ("lock fetch xchg", "lock fetch cmpxchg", "lock fetch xchg32",
                        "lock fetch cmpxchg32"):
            mnemonic = mnemonic.replace("fetch ", "")
    if mnemonic == "call":
        words = rest.split()
        if len(words) == 2 and words[0] in ("helper", "local", "runtime"):
            mode, target = words
        elif len(words) == 1:
            mode, target = ("helper", words[0])
        else:
            raise AsmError(f"bad call {t!r} (expected call N, call local T, call runtime N)")
        op = isa.CLS_JMP | isa.JMP_CALL
        if _is_reg(target):
            return Pending(Insn(op | isa.SRC_X, dst=reg_number(target, "r")))
        if mode == "local":
            imm, label = _target(target, "imm")
            return Pending(Insn(op, src=isa.CALL_LOCAL, imm=imm), label, "imm")
        if mode == "helper" and IDENT_RE.match(target) and not is_number(target):
            return Pending(Insn(op, src=isa.CALL_LOCAL), target, "imm")  # label or helper name
        src = isa.CALL_HELPER if mode == "helper" else isa.CALL_KFUNC
        return Pending(Insn(op, src=src, imm=imm32(parse_int(target, "helper id"))))
    key = _BY_NAME.get(mnemonic)
    if key is None:
        raise AsmError(f"unknown mnemonic {mnemonic!r}")
    opcode, variant = key
    spec = isa.SPECS[key]
    k = spec.kind
    ops = _split(rest)
    if k in ("alu", "mov"):
        _want(ops, 2, mnemonic)
        dst = reg_number(ops[0], "r")
        off = 1 if spec.op in ("sdiv", "smod") else 0
        if _is_reg(ops[1]):
            return Pending(Insn(opcode | isa.SRC_X, dst, reg_number(ops[1], "r"), off))
        value = parse_int(ops[1], "immediate")
        if spec.width == 32 and -(1 << 63) <= value < (1 << 64):
            # a 32-bit op reads only the low 32 bits of its operand, so a wider constant
            # (`mov32 %r1, 0x876543210`, as bpf_conformance writes) keeps its meaning mod 2**32
            value &= 0xFFFFFFFF
        return Pending(Insn(opcode, dst, 0, off, imm32(_sign_extended64(value, spec.width))))
    if k == "movsx":
        _want(ops, 2, mnemonic)
        return Pending(Insn(opcode, reg_number(ops[0], "r"), reg_number(ops[1], "r"), variant))
    if k == "neg":
        _want(ops, 1, mnemonic)
        return Pending(Insn(opcode, reg_number(ops[0], "r")))
    if k in ("end", "bswap"):
        _want(ops, 1, mnemonic)
        return Pending(Insn(opcode, reg_number(ops[0], "r"), imm=variant))
    if k in ("ldx", "ldxsx"):
        _want(ops, 2, mnemonic)
        base, off = _mem(ops[1])
        return Pending(Insn(opcode, reg_number(ops[0], "r"), base, off))
    if k == "st":
        _want(ops, 2, mnemonic)
        base, off = _mem(ops[0])
        return Pending(Insn(opcode, base, 0, off, imm32(parse_int(ops[1], "immediate"))))
    if k in ("stx", "atomic"):
        _want(ops, 2, mnemonic)
        base, off = _mem(ops[0])
        return Pending(Insn(opcode, base, reg_number(ops[1], "r"), off, variant))
    if k == "lddw":
        _want(ops, 2, mnemonic)
        return _lddw_operand(reg_number(ops[0], "r"), ops[1])
    if k in ("ldabs", "ldind"):
        # `ldabsw 4`, `ldindw %r1, 4`; also the `src, dst, imm` order some tools print
        need = 1 if k == "ldabs" else 2
        if len(ops) == 3:
            src, dst = reg_number(ops[0], "r"), reg_number(ops[1], "r")
        else:
            _want(ops, need, mnemonic)
            src, dst = (reg_number(ops[0], "r") if k == "ldind" else 0), 0
        return Pending(Insn(opcode, dst, src, 0, imm32(parse_int(ops[-1], "immediate"))))
    if k == "jcond":
        _want(ops, 3, mnemonic)
        dst = reg_number(ops[0], "r")
        off, label = _target(ops[2], "off")
        if _is_reg(ops[1]):
            return Pending(Insn(opcode | isa.SRC_X, dst, reg_number(ops[1], "r"), off), label)
        value = _sign_extended64(parse_int(ops[1], "immediate"), spec.width)
        return Pending(Insn(opcode, dst, 0, off, imm32(value)), label)
    if k in ("ja", "may_goto"):
        _want(ops, 1, mnemonic)
        field = "imm" if spec.width == 32 and k == "ja" else "off"
        value, label = _target(ops[0], field)
        if field == "imm":
            return Pending(Insn(opcode, imm=value), label, "imm")
        return Pending(Insn(opcode, off=value), label)
    if k == "callx":
        _want(ops, 1, mnemonic)
        return Pending(Insn(opcode, dst=reg_number(ops[0], "r")))
    if k == "exit":
        _want(ops, 0, mnemonic)
        return Pending(Insn(opcode))
    raise AsmError(f"unknown mnemonic {mnemonic!r}")  # pragma: no cover - table is complete


def _rel(value: int, labels: dict[int, str] | None, pc: int) -> str:
    if labels is not None and pc + 1 + value in labels:
        return labels[pc + 1 + value]
    return f"{'-' if value < 0 else '+'}{abs(value)}"


def _memtext(base: int, off: int) -> str:
    return f"[%r{base}{'-' if off < 0 else '+'}{abs(off)}]"


def format(insn: Insn, labels: dict[int, str] | None = None, pc: int = 0) -> str:
    """The instruction in uBPF syntax (`labels` maps target pc -> name)."""
    spec = insn.spec
    k = spec.kind
    if k in ("alu", "mov"):
        base = spec.name
        right = f"%r{insn.src}" if spec.uses_src_reg else str(insn.imm)
        return f"{base} %r{insn.dst}, {right}"
    if k == "movsx":
        return f"{spec.name} %r{insn.dst}, %r{insn.src}"
    if k in ("neg", "end", "bswap"):
        return f"{spec.name} %r{insn.dst}"
    if k in ("ldx", "ldxsx"):
        return f"{spec.name} %r{insn.dst}, {_memtext(insn.src, insn.off)}"
    if k == "st":
        return f"{spec.name} {_memtext(insn.dst, insn.off)}, {insn.imm}"
    if k in ("stx", "atomic"):
        return f"{spec.name} {_memtext(insn.dst, insn.off)}, %r{insn.src}"
    if k == "lddw":
        if insn.src == isa.LDDW_IMM64:
            return f"lddw %r{insn.dst}, {insn.imm64:#x}"
        return f"lddw %r{insn.dst}, {format_pseudo(insn, _rel(insn.imm, labels, pc))}"
    if k == "ldabs":
        return f"{spec.name} {insn.imm}"
    if k == "ldind":
        return f"{spec.name} %r{insn.src}, {insn.imm}"
    if k == "jcond":
        right = f"%r{insn.src}" if spec.uses_src_reg else str(insn.imm)
        return f"{spec.name} %r{insn.dst}, {right}, {_rel(insn.off, labels, pc)}"
    if k == "ja":
        return f"{spec.name} {_rel(insn.jump_offset, labels, pc)}"
    if k == "may_goto":
        return f"may_goto {_rel(insn.off, labels, pc)}"
    if k == "call":
        if insn.src == isa.CALL_LOCAL:
            return f"call local {_rel(insn.imm, labels, pc)}"
        if insn.src == isa.CALL_KFUNC:
            return f"call runtime {insn.imm}"
        return f"call {insn.imm}"
    if k == "callx":
        return f"callx %r{insn.dst}"
    return "exit"
