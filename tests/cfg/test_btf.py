"""BTF and BTF.ext parsing: every kind, round trips through a test-side encoder, bad input."""
from __future__ import annotations

import functools
import io
import struct

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import given, settings
from hypothesis import strategies as st

from _elf_helpers import FIXTURES, fixture
from cfg.btf import KINDS, BtfType, parse_btf
from cfg.btf_ext import CORE_KINDS, parse_btf_ext
from cfg.elf import load_object
from cfg.errors import ElfError

KIND_IDS = {name: num for num, name in KINDS.items()}


# --- a small BTF encoder (test side only) -----------------------------------------------------
class Encoder:
    """Builds a .BTF blob from BtfType values; names are added to a fresh string table."""

    def __init__(self) -> None:
        self.strings = bytearray(b"\0")
        self.offsets: dict[str, int] = {"": 0}

    def name(self, text: str) -> int:
        if text not in self.offsets:
            self.offsets[text] = len(self.strings)
            self.strings += text.encode() + b"\0"
        return self.offsets[text]

    def type(self, t: BtfType) -> bytes:
        kind = KIND_IDS[t.kind]
        vlen = {"struct": len(t.members), "union": len(t.members), "enum": len(t.values),
                "enum64": len(t.values), "func_proto": len(t.params), "datasec": len(t.secinfo),
                "func": t.linkage}.get(t.kind, 0)
        info = vlen | (kind << 24) | (int(t.kind_flag) << 31)
        size_or_type = t.size if t.kind in ("int", "struct", "union", "enum", "enum64",
                                            "datasec", "float") else t.type
        out = struct.pack("<III", self.name(t.name), info, size_or_type)
        if t.kind == "int":
            out += struct.pack("<I", (t.encoding << 24) | (t.bit_offset << 16) | t.bits)
        elif t.kind == "array":
            out += struct.pack("<III", t.type, t.index_type, t.nelems)
        elif t.kind in ("struct", "union"):
            for m in t.members:
                off = (m.bitfield_size << 24 | m.bit_offset) if t.kind_flag else m.bit_offset
                out += struct.pack("<III", self.name(m.name), m.type, off)
        elif t.kind == "enum":
            for v in t.values:
                out += struct.pack("<II", self.name(v.name), v.value & 0xFFFFFFFF)
        elif t.kind == "enum64":
            for v in t.values:
                raw = v.value & (1 << 64) - 1
                out += struct.pack("<III", self.name(v.name), raw & 0xFFFFFFFF, raw >> 32)
        elif t.kind == "func_proto":
            for p in t.params:
                out += struct.pack("<II", self.name(p.name), p.type)
        elif t.kind == "var":
            out += struct.pack("<I", t.linkage)
        elif t.kind == "datasec":
            for s in t.secinfo:
                out += struct.pack("<III", s.type, s.offset, s.size)
        elif t.kind == "decl_tag":
            out += struct.pack("<i", t.component_idx)
        return out

    def build(self, types: list[BtfType]) -> bytes:
        body = b"".join(self.type(t) for t in types)
        header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body),
                             len(self.strings))
        return header + body + bytes(self.strings)


# Hypothesis: a list of types whose references point at earlier ids (or void).
names = st.text(alphabet="abcdefghijklmnop_", max_size=6)


