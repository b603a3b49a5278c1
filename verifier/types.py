"""The register type lattice: a value's type is a set of possible types, kept as a bit mask.

A register (or spilled stack cell) whose type differs across joined paths keeps the union of
the types; the numeric variables of each type (`ctx_offset`, `packet_offset`, ...) stay in the
numeric domain, so per-type offsets survive the join.
"""
from __future__ import annotations

UNINIT = 1 << 0
NUMBER = 1 << 1
CTX = 1 << 2
STACK = 1 << 3
PACKET = 1 << 4
SHARED = 1 << 5
MAP_FD = 1 << 6
MAP_FD_PROGRAMS = 1 << 7
FUNC = 1 << 8

TYPE_NAMES: dict[int, str] = {
    UNINIT: "uninit", NUMBER: "number", CTX: "ctx", STACK: "stack", PACKET: "packet",
    SHARED: "shared", MAP_FD: "map_fd", MAP_FD_PROGRAMS: "map_fd_programs", FUNC: "func",
}
TYPE_BITS: dict[str, int] = {name: bit for bit, name in TYPE_NAMES.items()}
ALL = sum(TYPE_NAMES)
INITIALISED = ALL & ~UNINIT
POINTERS = CTX | STACK | PACKET | SHARED
MEMORY = POINTERS
NON_NUMBERS = INITIALISED & ~NUMBER

# Numeric variables (`<value>.<field>`) that carry meaning for each type.
FIELDS_OF: dict[int, tuple[str, ...]] = {
    UNINIT: (),
    NUMBER: ("svalue", "uvalue"),
    CTX: ("ctx_offset",),
    STACK: ("stack_offset", "stack_numeric_size"),
    PACKET: ("packet_offset",),
    SHARED: ("shared_offset", "shared_region_size", "map_fd"),  # map_fd: which map, if known
    MAP_FD: ("map_fd",),
    MAP_FD_PROGRAMS: ("map_fd",),
    FUNC: ("svalue",),
}
ALL_FIELDS = ("svalue", "uvalue", "ctx_offset", "stack_offset", "stack_numeric_size",
              "packet_offset", "shared_offset", "shared_region_size", "map_fd", "zext", "id",
              "region")
# `zext`: a number's value before `r <<= 32` (so that `r >>= 32` right after is known exact).
# `id`: the pc of the helper call that returned a maybe-NULL pointer; copies keep it, so a NULL
# check on one copy refines all of them (as the kernel's register ids do).
# `region`: which single type (`region_code`) a value of several possible types really has,
# recorded when paths of different types join, so the zone keeps `r1.region = r2.region`
# (two values that took their type on the same path are in the same region).
OFFSET_FIELD = {CTX: "ctx_offset", STACK: "stack_offset", PACKET: "packet_offset",
                SHARED: "shared_offset"}


def bits(mask: int) -> list[int]:
    """The single-type bits of a mask, in a stable order."""
    return [b for b in TYPE_NAMES if mask & b]


def fields(mask: int) -> tuple[str, ...]:
    """The numeric fields relevant to any type of the mask (stable order, no duplicates)."""
    out: list[str] = []
    for b in TYPE_NAMES:
        if mask & b:
            for f in FIELDS_OF[b]:
                if f not in out:
                    out.append(f)
    return tuple(out)


def name(mask: int) -> str:
    """Printable type: `number`, `{number, shared}`, `bottom` for the empty set."""
    names = [TYPE_NAMES[b] for b in bits(mask)]
    if not names:
        return "bottom"
    if len(names) == 1:
        return names[0]
    return "{" + ", ".join(names) + "}"


def parse(text: str) -> int:
    """Inverse of `name` (accepts a single name or `{a, b}`); ValueError on unknown names."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        parts = [p.strip() for p in text[1:-1].split(",") if p.strip()]
    else:
        parts = [text]
    mask = 0
    for p in parts:
        if p not in TYPE_BITS:
            raise ValueError(f"unknown type {p!r}")
        mask |= TYPE_BITS[p]
    return mask


def is_single(mask: int) -> bool:
    """True when exactly one type is possible."""
    return mask != 0 and mask & (mask - 1) == 0


def region_code(mask: int) -> int:
    """The number `region` holds for a single type (its bit position)."""
    return mask.bit_length()
