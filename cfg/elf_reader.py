"""The ELF container of an eBPF object: sections, symbols and relocations.

The header, the section table, section names, (zlib-compressed) section contents, the symbol
table and REL/RELA entries are fixed-size records that we decode ourselves, so every field is
checked before it is trusted and a damaged file is an `ElfError` naming the section or entry
(without the file name, which `cfg.elf` adds).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from cfg.errors import ElfError

EM_BPF = 247
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 1, 2, 3, 4, 8, 9
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
SHF_COMPRESSED, ELFCOMPRESS_ZLIB = 0x800, 1
SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xFF00, 0xFFF1, 0xFFF2, 0xFFFF
R_BPF_NONE, R_BPF_64_64, R_BPF_64_ABS64, R_BPF_64_ABS32 = 0, 1, 2, 3
R_BPF_64_NODYLD32, R_BPF_64_32 = 4, 10
MAX_NOBITS = 1 << 25  # a .bss larger than this could never be a map value (the kernel caps
#                      array values at KMALLOC_MAX_SIZE, a few MiB)

MAX_SECTION_SIZE = 1 << 30  # as cfg.elf.MAX_OBJECT_SIZE: a decompressed section is no larger
# Symbols or relocations of one table: eBPF objects have thousands (vmlinux, read for its BTF,
# about 200k); a bound keeps a huge table from costing gigabytes of Python objects.
MAX_RECORDS = 1 << 20

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_CHDR = struct.Struct("<IIQQ")
_SYM = struct.Struct("<IBBHQQ")
_REL = struct.Struct("<QQ")
_RELA = struct.Struct("<QQq")


@dataclass(frozen=True)
class Section:
    """One section; `data` is empty for SHT_NOBITS (its `size` still counts)."""

    index: int
    name: str
    type: int
    flags: int
    size: int
    link: int
    info: int
    data: bytes

    @property
    def executable(self) -> bool:
        return self.type == SHT_PROGBITS and bool(self.flags & SHF_EXECINSTR)

    def contents(self) -> bytes:
        """The bytes a program sees: the data, or zeros for SHT_NOBITS."""
        return bytes(self.size) if self.type == SHT_NOBITS else self.data


@dataclass(frozen=True)
class Symbol:
    index: int
    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int

    @property
    def is_extern(self) -> bool:
        return self.shndx == SHN_UNDEF and bool(self.name) and self.bind != STB_LOCAL


@dataclass(frozen=True)
class Reloc:
    """A relocation of the section it belongs to: byte `offset`, `type` (R_BPF_*), symbol index."""

    offset: int
    type: int
    sym: int
    addend: int = 0


@dataclass
class RawElf:
    sections: list[Section]
    symbols: list[Symbol]
    relocs: dict[int, list[Reloc]]   # target section index -> its relocations

    def section(self, name: str) -> Section | None:
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None


def read_elf(data: bytes) -> RawElf:
    """Read an ELF64 little-endian EM_BPF object."""
    if len(data) < _EHDR.size:
        raise ElfError(f"truncated: {len(data)} bytes is shorter than an ELF header")
    if data[:4] != b"\x7fELF":
        raise ElfError("not an ELF file (bad magic)")
    if data[4] != 2:
        raise ElfError("not a 64-bit ELF file")
    if data[5] != 1:
        raise ElfError("big-endian objects are not supported (build with -target bpfel)")
    headers, shstrndx = _section_headers(data)
    names = _section_names(data, headers, shstrndx)
    # Sections whose relocations matter: code, and `.maps` (initial map-in-map / prog_array
    # slots).
    code = {i for i, h in enumerate(headers)
            if h.type == SHT_PROGBITS and (h.flags & SHF_EXECINSTR or names[i] == ".maps")}
    sections: list[Section] = []
    for index, (hdr, name) in enumerate(zip(headers, names)):
        size = hdr.size
        if hdr.type == SHT_NOBITS:
            if size > MAX_NOBITS:
                raise ElfError(f"section {name!r}: size {size} is implausibly large")
            body = b""
        elif hdr.type == 0 or (index not in code and not _needed(name, hdr.type, hdr.info,
                                                                  code)):
            body = b""  # debug info and relocations of non-code sections: never read
        else:
            body = _contents(data, hdr, name)
            size = len(body)  # differs from sh_size for SHF_COMPRESSED sections
        sections.append(Section(index, name, hdr.type, hdr.flags, size, hdr.link, hdr.info,
                                body))

    symtabs = [s for s in sections if s.type == SHT_SYMTAB]
    if not symtabs:
        raise ElfError("missing section: no symbol table (.symtab)")
    symtab = symtabs[0]
    symbols = _read_symbols(symtab, sections)
    relocs: dict[int, list[Reloc]] = {}
    for sec in sections:
        if sec.type not in (SHT_REL, SHT_RELA):
            continue
        if sec.info not in code:
            continue  # relocations of debug info, BTF, data: not needed
        if sec.link != symtab.index:
            raise ElfError(f"relocation section {sec.name!r} uses section {sec.link} as its "
                           f"symbol table, not {symtab.name!r}")
        relocs.setdefault(sec.info, []).extend(_read_relocs(sec, len(symbols)))
    return RawElf(sections, symbols, relocs)


@dataclass(frozen=True)
class _Header:
    """The fields of an Elf64_Shdr the loader uses."""

    name: int
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int


def _section_headers(data: bytes) -> tuple[list[_Header], int]:
    """The section table (every header inside the file) and the index of the name table."""
    fields = _EHDR.unpack_from(data)
    machine, shoff, shentsize, shnum, shstrndx = fields[2], fields[6], fields[11], fields[12], \
        fields[13]
    if machine != EM_BPF:
        raise ElfError(f"wrong machine {machine}: not an eBPF object (EM_BPF is {EM_BPF})")
    if shoff == 0:
        raise ElfError("no section table")
    if shentsize != _SHDR.size:
        raise ElfError(f"ELF header: section header size (e_shentsize) is {shentsize}, "
                       f"not {_SHDR.size}")
    if shoff + _SHDR.size > len(data):
        raise ElfError(f"truncated: the section table (offset {shoff}) runs past the end of "
                       f"the file ({len(data)} bytes)")

    def header(index: int) -> _Header:
        name, sh_type, flags, _addr, offset, size, link, info, _align, _entsize = \
            _SHDR.unpack_from(data, shoff + index * _SHDR.size)
        return _Header(name, sh_type, flags, offset, size, link, info)

    first = header(0)
    if shnum == 0:  # extended numbering: the count is in section 0's sh_size
        shnum = first.size
    if shnum == 0:
        raise ElfError("no section table")
    if shoff + shnum * _SHDR.size > len(data):
        raise ElfError(f"truncated: the section table ({shnum} headers at offset {shoff}) runs "
                       f"past the end of the file ({len(data)} bytes)")
    headers = [header(i) for i in range(shnum)]
    if shstrndx == SHN_XINDEX:
        shstrndx = first.link
    if not 0 < shstrndx < shnum:
        raise ElfError(f"ELF header: the section name table is section {shstrndx}, which does "
                       f"not exist ({shnum} sections)")
    return headers, shstrndx


def _section_names(data: bytes, headers: list[_Header], shstrndx: int) -> list[str]:
    table = _contents(data, headers[shstrndx], "section name table")
    names = []
    for index, hdr in enumerate(headers):
        if hdr.name == 0 and not table:
            names.append("")
            continue
        if hdr.name >= len(table):
            raise ElfError(f"section #{index}: name offset {hdr.name} outside the section name "
                           f"table ({len(table)} bytes)")
        end = table.find(b"\0", hdr.name)
        if end < 0:
            raise ElfError(f"section #{index}: name is not NUL-terminated")
        names.append(table[hdr.name:end].decode("utf-8", errors="replace"))
    return names


def _contents(data: bytes, hdr: _Header, name: str) -> bytes:
    """A section's bytes, decompressed when SHF_COMPRESSED (zlib, as ELFCOMPRESS_ZLIB)."""
    what = name if name == "section name table" else f"section {name!r}"
    if hdr.offset + hdr.size > len(data):
        raise ElfError(f"truncated: {what} runs past the end of the file")
    body = data[hdr.offset:hdr.offset + hdr.size]
    if not hdr.flags & SHF_COMPRESSED:
        return body
    if len(body) < _CHDR.size:
        raise ElfError(f"{what}: compressed, but shorter than a compression header")
    ch_type, _reserved, ch_size, _align = _CHDR.unpack_from(body)
    if ch_type != ELFCOMPRESS_ZLIB:
        raise ElfError(f"{what}: unsupported compression type {ch_type} (only zlib, 1)")
    if ch_size > MAX_SECTION_SIZE:
        raise ElfError(f"{what}: uncompressed size {ch_size} is implausibly large")
    inflate = zlib.decompressobj()
    try:
        out = inflate.decompress(body[_CHDR.size:], ch_size + 1)  # a bound: no zlib bomb
    except zlib.error as exc:
        raise ElfError(f"{what}: corrupt zlib data ({exc})") from None
    if len(out) != ch_size:
        got = f"more than {ch_size}" if len(out) > ch_size else str(len(out))
        raise ElfError(f"{what}: decompresses to {got} bytes, its header says {ch_size}")
    return out


