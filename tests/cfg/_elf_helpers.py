"""Test helpers: where things sit in an ELF file, and the objects the loader tests run on."""
from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

from elftools.elf.elffile import ELFFile

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORPUS = ROOT / "corpus" / "build"


def fixture(name: str) -> Path:
    return FIXTURES / name


def all_objects() -> list[Path]:
    """Every committed object: our fixtures and the corpus builds (Linux and Windows)."""
    return sorted(FIXTURES.glob("*.o")) + sorted((ROOT / "corpus").glob("**/build/*.o"))


def section_header_offset(data: bytes, name: str) -> int:
    """File offset of a section's header (Elf64_Shdr, 64 bytes)."""
    elf = ELFFile(io.BytesIO(data))
    for i, sec in enumerate(elf.iter_sections()):
        if sec.name == name:
            return elf.header["e_shoff"] + i * elf.header["e_shentsize"]
    raise KeyError(name)


def section_file_range(data: bytes, name: str) -> tuple[int, int]:
    """(file offset, size) of a section's contents."""
    elf = ELFFile(io.BytesIO(data))
    sec = elf.get_section_by_name(name)
    return sec["sh_offset"], sec["sh_size"]


def symbol_entry_offset(data: bytes, symbol: str) -> int:
    """File offset of a symbol's Elf64_Sym entry (24 bytes)."""
    elf = ELFFile(io.BytesIO(data))
    symtab = elf.get_section_by_name(".symtab")
    for i, sym in enumerate(symtab.iter_symbols()):
        if sym.name == symbol:
            return symtab["sh_offset"] + i * 24
    raise KeyError(symbol)


def symbol_value(data: bytes, symbol: str) -> int:
    elf = ELFFile(io.BytesIO(data))
    return next(s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()
                if s.name == symbol)


def patch(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def llvm_tool(name: str) -> str | None:
    return shutil.which(name)


def readelf_functions(path: Path) -> dict[tuple[str, str], int]:
    """(section name, function name) -> size in bytes, for every FUNC symbol, per llvm-readelf."""
    out = subprocess.run(["llvm-readelf-19", "-S", "-s", "--wide", str(path)], check=True,
                         capture_output=True, text=True).stdout
    sections: dict[int, str] = {}
    funcs: dict[tuple[str, str], int] = {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("[") and "]" in line:
            idx, rest = line[1:].split("]", 1)
            if idx.strip().isdigit() and rest.split():
                sections[int(idx)] = rest.split()[0]
        parts = line.split()
        if len(parts) >= 8 and parts[0].endswith(":") and parts[3] == "FUNC":
            ndx = parts[6]
            if ndx.isdigit():
                funcs[(sections[int(ndx)], parts[7])] = int(parts[2], 0)
    return funcs


def objdump_code_sections(path: Path) -> dict[str, int]:
    """Code (TEXT) section name -> size in bytes, per `llvm-objdump -h`."""
    out = subprocess.run(["llvm-objdump-19", "-h", str(path)], check=True,
                         capture_output=True, text=True).stdout
    sections = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0].isdigit() and parts[4] == "TEXT":
            sections[parts[1]] = int(parts[2], 16)
    return sections
