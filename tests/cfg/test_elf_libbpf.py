"""The loader against libbpf itself: open every object with the system libbpf (through ctypes,
nothing is loaded into the kernel) and compare the programs, their types and sizes, and the maps
it sees with ours. Objects libbpf 1.x refuses (legacy `maps` sections, Windows objects) are
compared only where it agrees to open them; at least the fixtures must open."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct

import pytest

from _elf_helpers import FIXTURES, all_objects
from cfg.elf import load_object
from cfg.sections import SECTION_TYPES, _strict_match


def _libbpf():
    name = ctypes.util.find_library("bpf")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    p = ctypes.c_void_p
    sigs = {
        "bpf_object__open_file": (p, [ctypes.c_char_p, p]),
        "bpf_object__close": (None, [p]),
        "bpf_object__next_program": (p, [p, p]),
        "bpf_object__next_map": (p, [p, p]),
        "bpf_program__name": (ctypes.c_char_p, [p]),
        "bpf_program__section_name": (ctypes.c_char_p, [p]),
        "bpf_program__type": (ctypes.c_int, [p]),
        "bpf_program__insn_cnt": (ctypes.c_size_t, [p]),
        "libbpf_bpf_prog_type_str": (ctypes.c_char_p, [ctypes.c_int]),
        "bpf_map__name": (ctypes.c_char_p, [p]),
        "bpf_map__type": (ctypes.c_int, [p]),
        "bpf_map__key_size": (ctypes.c_uint32, [p]),
        "bpf_map__value_size": (ctypes.c_uint32, [p]),
        "bpf_map__max_entries": (ctypes.c_uint32, [p]),
        "bpf_map__is_internal": (ctypes.c_bool, [p]),
        "libbpf_get_error": (ctypes.c_long, [p]),
        "libbpf_set_print": (p, [p]),
        "bpf_object__load": (ctypes.c_int, [p]),
        "bpf_program__insns": (p, [p]),
        "bpf_map__fd": (ctypes.c_int, [p]),
    }
    for fn, (res, args) in sigs.items():
        getattr(lib, fn).restype = res
        getattr(lib, fn).argtypes = args
    lib.libbpf_set_print(None)  # silence libbpf's warnings
    return lib


LIBBPF = _libbpf()


def libbpf_view(path):
    """(programs, maps) as libbpf sees them after bpf_object__open, or None if it refuses."""
    obj = LIBBPF.bpf_object__open_file(str(path).encode(), None)
    if not obj or LIBBPF.libbpf_get_error(obj):
        return None
    try:
        programs, maps = [], []
        prog = LIBBPF.bpf_object__next_program(obj, None)
        while prog:
            programs.append((LIBBPF.bpf_program__section_name(prog).decode(),
                             LIBBPF.bpf_program__name(prog).decode(),
                             LIBBPF.libbpf_bpf_prog_type_str(
                                 LIBBPF.bpf_program__type(prog)).decode(),
                             LIBBPF.bpf_program__insn_cnt(prog)))
            prog = LIBBPF.bpf_object__next_program(obj, prog)
        m = LIBBPF.bpf_object__next_map(obj, None)
        while m:
            maps.append((LIBBPF.bpf_map__name(m).decode(), LIBBPF.bpf_map__is_internal(m),
                         LIBBPF.bpf_map__type(m), LIBBPF.bpf_map__key_size(m),
                         LIBBPF.bpf_map__value_size(m), LIBBPF.bpf_map__max_entries(m)))
            m = LIBBPF.bpf_object__next_map(obj, m)
        return programs, maps
    finally:
        LIBBPF.bpf_object__close(obj)


needs_libbpf = pytest.mark.skipif(LIBBPF is None, reason="libbpf.so is not installed")


@needs_libbpf
def test_libbpf_opens_our_fixtures():
    refused = {p.name for p in sorted(FIXTURES.glob("*.o")) if libbpf_view(p) is None}
    # libbpf 1.x refuses legacy `maps` sections; before 1.3 it cannot read __ulong().
    assert refused <= {"struct_ops_legacy.o", "ulong_maps.o"}
    assert "struct_ops_legacy.o" in refused


@needs_libbpf
@pytest.mark.parametrize("path", all_objects(), ids=lambda p: p.name)
def test_programs_and_maps_match_libbpf(path):
    view = libbpf_view(path)
    if view is None:
        return  # libbpf 1.x refuses the object (legacy maps); nothing to compare
    programs, maps = view
    obj = load_object(path)
    ours = [(p.section, p.name, p.type, p.functions[0].end - p.functions[0].start)
            for p in obj.programs]
    # bpfcheck also treats a code section without function symbols (old toolchains) as one
    # program, and offers the global .text functions when there is no SEC() program at all;
    # libbpf 1.x sees nothing in both cases.
    symbols = {(f.section, f.name) for f in obj.functions}
    ours = [p for p in ours if p[:2] in symbols and programs]
    assert sorted(p[:2] for p in ours) == sorted(p[:2] for p in programs)
    theirs = {p[:2]: p for p in programs}
    for section, name, prog_type, size in ours:
        _, _, their_type, their_size = theirs[(section, name)]
        assert size == their_size
        strict = any(_strict_match(pattern, section) for pattern, _ in SECTION_TYPES)
        if strict or their_type != "unspec":
            assert prog_type == their_type, (section, name)
    assert len(maps) == len(obj.maps)
    for ours_map, (name, internal, mtype, key, value, entries) in zip(obj.maps, maps):
        assert (ours_map.type, ours_map.key_size, ours_map.value_size, ours_map.max_entries) \
            == (mtype, key, value, entries), name
        if internal:  # libbpf prefixes the object name: "calls_an.rodata"
            assert name.endswith(ours_map.name[: len(name)].split(".", 1)[-1][:8]) or \
                ours_map.name.startswith("." + name.split(".", 1)[-1][:6])
        else:
            assert ours_map.name == name


def libbpf_loaded_insns(path):
    """{program name: relocated slots} after libbpf loads the object into the kernel, with map
    references as (src, map index, offset); None when libbpf or the kernel refuses it."""
    obj = LIBBPF.bpf_object__open_file(str(path).encode(), None)
    if not obj or LIBBPF.libbpf_get_error(obj):
        return None
    try:
        if LIBBPF.bpf_object__load(obj) != 0:
            return None
        fds, m = {}, LIBBPF.bpf_object__next_map(obj, None)
        while m:
            fds[LIBBPF.bpf_map__fd(m)] = len(fds)
            m = LIBBPF.bpf_object__next_map(obj, m)
        out, prog = {}, LIBBPF.bpf_object__next_program(obj, None)
        while prog:
            count = LIBBPF.bpf_program__insn_cnt(prog)
            raw = ctypes.string_at(LIBBPF.bpf_program__insns(prog), count * 8)
            out[LIBBPF.bpf_program__name(prog).decode()] = [
                list(struct.unpack_from("<BBhi", raw, i * 8)) for i in range(count)], fds
            prog = LIBBPF.bpf_object__next_program(obj, prog)
        return out
    finally:
        LIBBPF.bpf_object__close(obj)


def our_slots(prog) -> list[list[int]]:
    from cfg.isa import encode
    raw = encode(prog.insns)
    return [list(struct.unpack_from("<BBhi", raw, i * 8)) for i in range(len(raw) // 8)]


@needs_libbpf
@pytest.mark.kernel
def test_relocated_programs_match_what_libbpf_loads():
    """Load every object the kernel accepts with libbpf and compare the relocated instructions
    slot by slot: subprogram order, call offsets, map and global-data references."""
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    compared = 0
    for path in all_objects():
        if path.name.startswith("bad_"):
            continue  # deliberately unsafe corpus programs: the kernel rejects them (slowly)
        loaded = libbpf_loaded_insns(path)
        if loaded is None:
            continue  # refused by libbpf (legacy maps) or by the kernel (the unsafe corpus)
        for prog in load_object(path).programs:
            if prog.name not in loaded:
                continue
            theirs, fds = loaded[prog.name]
            ours = our_slots(prog)
            assert len(ours) == len(theirs), (path.name, prog.name)
            core = {r.pc for r in prog.core_relocs}
            for pc, (a, b) in enumerate(zip(ours, theirs)):
                if pc in core:
                    continue  # libbpf applied CO-RE against the running kernel
                if a[0] == 0x18 and (a[1] >> 4) in (5, 6):  # ours: map index (+ offset)
                    src = (a[1] >> 4) - 4                    # theirs: map fd (+ offset)
                    assert (b[1] >> 4, fds.get(b[3])) == (src, a[3]), (path.name, pc)
                    assert ours[pc + 1] == theirs[pc + 1], (path.name, pc)
                elif a[0] == 0x85 and (a[1] >> 4) == 2:     # kfunc: libbpf puts kernel BTF ids
                    assert b[0] == 0x85 and (b[1] >> 4) == 2
                elif pc == 0 or not (ours[pc - 1][0] == 0x18
                                     and (ours[pc - 1][1] >> 4) in (5, 6)):
                    assert a == b, (path.name, prog.name, pc)
            compared += 1
    if compared == 0:
        pytest.skip("the kernel accepted none of the objects")
    assert compared >= 10