@st.composite
def btf_types(draw):
    from cfg.btf import BtfEnumValue, BtfMember, BtfParam, BtfVarSecinfo

    count = draw(st.integers(1, 12))
    types = []
    for tid in range(1, count + 1):
        ref = st.integers(0, tid - 1)
        kind = draw(st.sampled_from(sorted(set(KINDS.values()) - {"unknown"})))
        name = draw(names)
        base = dict(id=tid, kind=kind, name=name)
        if kind == "int":
            t = BtfType(size=draw(st.sampled_from([1, 2, 4, 8, 16])),
                        encoding=draw(st.sampled_from([0, 1, 2, 4])),
                        bits=draw(st.integers(0, 128)), bit_offset=draw(st.integers(0, 255)),
                        **base)
        elif kind == "array":
            t = BtfType(type=draw(ref), index_type=draw(ref),
                        nelems=draw(st.integers(0, (1 << 32) - 1)), **base)
        elif kind in ("struct", "union"):
            kflag = draw(st.booleans())
            members = tuple(BtfMember(draw(names), draw(ref), draw(st.integers(0, (1 << 24) - 1)),
                                      draw(st.integers(0, 255)) if kflag else 0)
                            for _ in range(draw(st.integers(0, 4))))
            t = BtfType(size=draw(st.integers(0, 1 << 16)), members=members, kind_flag=kflag,
                        **base)
        elif kind == "enum":
            signed = draw(st.booleans())
            lo = -(1 << 31) if signed else 0
            values = tuple(BtfEnumValue(draw(names), draw(st.integers(lo, lo + (1 << 32) - 1)))
                           for _ in range(draw(st.integers(0, 4))))
            t = BtfType(size=4, values=values, kind_flag=signed, **base)
        elif kind == "enum64":
            signed = draw(st.booleans())
            lo = -(1 << 63) if signed else 0
            values = tuple(BtfEnumValue(draw(names), draw(st.integers(lo, lo + (1 << 64) - 1)))
                           for _ in range(draw(st.integers(0, 4))))
            t = BtfType(size=8, values=values, kind_flag=signed, **base)
        elif kind == "func_proto":
            params = tuple(BtfParam(draw(names), draw(ref)) for _ in range(draw(st.integers(0, 4))))
            t = BtfType(type=draw(ref), params=params, **base)
        elif kind == "func":
            t = BtfType(type=draw(ref), linkage=draw(st.integers(0, 2)), **base)
        elif kind == "var":
            t = BtfType(type=draw(ref), linkage=draw(st.integers(0, 2)), **base)
        elif kind == "datasec":
            infos = tuple(BtfVarSecinfo(draw(ref), draw(st.integers(0, 1 << 20)),
                                        draw(st.integers(0, 64)))
                          for _ in range(draw(st.integers(0, 3))))
            t = BtfType(size=draw(st.integers(0, 1 << 20)), secinfo=infos, **base)
        elif kind == "float":
            t = BtfType(size=draw(st.sampled_from([2, 4, 8, 12, 16])), **base)
        elif kind == "decl_tag":
            t = BtfType(type=draw(ref), component_idx=draw(st.integers(-1, 8)), **base)
        elif kind == "fwd":
            t = BtfType(kind_flag=draw(st.booleans()), **base)
        else:  # ptr, typedef, volatile, const, restrict, type_tag
            t = BtfType(type=draw(ref), **base)
        types.append(t)
    return types


@settings(max_examples=200, deadline=None)
@given(btf_types())
def test_parse_inverts_the_encoder(types):
    btf = parse_btf(Encoder().build(types))
    assert btf.types[1:] == types
    for t in types:
        assert btf.find(t.name) is not None or not t.name


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_raises_only_elf_error(blob):
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(blob) // 2, len(blob) // 2,
                         len(blob) - len(blob) // 2)
    for data in (blob, header + blob):
        try:
            btf = parse_btf(data)
        except ElfError:
            continue
        for t in btf:  # whatever parsed must be consistent enough to query
            btf.type_name(t.id)
            try:
                btf.size_of(t.id)
            except ElfError:
                pass


