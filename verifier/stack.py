"""The stack array domain: byte-addressed, as PREVAIL's array domain.

`Stack` records which bytes are initialised on every path (`init`, a bit set over byte
offsets), which bytes may hold leftover bits of a pointer that is no longer tracked (`ptr`),
and the cells that hold a tracked value (`cells`: offset -> size). A cell is a value like a
register: its type and numeric variables (`s[504...511].svalue`, ...) live in the state's type
map and numeric domain under `cell_name(offset, size)`. Cells never overlap; a store kills
every cell it overlaps. Offsets are absolute: frame 0's r10 is `STACK_TOP`, each call frame
sits 512 bytes lower.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cfg.errors import BpfcheckError


def cell_name(offset: int, size: int) -> str:
    """The value name of the cell at [offset, offset + size): `s[504...511]` or `s[7]`."""
    if size == 1:
        return f"s[{offset}]"
    return f"s[{offset}...{offset + size - 1}]"


def _mask(lo: int, hi: int) -> int:
    """Bit set of the byte offsets in [lo, hi)."""
    if hi <= lo:
        return 0
    if lo < 0:
        raise BelowStack(lo)
    return ((1 << (hi - lo)) - 1) << lo


class BelowStack(BpfcheckError):
    """A frame reaching below byte offset 0: the stack top leaves no room for it (a YAML case
    that puts r10 at 512 and then calls a function that uses its stack)."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"stack byte offset {offset} is below 0: the stack top leaves no room "
                         f"for this call frame")


def ranges(bitset: int) -> list[tuple[int, int]]:
    """The maximal [lo, hi) runs of set bits, ascending."""
    out: list[tuple[int, int]] = []
    pos = 0
    while bitset:
        if bitset & 1:
            run = (bitset ^ (bitset + 1)).bit_length() - 1  # count of trailing ones
            out.append((pos, pos + run))
            bitset >>= run
            pos += run
        else:
            skip = (bitset & -bitset).bit_length() - 1      # count of trailing zeros
            bitset >>= skip
            pos += skip
    return out


@dataclass(slots=True)
class Stack:
    """Initialised bytes, maybe-pointer bytes and tracked cells of the stack (mutable)."""

    init: int = 0
    ptr: int = 0
    cells: dict[int, int] = field(default_factory=dict)

    def copy(self) -> "Stack":
        return Stack(self.init, self.ptr, dict(self.cells))

    # ---- queries
    def is_init(self, lo: int, hi: int) -> bool:
        """Every byte of [lo, hi) is initialised."""
        m = _mask(lo, hi)
        return self.init & m == m

    def uninit_ranges(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The runs of bytes of [lo, hi) not known to be initialised."""
        return ranges(_mask(lo, hi) & ~self.init)

    def has_ptr_bytes(self, lo: int, hi: int) -> bool:
        """Some byte of [lo, hi) may hold part of an untracked pointer."""
        return bool(self.ptr & _mask(lo, hi))

    def overlapping(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Cells (offset, size) that share a byte with [lo, hi)."""
        return [(o, s) for o, s in self.cells.items() if o < hi and lo < o + s]

    def cell(self, offset: int, size: int) -> str | None:
        """The name of the cell exactly at [offset, offset + size), if there is one."""
        return cell_name(offset, size) if self.cells.get(offset) == size else None

    def numeric_size(self, offset: int, numbers: int) -> int:
        """How many initialised bytes start at `offset` (bounded by `numbers` bits end)."""
        n = 0
        if offset < 0:
            raise BelowStack(offset)
        while (self.init >> (offset + n)) & 1 and not (self.ptr >> (offset + n)) & 1:
            n += 1
            if n > 4096:
                break
        return n

    # ---- updates
    def remove_cell(self, offset: int) -> None:
        self.cells.pop(offset, None)

    def write(self, lo: int, hi: int) -> None:
        """Bytes [lo, hi) now hold a new value: initialised, no pointer leftovers."""
        m = _mask(lo, hi)
        self.init |= m
        self.ptr &= ~m

    def mark_ptr(self, lo: int, hi: int) -> None:
        """Bytes [lo, hi) may keep bits of a pointer whose cell was dropped."""
        self.ptr |= _mask(lo, hi)

    def havoc(self, lo: int, hi: int) -> None:
        """Bytes [lo, hi) become uninitialised (a dead call frame)."""
        m = _mask(lo, hi)
        self.init &= ~m
        self.ptr &= ~m

    # ---- lattice (the caller handles the cells' types and numeric variables)
    def join(self, other: "Stack") -> "Stack":
        common = {o: s for o, s in self.cells.items() if other.cells.get(o) == s}
        return Stack(self.init & other.init, self.ptr | other.ptr, common)

    def leq(self, other: "Stack") -> bool:
        """Every byte initialised in `other` is in self; self keeps other's cells."""
        if other.init & ~self.init or self.ptr & ~other.ptr:
            return False
        return all(self.cells.get(o) == s for o, s in other.cells.items())
