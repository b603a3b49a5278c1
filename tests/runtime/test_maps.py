"""Runtime maps: kernel error codes, update flags, stable value addresses, JSON."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from cfg.program import MAP_TYPE_IDS, MapDef, Program
from runtime import maps as M


def mdef(type_: str, key: int = 4, value: int = 8, n: int = 4, **kw) -> MapDef:
    return MapDef(kw.pop("name", type_), MAP_TYPE_IDS[type_], key, value, n, **kw)


def k(i: int, size: int = 4) -> bytes:
    return i.to_bytes(size, "little")


def test_array_flags_and_errors() -> None:
    ms = M.MapSet([mdef("array")])
    a = ms["array"]
    assert a.update(k(1), b"x" * 8, M.BPF_NOEXIST) == -M.EEXIST
    assert a.update(k(4), b"x" * 8) == -M.E2BIG
    assert a.update(k(1), b"x" * 8, 7) == -M.EINVAL
    assert a.delete(k(1)) == -M.EINVAL
    assert a.update(k(1), b"abcdefgh", M.BPF_EXIST) == 0
    assert a.get(k(1)) == b"abcdefgh" and a.get(k(0)) == bytes(8)
    assert a.lookup_addr(k(4)) == 0


def test_array_value_regions_are_exact() -> None:
    ms = M.MapSet([mdef("array", value=6)])
    addr = ms["array"].lookup_addr(k(0))
    region = ms.memory.find(addr, 6)
    assert region is not None and region.size == 6  # not the 8-byte padded stride
    assert ms.memory.find(addr + 6, 1) is not ms.memory.find(addr, 1)


def test_hash_flags_and_errors() -> None:
    h = M.MapSet([mdef("hash", n=2)])["hash"]
    assert h.update(k(1), b"1" * 8, M.BPF_EXIST) == -M.ENOENT
    assert h.update(k(1), b"1" * 8, M.BPF_NOEXIST) == 0
    assert h.update(k(1), b"2" * 8, M.BPF_NOEXIST) == -M.EEXIST
    assert h.update(k(2), b"2" * 8) == 0
    assert h.update(k(3), b"3" * 8) == -M.E2BIG
    assert h.delete(k(3)) == -M.ENOENT
    assert h.delete(k(1)) == 0 and h.get(k(1)) is None


def test_hash_value_keeps_its_address_across_updates() -> None:
    ms = M.MapSet([mdef("hash")])
    h = ms["hash"]
    h.set(k(1), b"a" * 8)
    addr = h.lookup_addr(k(1))
    h.set(k(1), b"b" * 8)
    assert h.lookup_addr(k(1)) == addr and ms.memory.read(addr, 8) == b"b" * 8


def test_lru_evicts_least_recently_used() -> None:
    h = M.MapSet([mdef("lru_hash", n=2)])["lru_hash"]
    h.set(k(1), bytes(8))
    h.set(k(2), bytes(8))
    h.lookup_addr(k(1))  # 2 is now the oldest
    assert h.update(k(3), bytes(8)) == 0
    assert h.get(k(2)) is None and h.get(k(1)) is not None and h.get(k(3)) is not None


def test_ringbuf_reserve_submit_discard_output() -> None:
    rb = M.MapSet([mdef("ringbuf", key=0, value=0, n=64)])["ringbuf"]
    a = rb.reserve(8)
    assert a and rb.memory.find(a, 8) is not None
    rb.memory.write(a, b"12345678")
    assert rb.commit(a, keep=True)
    assert rb.memory.find(a, 1) is None  # a submitted record is no longer writable
    b = rb.reserve(8)
    assert rb.commit(b, keep=False)
    assert rb.output(b"xy") == 0
    assert rb.records == [b"12345678", b"xy"]
    assert rb.reserve(1000) == 0  # larger than the buffer
    assert rb.drain() == [b"12345678", b"xy"] and rb.records == []


def test_queue_and_stack() -> None:
    ms = M.MapSet([mdef("queue", key=0, value=4, n=2, name="q"),
                   mdef("stack", key=0, value=4, n=2, name="s")])
    for name, first in (("q", b"1111"), ("s", b"2222")):
        m = ms[name]
        assert m.push(b"1111", 0) == 0 and m.push(b"2222", 0) == 0
        assert m.push(b"3333", 0) == -M.E2BIG
        assert m.pop(remove=True) == first


def test_json_round_trip_and_errors() -> None:
    defs = [mdef("array", name="arr"), mdef("hash", name="h")]
    ms = M.MapSet(defs)
    ms.load_json(json.dumps({"arr": {"01000000": "0x0102030405060708"},
                             "h": {"07 00 00 00": "ffffffffffffffff"}}))
    dumped = ms.dump()
    assert dumped == {"arr": {"01000000": "0102030405060708"},
                      "h": {"07000000": "ffffffffffffffff"}}
    again = M.MapSet(defs)
    again.load(dumped)
    assert again.dump() == dumped
    for bad in ('{"nope": {}}', '{"arr": {"01": "00"}}', '{"arr": {"zz": "00"}}', "[1"):
        with pytest.raises(M.MapError):
            M.MapSet(defs).load_json(bad)


def test_prog_array_and_map_of_maps_from_json() -> None:
    inner = mdef("array", name="inner_t", n=2)
    defs = [mdef("prog_array", value=4, name="jmp"),
            mdef("array_of_maps", value=4, name="outer", inner=inner)]
    target = Program([], name="target")
    ms = M.MapSet(defs, programs={"target": target})
    ms.load({"jmp": {"02000000": "target"}, "outer": {"00000000": {"01000000": "11" * 8}}})
    assert ms["jmp"].programs[2] is target
    inner_addr = ms["outer"].lookup_addr(k(0))
    inner_map = ms.by_address(inner_addr)
    assert inner_map is not None and inner_map.get(k(1)) == b"\x11" * 8
    with pytest.raises(M.MapError, match="unknown program"):
        M.MapSet(defs).load({"jmp": {"00000000": "missing"}})


def test_global_data_initial_value_and_read_only() -> None:
    ms = M.MapSet([mdef("array", value=4, n=1, name=".rodata", kind="rodata",
                        initial_value=b"\x2a\0\0\0")])
    m = ms[".rodata"]
    addr = m.lookup_addr(k(0))
    assert ms.memory.read(addr, 4) == b"\x2a\0\0\0"
    assert not ms.memory.find(addr, 4).writable


def test_unsupported_map_type_is_a_clear_error() -> None:
    with pytest.raises(M.MapError, match="not supported"):
        M.MapSet([mdef("struct_ops")])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["update", "delete"]), st.integers(0, 5),
                          st.sampled_from([M.BPF_ANY, M.BPF_NOEXIST, M.BPF_EXIST])),
                max_size=30))
def test_hash_map_matches_a_dict_model(ops) -> None:
    h = M.MapSet([mdef("hash", n=4)])["hash"]
    model: dict[int, bytes] = {}
    for i, (op, key, flags) in enumerate(ops):
        value = i.to_bytes(8, "little")
        if op == "delete":
            expect = 0 if key in model else -M.ENOENT
            model.pop(key, None)
            assert h.delete(k(key)) == expect
            continue
        if key in model:
            expect = -M.EEXIST if flags == M.BPF_NOEXIST else 0
        elif flags == M.BPF_EXIST:
            expect = -M.ENOENT
        else:
            expect = -M.E2BIG if len(model) >= 4 else 0
        if expect == 0:
            model[key] = value
        assert h.update(k(key), value, flags) == expect
    assert {int.from_bytes(kk, "little"): v for kk, v in h.items()} == model


def test_reading_past_an_array_element_traps_instead_of_reading_the_next_one():
    """Elements are kept apart by a guard gap: the checked run is an oracle for map-value
    bounds (regression: an 8-byte read at offset 16 of a 16-byte value used to land in the
    next element without a trap)."""
    from cfg.asm import assemble
    from cfg.program import MAP_TYPE_IDS, MapDef, Program
    from runtime import vm

    stats = MapDef("stats", MAP_TYPE_IDS["array"], 4, 16, 4)
    text = """
        r1 = 0
        *(u32 *)(r10 - 4) = r1
        r1 = map_by_idx(0)
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto out
        r0 = *(u64 *)(r0 + {off})
    out:
        exit
    """
    inside = vm.run(Program(assemble(text.format(off=8)), maps=[stats]))
    assert inside.error is None
    past = vm.run(Program(assemble(text.format(off=16)), maps=[stats]))
    assert past.error is not None and "past the end of stats[0]" in past.error
