"""Pieces shared by the two assembly syntaxes: numbers, registers, pending label fix-ups.

Both parsers (`cfg.asm_llvm`, `cfg.asm_ubpf`) turn one line into a `Pending` instruction whose
jump target may still be a label name; `cfg.asm` resolves the labels once every pc is known.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from cfg.errors import AsmError
from cfg.isa import MAX_REG, Insn

NUM = r"[+-]?\s*(?:0[xX][0-9a-fA-F]+|\d+)"
_NUM_RE = re.compile(r"^([+-]?)\s*(0[xX][0-9a-fA-F]+|\d+)$")
IDENT_RE = re.compile(r"^[A-Za-z_.$][\w.$]*$")

S32_MIN, S32_MAX, U32_MAX = -(1 << 31), (1 << 31) - 1, (1 << 32) - 1


@dataclass(frozen=True)
class Pending:
    """An instruction whose jump or call target may still be a label.

    `field` says where the resolved relative offset goes: "off" (16-bit jumps) or "imm"
    (gotol, local calls, lddw of a code address)."""

    insn: Insn
    label: str | None = None
    field: str = "off"


def is_number(text: str) -> bool:
    return bool(_NUM_RE.match(text.strip()))


def parse_int(text: str, what: str = "number") -> int:
    """A decimal or 0x-hex integer with an optional sign; AsmError otherwise."""
    m = _NUM_RE.match(text.strip())
    if not m:
        raise AsmError(f"expected a {what}, got {text.strip()!r}")
    digits = m.group(2)
    value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 10)
    return -value if m.group(1) == "-" else value


def imm32(value: int, what: str = "immediate") -> int:
    """Fit a value in the signed 32-bit imm field; values up to 2**32-1 wrap (as llvm-mc does)."""
    if not S32_MIN <= value <= U32_MAX:
        raise AsmError(f"{what} {value} out of 32-bit range")
    return value - (1 << 32) if value > S32_MAX else value


def off16(value: int, what: str = "offset") -> int:
    """Fit a value in the signed 16-bit off field."""
    if not -0x8000 <= value <= 0x7FFF:
        raise AsmError(f"{what} {value} out of 16-bit range")
    return value


def reg_number(text: str, prefixes: str = "rw") -> int:
    """The number of a register written `r3` / `w3` (llvm) or `%r3` (ubpf)."""
    t = text.strip()
    m = re.match(r"^%?([a-z])(\d+)$", t)
    if not m or m.group(1) not in prefixes:
        raise AsmError(f"bad register {t!r}")
    n = int(m.group(2))
    if n > MAX_REG:
        raise AsmError(f"bad register {t!r} (registers are r0..r{MAX_REG})")
    return n


def hexs(value: int) -> str:
    """llvm-objdump's spelling of a signed immediate: `0x5`, `-0x5`."""
    return f"-0x{-value:x}" if value < 0 else f"0x{value:x}"


def rel(value: int) -> str:
    """llvm-objdump's spelling of a relative jump: `+0x3`, `-0x3`."""
    return f"-0x{-value:x}" if value < 0 else f"+0x{value:x}"


def strip_comment(line: str) -> str:
    """Drop `;`, `//` and `#` comments (a `#` only at the start or after a blank, so that the
    kernel log's `call bpf_map_lookup_elem#1` keeps its helper number)."""
    cut = len(line)
    for marker in (";", "//"):
        i = line.find(marker)
        if i >= 0:
            cut = min(cut, i)
    m = re.search(r"(^|\s)#", line)
    if m:
        cut = min(cut, m.start())
    return line[:cut].strip()


# --- pseudo lddw forms (RFC 9669 spelling), shared by both syntaxes ---------------------------
LDDW_SRC_NAMES = {1: "map_by_fd", 3: "var_addr", 4: "code_addr", 5: "map_by_idx"}
_SIMPLE = {"map_by_fd": 1, "var_addr": 3, "code_addr": 4, "map_by_idx": 5,
           # earlier bpfcheck spellings, still read
           "map_fd": 1, "btf_id": 3, "func": 4, "map_idx": 5}
_VALUE = {"map_by_fd": 2, "map_by_idx": 6}
_VALUE_ALIASES = {"map_value": 2, "map_idx_value": 6, "map_val": 2}  # map_val(3): PREVAIL
_PSEUDO_RE = re.compile(
    rf"^(?:map_val\s*\(\s*(map_by_fd|map_by_idx)\s*\(\s*([^()]*?)\s*\)\s*\)"
    rf"|(\w+)\s*\(\s*([^()]*?)\s*\))(?:\s*([+-])\s*({NUM}))?$")


def format_pseudo(insn: Insn, target: str) -> str:
    """The value of a pseudo lddw (src 1..6) in RFC 9669 spelling; `target` is the text of a
    code address (relative offset or label)."""
    if insn.src == 4:
        return f"code_addr({target})"
    if insn.src in (2, 6):
        inner = "map_by_fd" if insn.src == 2 else "map_by_idx"
        sign = "-" if insn.next_imm < 0 else "+"
        return f"map_val({inner}({insn.imm})) {sign} {abs(insn.next_imm)}"
    return f"{LDDW_SRC_NAMES[insn.src]}({insn.imm})"


def parse_pseudo(dst: int, text: str) -> Pending | None:
    """A pseudo lddw value (`map_by_fd(3)`, `map_val(map_by_idx(0)) + 8`, `code_addr(+2)`,
    `var_addr(7)`); None when `text` is not one. Map arguments may be map names, resolved
    later (Pending.field == "map")."""
    t = text.strip()
    pm = re.fullmatch(rf"map_fd\s+({NUM})", t)  # PREVAIL: `r1 = map_fd 3`
    if pm:
        t = f"map_by_fd({pm.group(1)})"
    m = _PSEUDO_RE.match(t)
    if not m:
        return None
    value_inner, value_arg, name, arg, sign, num = m.groups()
    if value_inner:
        src, arg = _VALUE[value_inner], value_arg
    elif name in _SIMPLE:
        src = _SIMPLE[name]
    elif name in _VALUE_ALIASES:
        src = _VALUE_ALIASES[name]
    else:
        return None
    extra = 0
    if num is not None:
        if src not in (2, 6):
            raise AsmError(f"{name}(...) takes no offset")
        value = parse_int(num)
        extra = imm32(-value if sign == "-" else value, "value offset")
    if src == 4:
        t = arg.strip()
        if t.startswith("pc") and is_number(t[2:]):
            t = t[2:]
        if is_number(t):
            return Pending(Insn(0x18, dst, src, 0, imm32(parse_int(t), "code offset")))
        if IDENT_RE.match(t):
            return Pending(Insn(0x18, dst, src), t, "imm")
        raise AsmError(f"bad code address {t!r}")
    if is_number(arg):
        return Pending(Insn(0x18, dst, src, 0, imm32(parse_int(arg), "map or variable id"),
                            extra))
    if src != 3 and IDENT_RE.match(arg.strip()):
        return Pending(Insn(0x18, dst, src, 0, 0, extra), arg.strip(), "map")
    raise AsmError(f"bad {'variable id' if src == 3 else 'map'} {arg.strip()!r}")
