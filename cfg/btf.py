"""BTF (the BPF Type Format) of an object's `.BTF` section, parsed by our own code.

`parse_btf(bytes) -> Btf` reads the header, the string table and every type kind (INT, PTR,
ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR,
DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64). Type ids start at 1; id 0 is `void`. The loader
uses it for `.maps` definitions, global-data sections and `.BTF.ext` (see `cfg.btf_ext`).
Malformed input raises `ElfError` (the loader adds the file name).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Iterator

from cfg.errors import ElfError

BTF_MAGIC = 0xEB9F
KINDS = {
    0: "unknown", 1: "int", 2: "ptr", 3: "array", 4: "struct", 5: "union", 6: "enum", 7: "fwd",
    8: "typedef", 9: "volatile", 10: "const", 11: "restrict", 12: "func", 13: "func_proto",
    14: "var", 15: "datasec", 16: "float", 17: "decl_tag", 18: "type_tag", 19: "enum64",
}
# Kinds that only qualify or rename another type (skipped when resolving).
MODIFIERS = frozenset({"typedef", "volatile", "const", "restrict", "type_tag"})
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4
MAX_RESOLVE_DEPTH = 32
_HEADER = struct.Struct("<HBBIIIII")


@dataclass(frozen=True)
class BtfMember:
    """A struct/union member: `bit_offset` from the start; `bitfield_size` 0 unless a bitfield."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


@dataclass(frozen=True)
class BtfParam:
    """A parameter of a FUNC_PROTO (an unnamed `type` 0 last parameter means `...`)."""

    name: str
    type: int


@dataclass(frozen=True)
class BtfEnumValue:
    name: str
    value: int


@dataclass(frozen=True)
class BtfVarSecinfo:
    """One variable of a DATASEC: the VAR (or FUNC for externs) type id, its offset and size."""

    type: int
    offset: int
    size: int


@dataclass(frozen=True)
class BtfType:
    """One BTF type. Which fields matter depends on `kind`:

    int: size, encoding (INT_SIGNED|INT_CHAR|INT_BOOL), bits, bit_offset; ptr/typedef/
    modifiers/func/var/type_tag/decl_tag: type; array: type (element), index_type, nelems;
    struct/union: size, members; enum/enum64: size, values; func_proto: type (return),
    params; func and var: linkage; datasec: size, secinfo; decl_tag: component_idx."""

    id: int
    kind: str
    name: str = ""
    size: int = 0
    type: int = 0
    kind_flag: bool = False
    encoding: int = 0
    bits: int = 0
    bit_offset: int = 0
    index_type: int = 0
    nelems: int = 0
    members: tuple[BtfMember, ...] = ()
    params: tuple[BtfParam, ...] = ()
    values: tuple[BtfEnumValue, ...] = ()
    linkage: int = 0
    secinfo: tuple[BtfVarSecinfo, ...] = ()
    component_idx: int = -1


VOID = BtfType(0, "void")


