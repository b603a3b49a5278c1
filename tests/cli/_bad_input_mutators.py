"""Structured damage to real eBPF objects, for the bad-input fuzz tests.

Each mutator takes the object's bytes, its `Layout` (where the headers, tables and records
sit, read once from the undamaged file) and a `draw` function (hypothesis' `data.draw`) and
returns damaged bytes. They aim where a loader is most likely to trust a field: ELF and
section headers, string tables, symbols, relocations, BTF and BTF.ext headers and records,
map definitions, instruction bytes (opcodes, registers, lddw pairs, jump offsets).
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from elftools.elf.elffile import ELFFile
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus" / "build"
# Objects small enough that load + analyze + run of a damaged copy takes milliseconds.
SMALL_OBJECTS = sorted(p for p in CORPUS.glob("*.o") if p.stat().st_size < 64 * 1024)

U32_EDGES = (0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF,
             0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
U64_EDGES = U32_EDGES + (1 << 32, 1 << 40, 1 << 63, (1 << 64) - 1)

ELF_HEADER_FIELDS = {  # name: (offset, struct format) in Elf64_Ehdr
    "e_type": (16, "<H"), "e_machine": (18, "<H"), "e_version": (20, "<I"),
    "e_entry": (24, "<Q"), "e_phoff": (32, "<Q"), "e_shoff": (40, "<Q"),
    "e_flags": (48, "<I"), "e_ehsize": (52, "<H"), "e_phentsize": (54, "<H"),
    "e_phnum": (56, "<H"), "e_shentsize": (58, "<H"), "e_shnum": (60, "<H"),
    "e_shstrndx": (62, "<H"),
}
SECTION_HEADER_FIELDS = {  # name: (offset, struct format) in Elf64_Shdr
    "sh_name": (0, "<I"), "sh_type": (4, "<I"), "sh_flags": (8, "<Q"), "sh_addr": (16, "<Q"),
    "sh_offset": (24, "<Q"), "sh_size": (32, "<Q"), "sh_link": (40, "<I"),
    "sh_info": (44, "<I"), "sh_addralign": (48, "<Q"), "sh_entsize": (56, "<Q"),
}
BTF_HEADER_FIELDS = {"magic": (0, "<H"), "version": (2, "<B"), "flags": (3, "<B"),
                     "hdr_len": (4, "<I"), "type_off": (8, "<I"), "type_len": (12, "<I"),
                     "str_off": (16, "<I"), "str_len": (20, "<I")}
BTF_EXT_HEADER_FIELDS = {"magic": (0, "<H"), "version": (2, "<B"), "flags": (3, "<B"),
                         "hdr_len": (4, "<I"), "func_info_off": (8, "<I"),
                         "func_info_len": (12, "<I"), "line_info_off": (16, "<I"),
                         "line_info_len": (20, "<I"), "core_relo_off": (24, "<I"),
                         "core_relo_len": (28, "<I")}
# Bytes after the 12-byte btf_type header, per kind (vlen-scaled kinds are callables).
_BTF_EXTRA: dict[int, Callable[[int], int]] = {
    1: lambda v: 4, 3: lambda v: 12, 4: lambda v: 12 * v, 5: lambda v: 12 * v,
    6: lambda v: 8 * v, 13: lambda v: 8 * v, 14: lambda v: 4, 15: lambda v: 12 * v,
    17: lambda v: 4, 19: lambda v: 12 * v,
}
OPCODE_LDDW = 0x18


@dataclass(frozen=True)
class SectionInfo:
    index: int
    name: str
    type: int
    flags: int
    header: int   # file offset of the section header
    offset: int   # file offset of the contents
    size: int


@dataclass
class Layout:
    """Where things are in one undamaged object."""

    size: int
    sections: list[SectionInfo]
    btf_types: list[tuple[int, int, int]] = field(default_factory=list)  # (file off, kind, vlen)
    lddw_slots: list[int] = field(default_factory=list)   # file offsets of lddw first slots
    jump_slots: list[int] = field(default_factory=list)   # file offsets of jump instructions

    def named(self, *names: str, prefix: str = "") -> list[SectionInfo]:
        return [s for s in self.sections if s.size and
                (s.name in names or (prefix and s.name.startswith(prefix)))]

    @property
    def code(self) -> list[SectionInfo]:
        return [s for s in self.sections if s.type == 1 and s.flags & 4 and s.size >= 8]

    @property
    def relocations(self) -> list[SectionInfo]:
        return [s for s in self.sections if s.type in (4, 9) and s.size]


@lru_cache(maxsize=None)
def layout(path: Path) -> Layout:
    data = path.read_bytes()
    elf = ELFFile(io.BytesIO(data))
    shoff, shentsize = elf.header["e_shoff"], elf.header["e_shentsize"]
    sections = []
    for i, sec in enumerate(elf.iter_sections()):
        sh_type = sec.header["sh_type"]
        type_num = {"SHT_NULL": 0, "SHT_PROGBITS": 1, "SHT_SYMTAB": 2, "SHT_STRTAB": 3, "SHT_RELA": 4,
                    "SHT_NOBITS": 8, "SHT_REL": 9}.get(sh_type, -1) \
            if isinstance(sh_type, str) else sh_type
        sections.append(SectionInfo(i, sec.name, type_num, sec.header["sh_flags"],
                                    shoff + i * shentsize, sec.header["sh_offset"],
                                    sec.header["sh_size"]))
    out = Layout(len(data), sections)
    for sec in out.named(".BTF"):
        out.btf_types = _btf_types(data, sec.offset)
    for sec in out.code:
        slot = 0
        while slot < sec.size // 8:
            at = sec.offset + 8 * slot
            opcode = data[at]
            if opcode == OPCODE_LDDW:
                out.lddw_slots.append(at)
                slot += 2
                continue
            if opcode & 7 in (5, 6) and opcode >> 4 not in (8, 9):  # jmp/jmp32, not call/exit
                out.jump_slots.append(at)
            slot += 1
    return out


def _btf_types(data: bytes, start: int) -> list[tuple[int, int, int]]:
    _magic, _ver, _flags, hdr_len, type_off, type_len, _so, _sl = \
        struct.unpack_from("<HBBIIIII", data, start)
    pos = start + hdr_len + type_off
    end = pos + type_len
    out = []
    while pos + 12 <= end:
        info = struct.unpack_from("<I", data, pos + 4)[0]
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        out.append((pos, kind, vlen))
        pos += 12 + _BTF_EXTRA.get(kind, lambda v: 0)(vlen)
    return out


# --- helpers ----------------------------------------------------------------------------

def _put(data: bytearray, offset: int, fmt: str, value: int) -> None:
    size = struct.calcsize(fmt)
    if 0 <= offset and offset + size <= len(data):
        bits = 8 * size
        struct.pack_into(fmt, data, offset, value & ((1 << bits) - 1))


def _value(draw, fmt: str, near: tuple[int, ...] = ()) -> int:
    bits = 8 * struct.calcsize(fmt)
    edges = tuple(v for v in U64_EDGES + near if 0 <= v < (1 << bits))
    return draw(st.one_of(st.sampled_from(edges), st.integers(0, (1 << bits) - 1)))


def _pick(draw, sections: list[SectionInfo]) -> SectionInfo | None:
    return draw(st.sampled_from(sections)) if sections else None


# --- mutators ---------------------------------------------------------------------------

def bit_flips(data: bytes, lay: Layout, draw) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(out) - 1))
        out[pos] ^= 1 << draw(st.integers(0, 7))
    return bytes(out)


def truncation(data: bytes, lay: Layout, draw) -> bytes:
    if not data:
        return data
    cuts = sorted({0, 4, 16, 63, 64} | {s.offset for s in lay.sections}
                  | {s.offset + s.size // 2 for s in lay.sections} | {s.header for s in lay.sections})
    cut = draw(st.one_of(st.sampled_from([c for c in cuts if c < len(data)]),
                         st.integers(0, len(data) - 1)))
    return data[:cut]


def elf_header_field(data: bytes, lay: Layout, draw) -> bytes:
    name = draw(st.sampled_from(sorted(ELF_HEADER_FIELDS)))
    offset, fmt = ELF_HEADER_FIELDS[name]
    out = bytearray(data)
    _put(out, offset, fmt, _value(draw, fmt, (lay.size, lay.size - 64, len(lay.sections) + 1)))
    return bytes(out)


def section_header_field(data: bytes, lay: Layout, draw) -> bytes:
    sec = draw(st.sampled_from(lay.sections))
    name = draw(st.sampled_from(sorted(SECTION_HEADER_FIELDS)))
    offset, fmt = SECTION_HEADER_FIELDS[name]
    near = (lay.size, lay.size - sec.offset, lay.size - sec.offset + 1, sec.size + 8,
            len(lay.sections), len(lay.sections) - 1, 1, 2, 4, 8, 9)
    out = bytearray(data)
    _put(out, sec.header + offset, fmt, _value(draw, fmt, near))
    return bytes(out)


def string_table_damage(data: bytes, lay: Layout, draw) -> bytes:
    sec = _pick(draw, [s for s in lay.sections if s.type == 3 and s.size])
    if sec is None:
        return data
    out = bytearray(data)
    start = sec.offset + draw(st.integers(0, sec.size - 1))
    length = draw(st.integers(1, min(64, sec.offset + sec.size - start)))
    fill = draw(st.sampled_from([b"\xff", b"A", b"\x80", b".", b"\0", b"\n"]))
    out[start:start + length] = fill * length
    return bytes(out)


def symbol_field(data: bytes, lay: Layout, draw) -> bytes:
    sec = _pick(draw, [s for s in lay.sections if s.type == 2 and s.size >= 24])
    if sec is None:
        return data
    entry = sec.offset + 24 * draw(st.integers(0, sec.size // 24 - 1))
    name, (offset, fmt) = draw(st.sampled_from(sorted({
        "st_name": (0, "<I"), "st_info": (4, "<B"), "st_other": (5, "<B"),
        "st_shndx": (6, "<H"), "st_value": (8, "<Q"), "st_size": (16, "<Q")}.items())))
    out = bytearray(data)
    _put(out, entry + offset, fmt, _value(draw, fmt, (len(lay.sections), 0xFFF1, 0xFF00)))
    return bytes(out)


def relocation_entry(data: bytes, lay: Layout, draw) -> bytes:
    sec = _pick(draw, lay.relocations)
    if sec is None:
        return data
    size = 24 if sec.type == 4 else 16
    if sec.size < size:
        return data
    entry = sec.offset + size * draw(st.integers(0, sec.size // size - 1))
    out = bytearray(data)
    part = draw(st.sampled_from(["offset", "type", "sym", "addend"]))
    if part == "offset":
        _put(out, entry, "<Q", _value(draw, "<Q", (lay.size, 4, 12)))
    elif part == "type":
        _put(out, entry + 8, "<I", _value(draw, "<I", (10, 11, 5, 6)))
    elif part == "sym":
        _put(out, entry + 12, "<I", _value(draw, "<I"))
    elif size == 24:
        _put(out, entry + 16, "<Q", _value(draw, "<Q", ((1 << 64) - 8, 4, 16)))
    return bytes(out)


def btf_header_field(data: bytes, lay: Layout, draw) -> bytes:
    sec = _pick(draw, lay.named(".BTF", ".BTF.ext"))
    if sec is None:
        return data
    fields = BTF_HEADER_FIELDS if sec.name == ".BTF" else BTF_EXT_HEADER_FIELDS
    name = draw(st.sampled_from(sorted(fields)))
    offset, fmt = fields[name]
    out = bytearray(data)
    _put(out, sec.offset + offset, fmt, _value(draw, fmt, (sec.size, sec.size - 24, 10**9)))
    return bytes(out)


def btf_type_record(data: bytes, lay: Layout, draw) -> bytes:
    """Overwrite a word of a BTF type record: name offset, kind/vlen, size or type id, or one
    of the words that follow (array nelems, member types and offsets, ...)."""
    if not lay.btf_types:
        return data
    pos, kind, vlen = draw(st.sampled_from(lay.btf_types))
    words = 3 + _BTF_EXTRA.get(kind, lambda v: 0)(vlen) // 4
    word = draw(st.integers(0, words - 1))
    out = bytearray(data)
    if word == 1 and draw(st.booleans()):  # a plausible-looking kind with a wild vlen
        value = (draw(st.integers(0, 31)) << 24) | draw(st.sampled_from([0, 1, 0xFFFF]))
    else:
        value = _value(draw, "<I", (len(lay.btf_types), len(lay.btf_types) + 1, 10**9))
    _put(out, pos + 4 * word, "<I", value)
    return bytes(out)


def btf_array_size(data: bytes, lay: Layout, draw) -> bytes:
    """Absurd sizes where maps keep them: array element counts (`__uint(max_entries, N)` is
    `int (*)[N]`), struct and int sizes (key and value types)."""
    targets = [(pos + 20, "nelems") for pos, kind, _v in lay.btf_types if kind == 3]
    targets += [(pos + 8, "size") for pos, kind, _v in lay.btf_types if kind in (1, 4, 5)]
    if not targets:
        return data
    at, _what = draw(st.sampled_from(targets))
    out = bytearray(data)
    _put(out, at, "<I", draw(st.sampled_from([0, 0xFFFFFFFF, 0x80000000, 1 << 30, 1 << 24,
                                               10**9, 0x7FFFFFFF])))
    return bytes(out)


def btf_ext_record(data: bytes, lay: Layout, draw) -> bytes:
    sec = _pick(draw, lay.named(".BTF.ext"))
    if sec is None or sec.size < 36:
        return data
    out = bytearray(data)
    word = draw(st.integers(8, sec.size // 4 - 1))
    _put(out, sec.offset + 4 * word, "<I", _value(draw, "<I", (sec.size, 10**9)))
    return bytes(out)


def legacy_map_definition(data: bytes, lay: Layout, draw) -> bytes:
    sec = _pick(draw, lay.named("maps", prefix="maps/"))
    if sec is None or sec.size < 4:
        return data
    out = bytearray(data)
    word = draw(st.integers(0, sec.size // 4 - 1))
    _put(out, sec.offset + 4 * word, "<I", _value(draw, "<I", (1 << 30, 10**9)))
    return bytes(out)


def instruction_bytes(data: bytes, lay: Layout, draw) -> bytes:
    """Overwrite one field of one instruction: opcode, registers, offset or immediate."""
    sec = _pick(draw, lay.code)
    if sec is None:
        return data
    at = sec.offset + 8 * draw(st.integers(0, sec.size // 8 - 1))
    part = draw(st.sampled_from(["opcode", "regs", "off", "imm"]))
    out = bytearray(data)
    if part == "opcode":
        out[at] = draw(st.integers(0, 255))
    elif part == "regs":
        out[at + 1] = draw(st.one_of(st.integers(0, 255),
                                     st.sampled_from([0xB0, 0x0B, 0xF0, 0x0F, 0xAA])))
    elif part == "off":
        _put(out, at + 2, "<H", _value(draw, "<H"))
    else:
        _put(out, at + 4, "<I", _value(draw, "<I", (12, 113, 0xFFFFFFF0)))
    return bytes(out)


def lddw_damage(data: bytes, lay: Layout, draw) -> bytes:
    """A lddw without its second slot: the pair's second half overwritten, or a lddw opcode
    put in the last slot of a section."""
    out = bytearray(data)
    if lay.lddw_slots and draw(st.booleans()):
        at = draw(st.sampled_from(lay.lddw_slots)) + 8
        out[at] = draw(st.sampled_from([0x95, 0xB7, 0x18, 0x05, 0x01]))
        if draw(st.booleans()):
            out[at + 1] = draw(st.integers(0, 255))
        return bytes(out)
    sec = _pick(draw, lay.code)
    if sec is None:
        return data
    at = sec.offset + sec.size - 8 * draw(st.integers(1, min(2, sec.size // 8)))
    out[at] = OPCODE_LDDW
    return bytes(out)


def jump_out_of_range(data: bytes, lay: Layout, draw) -> bytes:
    if not lay.jump_slots:
        return data
    at = draw(st.sampled_from(lay.jump_slots))
    out = bytearray(data)
    if out[at] == 0x06:  # gotol: the target is in imm
        _put(out, at + 4, "<I", _value(draw, "<I", (0xFFFFFFFF, 1 << 20)))
    else:
        _put(out, at + 2, "<H", _value(draw, "<H", (0x7FFF, 0x8000, 0xFFFF, 1, 2, 0xFFFE)))
    return bytes(out)


MUTATORS: dict[str, Callable[[bytes, Layout, Callable], bytes]] = {
    f.__name__: f for f in (
        bit_flips, truncation, elf_header_field, section_header_field, string_table_damage,
        symbol_field, relocation_entry, btf_header_field, btf_type_record, btf_array_size,
        btf_ext_record, legacy_map_definition, instruction_bytes, lddw_damage,
        jump_out_of_range)
}


def damaged_section(draw, objects: list[Path], mutators, pick: Callable[[Layout], SectionInfo]
                    ) -> tuple[Path, bytes]:
    """(path, bytes of the section `pick` chooses) of a corpus object damaged by 1-3 of
    `mutators` (for inputs that are one section: raw code, raw BTF)."""
    path = draw(st.sampled_from(objects))
    data, lay = path.read_bytes(), layout(path)
    for _ in range(draw(st.integers(1, 3))):
        data = draw(st.sampled_from(mutators))(data, lay, draw)
    sec = pick(lay)
    return path, data[sec.offset:sec.offset + sec.size]


@st.composite
def damaged_objects(draw, objects: list[Path] = SMALL_OBJECTS, max_mutations: int = 3):
    """(path of the original, names of the mutators applied, damaged bytes)."""
    path = draw(st.sampled_from(objects))
    data, lay = path.read_bytes(), layout(path)
    names = draw(st.lists(st.sampled_from(sorted(MUTATORS)), min_size=1,
                          max_size=max_mutations))
    # Offsets come from the undamaged layout: cut the file last.
    names.sort(key=lambda n: n == "truncation")
    for name in names:
        data = MUTATORS[name](data, lay, draw)
    return path, names, data
