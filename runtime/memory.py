"""Memory regions with real host addresses, shared by the interpreter, the JIT and the AOT engine.

Every region (context, packet, stack frame, map value, global data, caller memory) is a ctypes
buffer; a pointer in a register is the buffer's real address plus an offset, exactly as in the
kernel. `Memory` keeps the regions sorted by address so that any address resolves to
(region, offset) with a bisect; an access outside every region, past a region's end, or a write
to a read-only region raises `MemoryFault` naming pc, address, size and the nearest region.
"""
from __future__ import annotations

import bisect
import ctypes
import struct

M64 = (1 << 64) - 1
# Unused bytes kept on both sides of every buffer, so that two regions never touch and an
# access just past one region can never land in the next one.
GUARD = 64
NULL_LIMIT = 0x10000

# struct formats for loads and stores by size (unsigned, little-endian as the eBPF target).
UNPACK = {1: struct.Struct("<B").unpack_from, 2: struct.Struct("<H").unpack_from,
          4: struct.Struct("<I").unpack_from, 8: struct.Struct("<Q").unpack_from}
PACK = {1: struct.Struct("<B").pack_into, 2: struct.Struct("<H").pack_into,
        4: struct.Struct("<I").pack_into, 8: struct.Struct("<Q").pack_into}


class VmError(Exception):
    """A run-time trap of the program (bad access, bad call, budget...); `pc` when known."""

    def __init__(self, message: str, pc: int | None = None) -> None:
        self.pc = pc
        self.detail = message
        super().__init__(f"pc {pc}: {message}" if pc is not None else message)


class MemoryFault(VmError):
    """An access outside our regions, past a region's end or a write to read-only memory."""


class Region:
    """A contiguous range [start, end) of host memory backed by `buf` (whose address is `base`).

    `start`/`end` may move inside the buffer (packet head/tail adjustments) so that cached
    lookups stay correct; a removed region gets start = end = 0. `kind` is one of ctx, packet,
    stack, map_value, global, mem, ringbuf, map_object, code."""

    __slots__ = ("name", "kind", "buf", "base", "start", "end", "readable", "writable",
                 "owner", "view", "views", "__weakref__")

    def __init__(self, name: str, kind: str, buf: ctypes.Array, start: int | None = None,
                 size: int | None = None, readable: bool = True, writable: bool = True,
                 owner: object = None) -> None:
        self.name = name
        self.kind = kind
        self.buf = buf
        self.base = ctypes.addressof(buf)
        self.view = memoryview(buf).cast("B")  # fast buffer export for struct
        # typed views by access size: an aligned access is one index (native little-endian)
        self.views = {1: self.view, 2: self.view.cast("H"), 4: self.view.cast("I"),
                      8: self.view.cast("Q")}
        self.start = self.base if start is None else start
        self.end = self.start + (ctypes.sizeof(buf) if size is None else size)
        self.readable = readable
        self.writable = writable
        self.owner = owner

    @property
    def size(self) -> int:
        return self.end - self.start

    def bytes(self) -> bytes:
        """The region's current contents (a copy through the buffer view: no ctypes call)."""
        if self.end <= self.start:
            return b""
        base = self.base
        return self.view[self.start - base:self.end - base].tobytes()

    def __repr__(self) -> str:
        return f"Region({self.name!r}, {self.kind}, {self.start:#x}..{self.end:#x})"