class Btf:
    """The types and strings of one `.BTF` section."""

    def __init__(self, types: list[BtfType], strings: bytes) -> None:
        self.types = types  # types[0] is void
        self.strings = strings
        self._by_name: dict[str, list[BtfType]] = {}
        self._by_essential: dict[str, list[BtfType]] | None = None
        for t in types[1:]:
            if t.name:
                self._by_name.setdefault(t.name, []).append(t)

    def __len__(self) -> int:
        return len(self.types)

    def __iter__(self) -> Iterator[BtfType]:
        return iter(self.types[1:])

    def string(self, offset: int) -> str:
        """The NUL-terminated string at `offset` of the string table."""
        return read_string(self.strings, offset, "BTF string")

    def type(self, type_id: int) -> BtfType:
        """The type with this id; ElfError when out of range."""
        if not 0 <= type_id < len(self.types):
            raise ElfError(f"BTF: type id {type_id} out of range (have {len(self.types) - 1})")
        return self.types[type_id]

    def find(self, name: str, kind: str | None = None) -> BtfType | None:
        """The first type of this name (and kind, when given)."""
        for t in self._by_name.get(name, ()):
            if kind is None or t.kind == kind:
                return t
        return None

    def by_essential_name(self, name: str) -> list[BtfType]:
        """Named types whose name without a `___flavour` suffix is `name`, by id (the
        candidates of a CO-RE relocation)."""
        if self._by_essential is None:
            index: dict[str, list[BtfType]] = {}
            for t in self.types[1:]:
                if t.name:
                    index.setdefault(essential_name(t.name), []).append(t)
            self._by_essential = index
        return self._by_essential.get(name, [])

    def resolve(self, type_id: int) -> BtfType:
        """Skip typedefs, qualifiers and type tags."""
        t = self.type(type_id)
        for _ in range(MAX_RESOLVE_DEPTH):
            if t.kind not in MODIFIERS:
                return t
            t = self.type(t.type)
        raise ElfError(f"BTF: type {type_id}: modifier chain too long or cyclic")

    def size_of(self, type_id: int, _depth: int = 0) -> int:
        """Size in bytes of a type, as the C compiler laid it out (ElfError if it has none)."""
        if _depth > MAX_RESOLVE_DEPTH:
            raise ElfError(f"BTF: type {type_id}: nesting too deep or cyclic")
        t = self.resolve(type_id)
        if t.kind in ("int", "struct", "union", "enum", "enum64", "float", "datasec"):
            return t.size
        if t.kind == "ptr":
            return 8
        if t.kind == "array":
            return t.nelems * self.size_of(t.type, _depth + 1)
        if t.kind == "var":
            return self.size_of(t.type, _depth + 1)
        raise ElfError(f"BTF: type {type_id} ({t.kind}) has no size")

    def type_name(self, type_id: int, _depth: int = 0) -> str:
        """A C-like spelling of a type, for messages (`struct flow_key`, `u32 *`, `int[4]`)."""
        if _depth > MAX_RESOLVE_DEPTH:
            return "..."
        t = self.type(type_id)
        if t.kind == "void":
            return "void"
        if t.kind in ("struct", "union", "enum", "enum64"):
            tag = "enum" if t.kind == "enum64" else t.kind
            return f"{tag} {t.name}" if t.name else f"{tag} <anon>"
        if t.kind == "fwd":
            return f"{'union' if t.kind_flag else 'struct'} {t.name}"
        if t.kind == "ptr":
            return self.type_name(t.type, _depth + 1) + " *"
        if t.kind == "array":
            return f"{self.type_name(t.type, _depth + 1)}[{t.nelems}]"
        if t.kind in ("const", "volatile", "restrict"):
            return f"{t.kind} {self.type_name(t.type, _depth + 1)}"
        if t.kind == "type_tag":
            return f"{self.type_name(t.type, _depth + 1)} __tag({t.name})"
        if t.kind == "func_proto":
            args = ", ".join(self.type_name(p.type, _depth + 1) if p.type else "..."
                             for p in t.params)
            return f"{self.type_name(t.type, _depth + 1)} (*)({args})"
        return t.name or f"<{t.kind}>"

    def datasec(self, name: str) -> BtfType | None:
        return self.find(name, "datasec")

    def fixed(self, section_sizes: dict[str, int],
              symbol_offsets: dict[str, dict[str, int]]) -> Btf:
        """A copy with DATASEC sizes and VAR offsets filled from the ELF (section name -> size,
        section name -> symbol name -> offset) where the compiler left zeros, as libbpf does
        before loading."""
        types = list(self.types)
        for i, t in enumerate(types):
            if t.kind != "datasec" or t.name not in section_sizes:
                continue
            infos = []
            symbols = symbol_offsets.get(t.name, {})
            for info in t.secinfo:
                var = self.type(info.type)
                off = info.offset
                if off == 0 and var.kind == "var" and var.name in symbols:
                    off = symbols[var.name]
                infos.append(replace(info, offset=off))
            infos.sort(key=lambda info: info.offset)  # libbpf sorts them by offset too
            types[i] = replace(t, size=t.size or section_sizes[t.name], secinfo=tuple(infos))
        return Btf(types, self.strings)


