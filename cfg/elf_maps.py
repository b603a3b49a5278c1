"""Map definitions of an eBPF object, found the way libbpf finds them.

- legacy `maps` section: an array of `struct bpf_map_def {u32 type, key_size, value_size,
  max_entries, map_flags}`, one per symbol; the definition size is the section size divided by
  the number of symbols (bytes past the five fields, e.g. iproute2's extra fields, are ignored);
- `.maps` (BTF-defined): each variable of the `.maps` DATASEC is a struct whose members encode
  the attributes: `__uint(name, N)` is a pointer to an array of N elements, `__type(name, T)` a
  pointer to T, `__array(values, struct inner)` an array of pointers to the inner definition;
- global data: `.data*`, `.rodata*`, `.bss*` become one-element array maps whose value is the
  section (`kind` data / rodata / bss), and `.kconfig` externs one read-only map laid out as
  libbpf does (by alignment descending, size ascending, then name).
Each `FoundMap` says where its definition sits so relocations can find it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from cfg.btf import Btf, BtfType
from cfg.elf_reader import (SHT_NOBITS, SHT_PROGBITS, STT_FILE, STT_SECTION, RawElf, Section,
                            Symbol)
from cfg.errors import ElfError
from cfg.program import MAP_TYPE_IDS, MapDef

BPF_F_RDONLY_PROG = 1 << 7
MAP_DEF_FIELDS = 5  # type, key_size, value_size, max_entries, map_flags
MAP_IN_MAP_TYPES = (MAP_TYPE_IDS["array_of_maps"], MAP_TYPE_IDS["hash_of_maps"])


@dataclass(frozen=True)
class FoundMap:
    """A map and where it is defined: (section index, byte offset) of its definition
    (offset 0 for a global-data section, whose references carry their own offset)."""

    map: MapDef
    section: int
    offset: int


@dataclass(frozen=True)
class Extern:
    """An `extern` the object needs from the kernel: `kind` is "kconfig" (value in the .kconfig
    map at `offset`), "ksym" (a kernel variable) or "kfunc" (a kernel function)."""

    name: str
    kind: str
    btf_id: int = 0
    weak: bool = False
    size: int = 0
    offset: int = 0


def legacy_maps(raw: RawElf, sec: Section) -> list[FoundMap]:
    """Maps of a legacy `maps` section (struct bpf_map_def records named by symbols)."""
    syms = symbols_in(raw, sec)
    if not syms:
        if sec.size:
            raise ElfError(f"section {sec.name!r} has map definitions but no symbols naming them")
        return []
    data = sec.contents()
    if len(data) % len(syms):
        raise ElfError(f"section {sec.name!r}: cannot determine the map definition size "
                       f"({len(data)} bytes for {len(syms)} maps)")
    def_size = len(data) // len(syms)
    if def_size < 4 or def_size % 4:
        raise ElfError(f"section {sec.name!r}: map definition size {def_size} is invalid")
    out = []
    for sym in syms:
        if sym.value % 4 or sym.value + def_size > len(data):
            raise ElfError(f"map {sym.name!r}: offset {sym.value} outside section {sec.name!r}")
        raw_def = data[sym.value: sym.value + min(def_size, 4 * MAP_DEF_FIELDS)]
        raw_def += bytes(4 * MAP_DEF_FIELDS - len(raw_def))
        mtype, key, value, entries, flags = struct.unpack("<5I", raw_def)
        out.append(FoundMap(MapDef(sym.name, mtype, key, value, entries, flags, kind="legacy"),
                            sec.index, sym.value))
    return out


def btf_maps(raw: RawElf, sec: Section, btf: Btf | None) -> list[FoundMap]:
    """Maps of the `.maps` section, decoded from the BTF of its DATASEC."""
    if btf is None:
        raise ElfError(f"section {sec.name!r} needs BTF (.BTF section missing)")
    datasec = btf.datasec(sec.name)
    if datasec is None:
        raise ElfError(f"section {sec.name!r} has no BTF DATASEC describing it")
    out = []
    for info in datasec.secinfo:
        var = btf.type(info.type)
        if var.kind != "var":
            raise ElfError(f"{sec.name}: entry {info.type} is a {var.kind}, not a variable")
        if info.offset + info.size > sec.size:
            raise ElfError(f"map {var.name!r}: definition [{info.offset}, "
                           f"{info.offset + info.size}) outside section {sec.name!r}")
        out.append(FoundMap(_btf_map_def(btf, var.name, var.type, "btf", 0), sec.index,
                            info.offset))
    return out


def _btf_map_def(btf: Btf, name: str, type_id: int, kind: str, depth: int) -> MapDef:
    struct_t = btf.resolve(type_id)
    if struct_t.kind != "struct":
        raise ElfError(f"map {name!r}: definition is a {struct_t.kind}, not a struct")
    attrs: dict[str, int] = {}
    inner: MapDef | None = None
    has_values = False
    for member in struct_t.members:
        if member.name in ("type", "max_entries", "map_flags", "numa_node", "pinning",
                           "key_size", "value_size", "map_extra"):
            attrs[member.name] = _uint_attr(btf, name, member.name, member.type)
        elif member.name in ("key", "value"):
            ptr = btf.resolve(member.type)
            if ptr.kind != "ptr":
                raise ElfError(f"map {name!r}: {member.name} is not declared with __type()")
            size = btf.size_of(ptr.type)
            explicit = attrs.get(member.name + "_size")
            if explicit is not None and explicit != size:
                raise ElfError(f"map {name!r}: conflicting {member.name} size {explicit} "
                               f"and type size {size}")
            attrs[member.name + "_size"] = size
        elif member.name == "values":
            has_values = True
            arr = btf.resolve(member.type)
            if arr.kind != "array":
                raise ElfError(f"map {name!r}: values is not declared with __array()")
            ptr = btf.resolve(arr.type)
            if ptr.kind != "ptr":
                raise ElfError(f"map {name!r}: values elements are not pointers")
            target = btf.resolve(ptr.type)
            if target.kind == "struct":
                if depth > 0:
                    raise ElfError(f"map {name!r}: nested map-in-map is not supported")
                inner = _btf_map_def(btf, f"{name}.inner", ptr.type, kind, depth + 1)
    mtype = attrs.get("type", 0)
    value_size = attrs.get("value_size", 0)
    if has_values:
        if value_size not in (0, 4):
            raise ElfError(f"map {name!r}: value size {value_size} with __array(values) "
                           f"(must be 4)")
        value_size = 4
    if mtype in MAP_IN_MAP_TYPES and inner is None and depth == 0:
        pass  # libbpf allows an inner map given at runtime; nothing to record
    return MapDef(name, mtype, attrs.get("key_size", 0), value_size, attrs.get("max_entries", 0),
                  attrs.get("map_flags", 0), inner, kind, pinning=attrs.get("pinning", 0))


def _uint_attr(btf: Btf, map_name: str, attr: str, type_id: int) -> int:
    """The N of `__uint(attr, N)` (a pointer to an array of N elements) or of `__ulong(attr, N)`
    (a pointer to an enum whose one value is N)."""
    ptr = btf.resolve(type_id)
    target = btf.resolve(ptr.type) if ptr.kind == "ptr" else ptr
    if target.kind == "array":
        return target.nelems
    if target.kind in ("enum", "enum64") and len(target.values) == 1:
        return target.values[0].value & 0xFFFFFFFFFFFFFFFF
    raise ElfError(f"map {map_name!r}: {attr} is not declared with __uint() or __ulong()")


def initial_slots(raw: RawElf, sec: Section, btf: Btf | None) -> dict[str, dict[int, str]]:
    """Slots of `.maps` maps filled at load time (`.values = { [i] = &inner_or_prog }`), as
    map name -> {slot: symbol name}; R_BPF_64_ABS64 relocations inside the `values` array."""
    if btf is None:
        return {}
    datasec = btf.datasec(sec.name)
    out: dict[str, dict[int, str]] = {}
    rels = raw.relocs.get(sec.index, [])
    for info in datasec.secinfo if datasec else ():
        var = btf.type(info.type)
        struct_t = btf.resolve(var.type)
        member = next((m for m in struct_t.members if m.name == "values"), None)
        if member is None:
            continue
        start = info.offset + member.bit_offset // 8
        for rel in rels:
            if start <= rel.offset < info.offset + info.size:
                if (rel.offset - start) % 8:
                    raise ElfError(f"map {var.name!r}: misaligned initial value at offset "
                                   f"{rel.offset}")
                out.setdefault(var.name, {})[(rel.offset - start) // 8] = \
                    raw.symbols[rel.sym].name
    return out


DATA_KINDS = (".data", "data"), (".rodata", "rodata"), (".bss", "bss")


def data_section_kind(sec: Section) -> str | None:
    """data / rodata / bss for a global-data section (libbpf's naming), else None."""
    if sec.type not in (SHT_PROGBITS, SHT_NOBITS) or sec.executable:
        return None
    for prefix, kind in DATA_KINDS:
        if sec.name == prefix or sec.name.startswith(prefix + "."):
            if kind == "bss" and sec.type != SHT_NOBITS:
                return "data"  # a .bss.* with contents behaves like .data
            return kind
    return None


def data_maps(raw: RawElf) -> list[FoundMap]:
    """One array map per non-empty global-data section, in section order."""
    out = []
    for sec in raw.sections:
        kind = data_section_kind(sec)
        if kind is None or sec.size == 0:
            continue
        flags = BPF_F_RDONLY_PROG if kind == "rodata" else 0
        out.append(FoundMap(MapDef(sec.name, MAP_TYPE_IDS["array"], 4, sec.size, 1, flags,
                                   kind=kind, initial_value=sec.contents()), sec.index, 0))
    return out


def find_externs(raw: RawElf, btf: Btf | None) -> list[Extern]:
    """Undefined global symbols, classified by the BTF DATASEC (.kconfig / .ksyms) naming them;
    kconfig externs get their offsets in the .kconfig map."""
    kconfig_vars: dict[str, BtfType] = {}
    ksym_ids: dict[str, int] = {}
    if btf is not None:
        for sec_name in (".kconfig", ".ksyms"):
            datasec = btf.datasec(sec_name)
            for info in datasec.secinfo if datasec else ():
                t = btf.type(info.type)
                if sec_name == ".kconfig" and t.kind == "var":
                    kconfig_vars[t.name] = t
                else:
                    ksym_ids[t.name] = t.id
    externs: list[Extern] = []
    for sym in raw.symbols:
        if not sym.is_extern:
            continue
        weak = sym.bind == 2
        if sym.name in kconfig_vars:
            var = kconfig_vars[sym.name]
            externs.append(Extern(sym.name, "kconfig", var.id, weak, btf.size_of(var.type)))
        else:
            btf_id = ksym_ids.get(sym.name, 0)
            is_func = btf is not None and btf_id and btf.type(btf_id).kind == "func"
            externs.append(Extern(sym.name, "kfunc" if is_func else "ksym", btf_id, weak))
    return _layout_kconfig(externs, btf)


def _align_of(btf: Btf, type_id: int, depth: int = 0) -> int:
    t = btf.resolve(type_id)
    if depth > 16:
        return 1
    if t.kind in ("int", "enum", "enum64", "float"):
        return max(1, min(t.size, 8))
    if t.kind == "ptr":
        return 8
    if t.kind == "array":
        return _align_of(btf, t.type, depth + 1)
    if t.kind in ("struct", "union"):
        return max((_align_of(btf, m.type, depth + 1) for m in t.members), default=1)
    if t.kind == "var":
        return _align_of(btf, t.type, depth + 1)
    return 1


def _layout_kconfig(externs: list[Extern], btf: Btf | None) -> list[Extern]:
    kconfig = [e for e in externs if e.kind == "kconfig"]
    if not kconfig or btf is None:
        return externs
    aligned = [(e, _align_of(btf, e.btf_id)) for e in kconfig]
    aligned.sort(key=lambda pair: (-pair[1], pair[0].size, pair[0].name))
    offsets: dict[str, int] = {}
    off = 0
    for ext, align in aligned:
        off = (off + align - 1) // align * align
        offsets[ext.name] = off
        off += ext.size
    return [Extern(e.name, e.kind, e.btf_id, e.weak, e.size, offsets[e.name])
            if e.kind == "kconfig" else e for e in externs]


def kconfig_map(externs: list[Extern]) -> MapDef | None:
    """The read-only `.kconfig` map holding every kconfig extern (None when there are none)."""
    kconfig = [e for e in externs if e.kind == "kconfig"]
    if not kconfig:
        return None
    size = max(e.offset + e.size for e in kconfig)
    return MapDef(".kconfig", MAP_TYPE_IDS["array"], 4, size, 1, BPF_F_RDONLY_PROG,
                  kind="kconfig", initial_value=bytes(size))


STRUCT_OPS_SECTIONS = (".struct_ops", ".struct_ops.link")
BPF_F_LINK = 1 << 13


def struct_ops_maps(sec: Section, btf: Btf | None) -> list[FoundMap]:
    """One struct_ops map per variable of a `.struct_ops` / `.struct_ops.link` section (the
    value is the local struct; bpfcheck has no kernel BTF to size the kernel's own)."""
    if btf is None:
        raise ElfError(f"section {sec.name!r} needs BTF (.BTF section missing)")
    datasec = btf.datasec(sec.name)
    if datasec is None:
        raise ElfError(f"section {sec.name!r} has no BTF DATASEC describing it")
    flags = BPF_F_LINK if sec.name.endswith(".link") else 0
    out = []
    for info in datasec.secinfo:
        var = btf.type(info.type)
        size = info.size or btf.size_of(var.type)
        if info.offset + size > sec.size:
            raise ElfError(f"struct_ops {var.name!r} outside section {sec.name!r}")
        out.append(FoundMap(MapDef(var.name, MAP_TYPE_IDS["struct_ops"], 4, size, 1, flags,
                                   kind="struct_ops",
                                   initial_value=sec.contents()[info.offset: info.offset + size]),
                            sec.index, info.offset))
    return out


def symbols_in(raw: RawElf, sec: Section) -> list[Symbol]:
    """Named, non-section symbols defined in `sec`, by offset."""
    return sorted((s for s in raw.symbols if s.shndx == sec.index and s.name
                   and s.type not in (STT_SECTION, STT_FILE)), key=lambda s: (s.value, s.index))
