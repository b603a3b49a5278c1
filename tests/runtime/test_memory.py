"""Regions, address resolution and the checked-mode fault messages."""
from __future__ import annotations

import ctypes

import pytest
from hypothesis import given, settings, strategies as st

from runtime.memory import Memory, MemoryFault


def test_addresses_are_real_and_resolve_to_their_region() -> None:
    mem = Memory()
    a = mem.add("a", "mem", 16, b"\x01\x02")
    b = mem.add("b", "mem", 32)
    assert mem.find(a.start) is a and mem.find(b.start + 31) is b
    assert ctypes.string_at(a.start, 2) == b"\x01\x02"  # the pointer is the host address
    assert mem.load(a.start, 2) == 0x0201


def test_regions_never_touch() -> None:
    mem = Memory()
    regions = [mem.add(f"r{i}", "mem", 8) for i in range(20)]
    for r in regions:
        assert mem.find(r.end) is None and mem.find(r.start - 1) is None


def test_fault_names_pc_address_size_and_nearest_region() -> None:
    mem = Memory()
    r = mem.add("stack frame 0", "stack", 512)
    with pytest.raises(MemoryFault) as exc:
        mem.load(r.end + 4, 4, pc=7)
    text = str(exc.value)
    assert exc.value.pc == 7
    assert f"{r.end + 4:#x}" in text and "4 bytes" in text
    assert "stack frame 0" in text and "4 bytes past the end" in text


def test_null_pointer_message() -> None:
    mem = Memory()
    mem.add("x", "mem", 8)
    with pytest.raises(MemoryFault, match="null"):
        mem.load(8, 8)


def test_read_only_and_unreadable_regions() -> None:
    mem = Memory()
    ro = mem.add("ro", "global", 8, b"abcdefgh", writable=False)
    hidden = mem.add("map object", "map_object", 8, readable=False, writable=False)
    assert mem.read(ro.start, 8) == b"abcdefgh"
    with pytest.raises(MemoryFault, match="read-only"):
        mem.store(ro.start, 1, 0)
    with pytest.raises(MemoryFault, match="not readable"):
        mem.load(hidden.start, 1)
    mem.write_raw(ro.start, b"X")  # user-space side may fill read-only maps
    assert mem.read(ro.start, 1) == b"X"


def test_access_straddling_the_end_traps() -> None:
    mem = Memory()
    r = mem.add("r", "mem", 8)
    with pytest.raises(MemoryFault):
        mem.load(r.start + 6, 4)


def test_move_and_remove() -> None:
    mem = Memory()
    r = mem.add("pkt", "packet", 64)
    epoch = mem.epoch
    mem.move(r, r.start + 8, r.start + 16)
    assert mem.epoch > epoch
    assert mem.find(r.start - 1) is None and mem.find(r.start) is r
    mem.remove(r)
    assert r.start == r.end == 0 and not mem.regions


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 100), min_size=1, max_size=12), st.data())
def test_find_agrees_with_a_linear_scan(sizes: list[int], data) -> None:
    mem = Memory()
    regions = [mem.add(f"r{i}", "mem", n) for i, n in enumerate(sizes)]
    r = data.draw(st.sampled_from(regions))
    off = data.draw(st.integers(-8, r.size + 8))
    size = data.draw(st.sampled_from([1, 2, 4, 8]))
    addr = r.start + off
    expected = [x for x in regions if x.start <= addr and addr + size <= x.end]
    got = mem.find(addr, size)
    assert (got is None and not expected) or got in expected