def essential_name(name: str) -> str:
    """The name without its `___flavour` suffix (`task_struct___v2` -> `task_struct`), as
    libbpf matches CO-RE types, fields and enumerators: X___Y where X and Y are not `_`."""
    if "___" not in name:
        return name
    for i in range(len(name) - 5, -1, -1):
        if name[i] != "_" and name[i + 1:i + 4] == "___" and name[i + 4] != "_":
            return name[:i + 1]
    return name


def read_string(table: bytes, offset: int, what: str) -> str:
    """A NUL-terminated string of a table; ElfError when outside or unterminated."""
    if not 0 <= offset < len(table):
        if offset == 0:
            return ""
        raise ElfError(f"{what} offset {offset} outside the string table ({len(table)} bytes)")
    end = table.find(b"\0", offset)
    if end < 0:
        raise ElfError(f"{what} at {offset} is not NUL-terminated")
    return table[offset:end].decode("utf-8", errors="replace")


def parse_btf(data: bytes, lazy: bool = False) -> Btf:
    """Parse a `.BTF` section (little-endian only, as BPF objects for x86/arm64 are); `lazy`
    decodes each type when first used (`LazyBtf`, for a kernel's vmlinux BTF)."""
    data = bytes(data)
    if len(data) < _HEADER.size:
        raise ElfError(f"BTF: section too short ({len(data)} bytes)")
    magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(
        data)
    if magic != BTF_MAGIC:
        if magic == 0x9FEB:
            raise ElfError("BTF: big-endian BTF is not supported")
        raise ElfError(f"BTF: bad magic {magic:#06x}")
    if version != 1:
        raise ElfError(f"BTF: unsupported version {version}")
    if hdr_len < _HEADER.size or hdr_len > len(data):
        raise ElfError(f"BTF: bad header length {hdr_len}")
    body = len(data) - hdr_len
    for what, off, length in (("type", type_off, type_len), ("string", str_off, str_len)):
        if off + length > body:
            raise ElfError(f"BTF: {what} section [{off}, {off + length}) outside the data")
    if type_off % 4:
        raise ElfError("BTF: type section not 4-byte aligned")
    strings = data[hdr_len + str_off: hdr_len + str_off + str_len]
    if strings and strings[0] != 0:
        raise ElfError("BTF: string table does not start with an empty string")
    if strings and strings[-1] != 0:
        raise ElfError("BTF: string table is not NUL-terminated")
    blob = data[hdr_len + type_off: hdr_len + type_off + type_len]
    if lazy:
        return LazyBtf(blob, strings)
    types = _parse_types(blob, strings)
    btf = Btf(types, strings)
    _check_references(btf)
    return btf


