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