@functools.lru_cache(maxsize=1)
def _core_btf():
    return load_object(fixture("core_btf.o")).btf


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_btf_ext_raises_only_elf_error(blob):
    btf = _core_btf()
    header = struct.pack("<HBBIIIIIII", 0xEB9F, 1, 0, 32, 0, len(blob) // 3, len(blob) // 3,
                         len(blob) // 3, 2 * (len(blob) // 3), len(blob) - 2 * (len(blob) // 3))
    for data in (blob, header + blob):
        try:
            parse_btf_ext(data, btf)
        except ElfError:
            pass


# --- real objects ---------------------------------------------------------------------------
def section_data(path, name) -> bytes:
    return ELFFile(io.BytesIO(path.read_bytes())).get_section_by_name(name).data()


def test_fixtures_cover_every_kind():
    kinds = set()
    for path in sorted(FIXTURES.glob("*.o")):
        obj = load_object(path)
        if obj.btf:
            kinds |= {t.kind for t in obj.btf}
    assert kinds == set(KINDS.values()) - {"unknown"}


def test_types_of_the_core_fixture():
    btf = load_object(fixture("core_btf.o")).btf
    task = btf.find("task_like", "struct")
    assert [m.name for m in task.members] == ["pid", "tgid", "parent", "comm"]
    assert [m.bit_offset for m in task.members] == [0, 32, 64, 128]
    assert btf.size_of(task.id) == task.size == 32
    assert btf.type_name(task.members[2].type) == "struct task_like *"
    assert btf.type_name(task.members[3].type) == "char[16]"
    big = btf.find("big_values")
    assert big.kind == "enum64" and {v.name: v.value for v in big.values}["BIG_HUGE"] == 1 << 32
    tag = btf.find("bpfcheck_tag", "decl_tag")
    assert btf.type(tag.type).name == "tagged_global" and tag.component_idx == -1
    user = btf.find("user", "type_tag")
    assert btf.resolve(user.id).name == "int"
    assert btf.type_name(btf.find("scale", "var").type) == "const volatile float"
    assert btf.find("never_defined", "fwd") is not None
    assert btf.size_of(btf.find("number", "union").id) == 4


def test_datasec_sizes_and_offsets_are_fixed_from_the_elf():
    path = fixture("btf_maps.o")
    raw = parse_btf(section_data(path, ".BTF"))
    assert raw.datasec(".maps").size == 0  # clang leaves it to the loader
    btf = load_object(path).btf
    maps = btf.datasec(".maps")
    elf = ELFFile(io.BytesIO(path.read_bytes()))
    assert maps.size == elf.get_section_by_name(".maps")["sh_size"]
    symbols = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()}
    for info in maps.secinfo:
        assert info.offset == symbols[btf.type(info.type).name]
    assert [i.offset for i in maps.secinfo] == sorted(i.offset for i in maps.secinfo)


def test_btf_ext_records():
    path = fixture("calls_and_data.o")
    obj = load_object(path)
    ext = obj.btf_ext
    assert {f.name for f in ext.func_info[".text"]} == {"global_helper", "twice_plus_one",
                                                        "add_one", "loop_cb"}
    assert [f.name for f in ext.func_info["xdp"]] == ["first", "second"]
    for records in ext.line_info.values():
        for rec in records:
            assert rec.file.endswith("calls_and_data.c") and rec.line > 0 and rec.column >= 0
    core = load_object(fixture("core_btf.o")).btf_ext.core_relocs
    kinds = {r.kind for records in core.values() for r in records}
    assert kinds <= set(CORE_KINDS) and "field_byte_offset" in kinds


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b"\xeb\x9f" + b[2:], "big-endian"),
    (lambda b: b"\x00\x00" + b[2:], "bad magic"),
    (lambda b: b[:2] + b"\x02" + b[3:], "unsupported version"),
    (lambda b: b[:10], "too short"),
    (lambda b: b[:-40], "outside the data"),
])
def test_bad_btf_header(mutate, message):
    data = section_data(fixture("calls_and_data.o"), ".BTF")
    with pytest.raises(ElfError, match=message):
        parse_btf(mutate(data))


def test_dangling_type_reference():
    enc = Encoder()
    blob = enc.build([BtfType(1, "ptr", type=5)])
    with pytest.raises(ElfError, match="missing target type 5"):
        parse_btf(blob)