_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_III = struct.Struct("<III")
_II = struct.Struct("<II")
# bytes after the 12-byte common header: (fixed part, per vlen entry) by kind number
_EXTRA = {1: (4, 0), 2: (0, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 7: (0, 0),
          8: (0, 0), 9: (0, 0), 10: (0, 0), 11: (0, 0), 12: (0, 0), 13: (0, 8), 14: (4, 0),
          15: (0, 12), 16: (0, 0), 17: (4, 0), 18: (0, 0), 19: (0, 12)}


def _type_offsets(blob: bytes) -> list[int]:
    """Where each type's record starts (index = type id; [0] is void's placeholder)."""
    offsets = [0]
    pos, end = 0, len(blob)
    unpack = _III.unpack_from
    while pos < end:
        if pos + 12 > end:
            raise ElfError(f"BTF: type {len(offsets)} cut short at byte {pos}")
        info = unpack(blob, pos)[1]
        kind_num = (info >> 24) & 0x1F
        extra = _EXTRA.get(kind_num)
        if extra is None:
            raise ElfError(f"BTF: type {len(offsets)} has unknown kind {kind_num}")
        size = 12 + extra[0] + extra[1] * (info & 0xFFFF)
        if pos + size > end:
            raise ElfError(f"BTF: type {len(offsets)} cut short at byte {pos}")
        offsets.append(pos)
        pos += size
    return offsets


def _decode_type(blob: bytes, pos: int, tid: int, strings: bytes,
                 names: dict[int, str]) -> BtfType:
    """The type whose record starts at `pos` (its length was checked by _type_offsets)."""
    def name(off: int) -> str:
        got = names.get(off)
        if got is None:
            got = names[off] = read_string(strings, off, "BTF name")
        return got

    name_off, info, size_or_type = _III.unpack_from(blob, pos)
    pos += 12
    vlen = info & 0xFFFF
    kflag = bool(info >> 31)
    kind = KINDS[(info >> 24) & 0x1F]
    common = dict(id=tid, kind=kind, name=name(name_off), kind_flag=kflag)
    if kind == "int":
        enc = _U32.unpack_from(blob, pos)[0]
        return BtfType(size=size_or_type, encoding=(enc >> 24) & 0xF,
                       bit_offset=(enc >> 16) & 0xFF, bits=enc & 0xFF, **common)
    if kind in ("ptr", "typedef", "volatile", "const", "restrict", "type_tag", "fwd"):
        return BtfType(type=size_or_type if kind != "fwd" else 0, **common)
    if kind == "func":
        return BtfType(type=size_or_type, linkage=vlen, **common)
    if kind == "array":
        elem, index, nelems = _III.unpack_from(blob, pos)
        return BtfType(type=elem, index_type=index, nelems=nelems, **common)
    if kind in ("struct", "union"):
        raw = _III.iter_unpack(blob[pos: pos + 12 * vlen])
        if kflag:
            members = tuple(BtfMember(name(m), ty, off & 0xFFFFFF, off >> 24)
                            for m, ty, off in raw)
        else:
            members = tuple(BtfMember(name(m), ty, off) for m, ty, off in raw)
        return BtfType(size=size_or_type, members=members, **common)
    if kind == "enum":
        values = []
        for v_name, raw_value in _II.iter_unpack(blob[pos: pos + 8 * vlen]):
            value = raw_value - (1 << 32) if kflag and raw_value >= 1 << 31 else raw_value
            values.append(BtfEnumValue(name(v_name), value))
        return BtfType(size=size_or_type, values=tuple(values), **common)
    if kind == "enum64":
        values = []
        for v_name, lo, hi in _III.iter_unpack(blob[pos: pos + 12 * vlen]):
            raw_value = lo | (hi << 32)
            value = raw_value - (1 << 64) if kflag and raw_value >= 1 << 63 else raw_value
            values.append(BtfEnumValue(name(v_name), value))
        return BtfType(size=size_or_type, values=tuple(values), **common)
    if kind == "func_proto":
        params = tuple(BtfParam(name(p_name), p_type)
                       for p_name, p_type in _II.iter_unpack(blob[pos: pos + 8 * vlen]))
        return BtfType(type=size_or_type, params=params, **common)
    if kind == "var":
        return BtfType(type=size_or_type, linkage=_U32.unpack_from(blob, pos)[0], **common)
    if kind == "datasec":
        infos = tuple(BtfVarSecinfo(v_type, v_off, v_size)
                      for v_type, v_off, v_size in _III.iter_unpack(blob[pos: pos + 12 * vlen]))
        return BtfType(size=size_or_type, secinfo=infos, **common)
    if kind == "float":
        return BtfType(size=size_or_type, **common)
    return BtfType(type=size_or_type, component_idx=_I32.unpack_from(blob, pos)[0], **common)


def _parse_types(blob: bytes, strings: bytes) -> list[BtfType]:
    names: dict[int, str] = {0: ""}
    offsets = _type_offsets(blob)
    return [VOID] + [_decode_type(blob, offsets[tid], tid, strings, names)
                     for tid in range(1, len(offsets))]


class _LazyTypes:
    """The types of a BTF decoded when first asked for (a list-like view by type id)."""

    def __init__(self, blob: bytes, strings: bytes, offsets: list[int]) -> None:
        self._blob, self._strings, self._offsets = blob, strings, offsets
        self._names: dict[int, str] = {0: ""}
        self._cache: list[BtfType | None] = [None] * len(offsets)
        self._cache[0] = VOID

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        t = self._cache[index]
        if t is None:
            tid = index % len(self._offsets)
            t = self._cache[index] = _decode_type(self._blob, self._offsets[tid], tid,
                                                  self._strings, self._names)
        return t

    def __iter__(self) -> Iterator[BtfType]:
        return (self[i] for i in range(len(self)))

    def name(self, tid: int) -> str:
        """A type's name without decoding the type."""
        if tid == 0:
            return ""
        off = _U32.unpack_from(self._blob, self._offsets[tid])[0]
        got = self._names.get(off)
        if got is None:
            got = self._names[off] = read_string(self._strings, off, "BTF name")
        return got


class LazyBtf(Btf):
    """A BTF whose types are decoded on first use: for a kernel's vmlinux BTF (~130k types)
    of which CO-RE needs a few hundred. References are checked when a type is decoded."""

    def __init__(self, blob: bytes, strings: bytes) -> None:
        lazy = _LazyTypes(blob, strings, _type_offsets(blob))
        self.types = lazy  # type: ignore[assignment]
        self.strings = strings
        self._by_essential = None
        self._by_name_ids: dict[str, list[int]] = {}
        for tid in range(1, len(lazy)):
            name = lazy.name(tid)
            if name:
                self._by_name_ids.setdefault(name, []).append(tid)

    def type(self, type_id: int) -> BtfType:
        t = super().type(type_id)
        for ref in (t.type, t.index_type, *(m.type for m in t.members),
                    *(p.type for p in t.params), *(s.type for s in t.secinfo)):
            if not 0 <= ref < len(self.types):
                raise ElfError(f"BTF: type {type_id} refers to missing type {ref}")
        return t

    def find(self, name: str, kind: str | None = None) -> BtfType | None:
        for tid in self._by_name_ids.get(name, ()):
            t = self.type(tid)
            if kind is None or t.kind == kind:
                return t
        return None

    def by_essential_name(self, name: str) -> list[BtfType]:
        if self._by_essential is None:
            index: dict[str, list[int]] = {}
            for full, ids in self._by_name_ids.items():
                index.setdefault(essential_name(full), []).extend(ids)
            self._by_essential = {k: sorted(v) for k, v in index.items()}  # type: ignore
        return [self.type(tid) for tid in self._by_essential.get(name, ())]  # type: ignore


def _check_references(btf: Btf) -> None:
    """Every type id a type refers to must exist (so later lookups cannot fail)."""
    count = len(btf.types)

    def ok(ref: int, tid: int, what: str) -> None:
        if not 0 <= ref < count:
            raise ElfError(f"BTF: type {tid} refers to missing {what} type {ref}")

    for t in btf.types[1:]:
        if t.kind in ("ptr", "typedef", "volatile", "const", "restrict", "type_tag", "func",
                      "var", "array", "func_proto", "decl_tag"):
            ok(t.type, t.id, "target")
        if t.kind == "array":
            ok(t.index_type, t.id, "index")
        for m in t.members:
            ok(m.type, t.id, "member")
        for p in t.params:
            ok(p.type, t.id, "parameter")
        for s in t.secinfo:
            ok(s.type, t.id, "variable")