def alloc(size: int, data: bytes | None = None) -> ctypes.Array:
    """A zeroed ctypes buffer of `size` bytes (at least 8, 8-byte aligned), optionally filled."""
    buf = (ctypes.c_uint64 * max(1, (size + 7) // 8))()
    if data:
        ctypes.memmove(buf, data, len(data))
    return buf


class Memory:
    """The table of regions of one machine, sorted by start address."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._regions: list[Region] = []
        # Bumped whenever a region is removed or moved: engines that cache region bounds
        # drop their caches when it changes (regions only ever get added otherwise).
        self.epoch = 0

    # -- the table ------------------------------------------------------------------------
    def add_region(self, region: Region) -> Region:
        i = bisect.bisect_right(self._starts, region.start)
        self._starts.insert(i, region.start)
        self._regions.insert(i, region)
        return region

    def add(self, name: str, kind: str, size: int, data: bytes | None = None,
            writable: bool = True, readable: bool = True, owner: object = None) -> Region:
        """Allocate a new buffer of `size` bytes (filled from `data`) and register it."""
        buf = alloc(size + 2 * GUARD)
        start = ctypes.addressof(buf) + GUARD
        if data:
            ctypes.memmove(start, data, min(len(data), size))
        return self.add_region(Region(name, kind, buf, start, size, readable, writable, owner))

    def add_many(self, regions: list[Region]) -> None:
        """Register many regions at once (one sort instead of one insertion each)."""
        pairs = sorted(zip(self._starts + [r.start for r in regions],
                           range(len(self._regions) + len(regions))))
        every = self._regions + list(regions)
        self._starts = [s for s, _ in pairs]
        self._regions = [every[i] for _, i in pairs]

    def remove(self, region: Region) -> None:
        """Unregister a region; it no longer matches any address."""
        for i in range(bisect.bisect_left(self._starts, region.start), len(self._regions)):
            if self._regions[i] is region:
                del self._starts[i]
                del self._regions[i]
                break
        region.start = region.end = 0
        self.epoch += 1

    def move(self, region: Region, start: int, end: int) -> None:
        """Change a region's bounds inside its buffer (packet head/tail adjustments)."""
        self.remove(region)
        region.start, region.end = start, end
        self.add_region(region)
        self.epoch += 1

    @property
    def regions(self) -> list[Region]:
        return list(self._regions)

    # -- lookups --------------------------------------------------------------------------
    def find(self, addr: int, size: int = 1) -> Region | None:
        """The region containing [addr, addr + size), or None."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            r = self._regions[i]
            if addr + size <= r.end:
                return r
            # zero-sized regions sharing a start: look back for a larger one
            j = i - 1
            while j >= 0 and self._starts[j] == r.start:
                if addr + size <= self._regions[j].end:
                    return self._regions[j]
                j -= 1
        return None

    def nearest(self, addr: int) -> Region | None:
        """The region closest to `addr` (for error messages)."""
        if not self._regions:
            return None
        i = bisect.bisect_right(self._starts, addr)
        best, dist = None, None
        for j in range(max(0, i - 2), min(len(self._regions), i + 2)):
            r = self._regions[j]
            d = 0 if r.start <= addr < r.end else min(abs(addr - r.start), abs(addr - r.end))
            if dist is None or d < dist or (d == dist and r.size > best.size):
                best, dist = r, d
        return best

    def fault(self, addr: int, size: int, write: bool, pc: int | None, checked: bool = True,
              why: str = "") -> MemoryFault:
        """Build the error for a bad access (rich when checked)."""
        addr &= M64
        what = "write" if write else "read"
        msg = f"invalid {what} of {size} bytes at {addr:#x}"
        if why:
            msg += f" ({why})"
        if checked and addr < NULL_LIMIT:
            msg += "; a null (or near-null) pointer: no region lies below " + hex(NULL_LIMIT)
        elif checked:
            r = self.nearest(addr)
            if r is not None:
                if addr >= r.end:
                    rel = f"{addr - r.end} bytes past the end of"
                elif addr < r.start:
                    rel = f"{r.start - addr} bytes before"
                else:
                    rel = f"at offset {addr - r.start} of"
                msg += f"; {rel} {r.name} [{r.start:#x}, {r.end:#x}) size {r.end - r.start}"
        return MemoryFault(msg, pc)

    def resolve(self, addr: int, size: int, write: bool = False, pc: int | None = None,
                checked: bool = True) -> Region:
        """The region an access of `size` bytes at `addr` may use; MemoryFault otherwise."""
        r = self.find(addr, size) if size else self.find(addr, 0)
        if r is None or addr < r.start:
            raise self.fault(addr, size, write, pc, checked)
        if write and not r.writable:
            raise self.fault(addr, size, write, pc, checked, f"{r.name} is read-only")
        if not write and not r.readable:
            raise self.fault(addr, size, write, pc, checked, f"{r.name} is not readable")
        return r

    # -- typed access (helpers and the slow paths of the engines) --------------------------
    def load(self, addr: int, size: int, pc: int | None = None) -> int:
        r = self.resolve(addr, size, False, pc)
        return UNPACK[size](r.buf, addr - r.base)[0]

    def store(self, addr: int, size: int, value: int, pc: int | None = None) -> None:
        r = self.resolve(addr, size, True, pc)
        PACK[size](r.buf, addr - r.base, value & ((1 << (8 * size)) - 1))

    def read(self, addr: int, size: int, pc: int | None = None) -> bytes:
        """`size` bytes at `addr` (must lie in one readable region)."""
        if size == 0:
            return b""
        self.resolve(addr, size, False, pc)
        return ctypes.string_at(addr, size)

    def write(self, addr: int, data: bytes, pc: int | None = None) -> None:
        """Copy `data` to `addr` (must lie in one writable region)."""
        if data:
            self.resolve(addr, len(data), True, pc)
            ctypes.memmove(addr, data, len(data))

    def read_cstr(self, addr: int, limit: int = 4096, pc: int | None = None) -> bytes:
        """A NUL-terminated string starting at `addr` (without the NUL)."""
        r = self.resolve(addr, 1, False, pc)
        n = min(limit, r.end - addr)
        raw = ctypes.string_at(addr, n)
        cut = raw.find(b"\0")
        return raw if cut < 0 else raw[:cut]

    def write_raw(self, addr: int, data: bytes) -> None:
        """Copy `data` into a registered region ignoring write protection (user-space side)."""
        if data:
            if self.find(addr, len(data)) is None:
                raise self.fault(addr, len(data), True, None)
            ctypes.memmove(addr, data, len(data))
