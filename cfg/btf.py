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


def parse_btf(data: bytes) -> Btf:
    """Parse a `.BTF` section (little-endian only, as BPF objects for x86/arm64 are)."""
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
    types = _parse_types(data[hdr_len + type_off: hdr_len + type_off + type_len], strings)
    btf = Btf(types, strings)
    _check_references(btf)
    return btf


def _parse_types(blob: bytes, strings: bytes) -> list[BtfType]:
    types: list[BtfType] = [VOID]
    pos = 0
    u32 = struct.Struct("<I")
    i32 = struct.Struct("<i")

    def take(n: int) -> int:
        nonlocal pos
        if pos + n > len(blob):
            raise ElfError(f"BTF: type {len(types)} cut short at byte {pos}")
        start = pos
        pos += n
        return start

    def word(signed: bool = False) -> int:
        return (i32 if signed else u32).unpack_from(blob, take(4))[0]

    def name(off: int) -> str:
        return read_string(strings, off, "BTF name")

    while pos < len(blob):
        tid = len(types)
        name_off, info, size_or_type = struct.unpack_from("<III", blob, take(12))
        vlen = info & 0xFFFF
        kind_num = (info >> 24) & 0x1F
        kflag = bool(info >> 31)
        kind = KINDS.get(kind_num)
        if kind is None or kind_num == 0:
            raise ElfError(f"BTF: type {tid} has unknown kind {kind_num}")
        common = dict(id=tid, kind=kind, name=name(name_off), kind_flag=kflag)
        if kind == "int":
            enc = word()
            t = BtfType(size=size_or_type, encoding=(enc >> 24) & 0xF,
                        bit_offset=(enc >> 16) & 0xFF, bits=enc & 0xFF, **common)
        elif kind in ("ptr", "typedef", "volatile", "const", "restrict", "type_tag", "fwd"):
            t = BtfType(type=size_or_type if kind != "fwd" else 0, **common)
        elif kind == "func":
            t = BtfType(type=size_or_type, linkage=vlen, **common)
        elif kind == "array":
            elem, index, nelems = struct.unpack_from("<III", blob, take(12))
            t = BtfType(type=elem, index_type=index, nelems=nelems, **common)
        elif kind in ("struct", "union"):
            members = []
            for _ in range(vlen):
                m_name, m_type, m_off = struct.unpack_from("<III", blob, take(12))
                if kflag:
                    members.append(BtfMember(name(m_name), m_type, m_off & 0xFFFFFF, m_off >> 24))
                else:
                    members.append(BtfMember(name(m_name), m_type, m_off))
            t = BtfType(size=size_or_type, members=tuple(members), **common)
        elif kind == "enum":
            values = []
            for _ in range(vlen):
                v_name = word()
                raw = word()
                value = raw - (1 << 32) if kflag and raw >= 1 << 31 else raw
                values.append(BtfEnumValue(name(v_name), value))
            t = BtfType(size=size_or_type, values=tuple(values), **common)
        elif kind == "enum64":
            values = []
            for _ in range(vlen):
                v_name, lo, hi = struct.unpack_from("<III", blob, take(12))
                raw = lo | (hi << 32)
                value = raw - (1 << 64) if kflag and raw >= 1 << 63 else raw
                values.append(BtfEnumValue(name(v_name), value))
            t = BtfType(size=size_or_type, values=tuple(values), **common)
        elif kind == "func_proto":
            params = []
            for _ in range(vlen):
                p_name, p_type = struct.unpack_from("<II", blob, take(8))
                params.append(BtfParam(name(p_name), p_type))
            t = BtfType(type=size_or_type, params=tuple(params), **common)
        elif kind == "var":
            t = BtfType(type=size_or_type, linkage=word(), **common)
        elif kind == "datasec":
            infos = []
            for _ in range(vlen):
                v_type, v_off, v_size = struct.unpack_from("<III", blob, take(12))
                infos.append(BtfVarSecinfo(v_type, v_off, v_size))
            t = BtfType(size=size_or_type, secinfo=tuple(infos), **common)
        elif kind == "float":
            t = BtfType(size=size_or_type, **common)
        else:  # decl_tag
            t = BtfType(type=size_or_type, component_idx=word(signed=True), **common)
        types.append(t)
    return types


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
