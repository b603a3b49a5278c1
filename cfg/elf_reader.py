"""The ELF container of an eBPF object: sections, symbols and relocations.

pyelftools reads the header, the section table, section names and (possibly compressed)
section contents; the symbol table and REL/RELA entries are fixed-size records that we decode
ourselves so every field is checked. Anything malformed raises `ElfError` (without the file
name, which `cfg.elf` adds); the pyelftools exceptions are turned into `ElfError` by the caller.
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from cfg.errors import ElfError

EM_BPF = 247
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 1, 2, 3, 4, 8, 9
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON = 0, 0xFF00, 0xFFF1, 0xFFF2
R_BPF_NONE, R_BPF_64_64, R_BPF_64_ABS64, R_BPF_64_ABS32 = 0, 1, 2, 3
R_BPF_64_NODYLD32, R_BPF_64_32 = 4, 10
MAX_NOBITS = 1 << 25  # a .bss larger than this could never be a map value (the kernel caps
#                      array values at KMALLOC_MAX_SIZE, a few MiB)

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
    """Read an ELF64 little-endian EM_BPF object (pyelftools errors propagate to the caller)."""
    from elftools.elf.elffile import ELFFile

    if len(data) < 64:
        raise ElfError(f"truncated: {len(data)} bytes is shorter than an ELF header")
    if data[:4] != b"\x7fELF":
        raise ElfError("not an ELF file (bad magic)")
    if data[4] != 2:
        raise ElfError("not a 64-bit ELF file")
    if data[5] != 1:
        raise ElfError("big-endian objects are not supported (build with -target bpfel)")
    elf = ELFFile(io.BytesIO(data))
    machine = elf.header["e_machine"]
    if machine not in ("EM_BPF", EM_BPF):
        raise ElfError(f"wrong machine {machine}: not an eBPF object (EM_BPF)")
    shoff, shnum = elf.header["e_shoff"], elf.num_sections()
    if shnum == 0:
        raise ElfError("no section table")
    if shoff + shnum * elf.header["e_shentsize"] > len(data):
        raise ElfError("truncated: the section table runs past the end of the file")

    headers = []
    for index in range(shnum):
        sec = elf.get_section(index)
        headers.append((sec, _sh_type(sec.header["sh_type"])))
    # Sections whose relocations matter: code, and `.maps` (initial map-in-map / prog_array
    # slots).
    code = {i for i, (sec, t) in enumerate(headers)
            if t == SHT_PROGBITS and (sec.header["sh_flags"] & SHF_EXECINSTR
                                      or sec.name == ".maps")}
    sections: list[Section] = []
    for index, (sec, sh_type) in enumerate(headers):
        hdr = sec.header
        size = hdr["sh_size"]
        if sh_type == SHT_NOBITS:
            if size > MAX_NOBITS:
                raise ElfError(f"section {sec.name!r}: size {size} is implausibly large")
            body = b""
        elif sh_type == 0 or not _needed(sec.name, sh_type, hdr["sh_info"], code):
            body = b""  # debug info and relocations of non-code sections: never read
        else:
            if hdr["sh_offset"] + size > len(data):
                raise ElfError(f"truncated: section {sec.name!r} runs past the end of the file")
            body = bytes(sec.data())
            size = len(body)  # differs from sh_size for SHF_COMPRESSED sections
        sections.append(Section(index, sec.name, sh_type, hdr["sh_flags"], size,
                                hdr["sh_link"], hdr["sh_info"], body))

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


_UNREAD_PREFIXES = (".debug", ".zdebug", ".llvm", ".comment", ".note", ".eh_frame")


def _needed(name: str, sh_type: int, info: int, code: set[int]) -> bool:
    """Whether the loader ever looks at a section's contents."""
    if sh_type in (SHT_REL, SHT_RELA):
        return info in code
    return not name.startswith(_UNREAD_PREFIXES)


def _sh_type(value: object) -> int:
    """pyelftools names known section types; map the names we use back to numbers."""
    if isinstance(value, int):
        return value
    names = {"SHT_NULL": 0, "SHT_PROGBITS": SHT_PROGBITS, "SHT_SYMTAB": SHT_SYMTAB,
             "SHT_STRTAB": SHT_STRTAB, "SHT_RELA": SHT_RELA, "SHT_NOBITS": SHT_NOBITS,
             "SHT_REL": SHT_REL}
    return names.get(str(value), -1)


def _read_symbols(symtab: Section, sections: list[Section]) -> list[Symbol]:
    if not 0 <= symtab.link < len(sections):
        raise ElfError("symbol table links to a missing string table")
    strtab = sections[symtab.link].data
    if len(symtab.data) % _SYM.size:
        raise ElfError(f"symbol table size {len(symtab.data)} is not a multiple of {_SYM.size}")
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
    out = []
    for i in range(len(sec.data) // rec.size):
        fields = rec.unpack_from(sec.data, i * rec.size)
        offset, info = fields[0], fields[1]
        sym = info >> 32
        if sym >= nsyms:
            raise ElfError(f"relocation #{i} of {sec.name!r}: relocation to unknown symbol #{sym}")
        out.append(Reloc(offset, info & 0xFFFFFFFF, sym, fields[2] if len(fields) > 2 else 0))
    return out