_UNREAD_PREFIXES = (".debug", ".zdebug", ".llvm", ".comment", ".note", ".eh_frame")


def _needed(name: str, sh_type: int, info: int, code: set[int]) -> bool:
    """Whether the loader ever looks at a section's contents."""
    if sh_type in (SHT_REL, SHT_RELA):
        return info in code
    return not name.startswith(_UNREAD_PREFIXES)


def _read_symbols(symtab: Section, sections: list[Section]) -> list[Symbol]:
    if not 0 <= symtab.link < len(sections):
        raise ElfError("symbol table links to a missing string table")
    strtab = sections[symtab.link].data
    if len(symtab.data) % _SYM.size:
        raise ElfError(f"symbol table size {len(symtab.data)} is not a multiple of {_SYM.size}")
    if len(symtab.data) // _SYM.size > MAX_RECORDS:
        raise ElfError(f"symbol table of {len(symtab.data) // _SYM.size} entries: more than "
                       f"{MAX_RECORDS}")
    out = []
    for i in range(len(symtab.data) // _SYM.size):
        name_off, info, _other, shndx, value, size = _SYM.unpack_from(symtab.data, i * _SYM.size)
        name = _string(strtab, name_off, i)
        if shndx not in (SHN_UNDEF, SHN_ABS, SHN_COMMON) and shndx >= len(sections) \
                and shndx < SHN_LORESERVE:
            raise ElfError(f"symbol {name or i!r} is in missing section {shndx}")
        out.append(Symbol(i, name, value, size, info & 0xF, info >> 4, shndx))
    return out


def _string(table: bytes, offset: int, index: int) -> str:
    if offset == 0:
        return ""
    if offset >= len(table):
        raise ElfError(f"symbol #{index}: name offset {offset} outside the string table")
    end = table.find(b"\0", offset)
    if end < 0:
        raise ElfError(f"symbol #{index}: name is not NUL-terminated")
    return table[offset:end].decode("utf-8", errors="replace")


def _read_relocs(sec: Section, nsyms: int) -> list[Reloc]:
    rec = _REL if sec.type == SHT_REL else _RELA
    if len(sec.data) % rec.size:
        raise ElfError(f"relocation section {sec.name!r}: size {len(sec.data)} is not a "
                       f"multiple of {rec.size}")
    if len(sec.data) // rec.size > MAX_RECORDS:
        raise ElfError(f"relocation section {sec.name!r} of {len(sec.data) // rec.size} "
                       f"entries: more than {MAX_RECORDS}")
    out = []
    for i in range(len(sec.data) // rec.size):
        fields = rec.unpack_from(sec.data, i * rec.size)
        offset, info = fields[0], fields[1]
        sym = info >> 32
        if sym >= nsyms:
            raise ElfError(f"relocation #{i} of {sec.name!r}: relocation to unknown symbol #{sym}")
        out.append(Reloc(offset, info & 0xFFFFFFFF, sym, fields[2] if len(fields) > 2 else 0))
    return out
