"""Each crash or unclear message the bad-input fuzz campaign found, as an explicit example: a
corpus object damaged by our own code, and the one-line error it must give."""
from __future__ import annotations

import struct
import zlib

import pytest

from cfg.elf import load_object
from cfg.errors import ElfError
from _bad_input_mutators import CORPUS, SECTION_HEADER_FIELDS, layout

XDP = CORPUS / "xdp_eth_drop.o"


def damaged(path, *edits: tuple[int, str, int]) -> bytes:
    """The object's bytes with (offset, struct format, value) fields overwritten."""
    out = bytearray(path.read_bytes())
    for offset, fmt, value in edits:
        struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def section(path, name: str):
    return next(s for s in layout(path).sections if s.name == name)


def header_field(path, name: str, field: str) -> tuple[int, str]:
    offset, fmt = SECTION_HEADER_FIELDS[field]
    return section(path, name).header + offset, fmt


def load(data: bytes):
    return load_object("bad.o", data, target_btf=None)


# --- the ELF container: our own checks instead of a parser library's exceptions --------------

@pytest.mark.parametrize("edit, message", [
    ((58, "<H", 1), r"^bad\.o: ELF header: section header size \(e_shentsize\) is 1, not 64$"),
    ((62, "<H", 200), r"^bad\.o: ELF header: the section name table is section 200, which "
                      r"does not exist"),
    ((40, "<Q", 1 << 40), r"^bad\.o: truncated: the section table \(offset 1099511627776\) "
                          r"runs past the end"),
    ((60, "<H", 0xFFF0), r"^bad\.o: truncated: the section table \(65520 headers"),
])
def test_elf_header_fields(edit, message):
    with pytest.raises(ElfError, match=message):
        load(damaged(XDP, edit))


def test_section_name_outside_the_name_table():
    at, fmt = header_field(XDP, "xdp", "sh_name")
    with pytest.raises(ElfError, match=r"^bad\.o: section #\d+: name offset 4294967295 outside "
                                       r"the section name table"):
        load(damaged(XDP, (at, fmt, 0xFFFFFFFF)))


def test_symbol_table_linked_to_a_section_of_code():
    """pyelftools refused this with its own exception; the symbol names are now read from the
    linked section, and names that are not NUL-terminated strings there are an error."""
    at, fmt = header_field(XDP, ".symtab", "sh_link")
    code = section(XDP, "xdp").index
    with pytest.raises(ElfError, match=r"^bad\.o: symbol #\d+: name"):
        load(damaged(XDP, (at, fmt, code)))


def test_unknown_compression_type():
    sec = section(XDP, "xdp")
    flags_at, fmt = header_field(XDP, "xdp", "sh_flags")
    with pytest.raises(ElfError, match=r"^bad\.o: section 'xdp': unsupported compression type "
                                       r"\d+ \(only zlib, 1\)$"):
        load(damaged(XDP, (flags_at, fmt, sec.flags | 0x800)))


def compressed(path, name: str, body: bytes, ch_size: int) -> bytes:
    """The object with section `name` replaced by a SHF_COMPRESSED copy appended to the file."""
    data = path.read_bytes()
    sec = section(path, name)
    blob = struct.pack("<IIQQ", 1, 0, ch_size, 8) + body
    out = damaged(path, (header_field(path, name, "sh_flags")[0], "<Q", sec.flags | 0x800),
                  (header_field(path, name, "sh_offset")[0], "<Q", len(data)),
                  (header_field(path, name, "sh_size")[0], "<Q", len(blob)))
    return out + blob


def test_zlib_compressed_code_loads_like_the_original():
    sec = section(XDP, "xdp")
    code = XDP.read_bytes()[sec.offset:sec.offset + sec.size]
    obj = load(compressed(XDP, "xdp", zlib.compress(code), len(code)))
    assert [p.insns for p in obj.programs] == [p.insns for p in load(XDP.read_bytes()).programs]


@pytest.mark.parametrize("body, ch_size, message", [
    (b"not zlib", 16, r"corrupt zlib data"),
    (zlib.compress(bytes(8)), 16, r"decompresses to 8 bytes, its header says 16$"),
    (zlib.compress(bytes(64)), 16, r"decompresses to more than 16 bytes, its header says 16$"),
    (zlib.compress(bytes(64)), 1 << 40, r"uncompressed size 1099511627776 is implausibly large"),
])
def test_bad_compressed_sections(body, ch_size, message):
    with pytest.raises(ElfError, match=r"^bad\.o: section 'xdp': " + message):
        load(compressed(XDP, "xdp", body, ch_size))
