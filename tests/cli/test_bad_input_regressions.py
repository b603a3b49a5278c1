"""Each crash or unclear message the bad-input fuzz campaign found, as an explicit example: a
corpus object damaged by our own code, and the one-line error it must give."""
from __future__ import annotations

import os
import re
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfg.asm import assemble
from cfg.elf import MAX_BTF_SIZE, load_object
from cfg.elf_reader import MAX_RECORDS
from cfg.errors import BpfcheckError, ElfError
from cfg.isa import MAX_SLOTS
from cfg.program import MapDef, Program
from runtime import vm
from runtime.maps import MAX_ARRAY_BYTES, MapError, make_map
from runtime.memory import Memory
from verifier.analyze import Options, analyze
from verifier.cli import main
from verifier.lint.runner import RunOptions
from verifier.yamltest import YamlTestError, _maps, run_file
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


def test_debug_section_marked_executable_is_read_as_code():
    """Code is read whatever its name (a `.debug*` section's contents used to be skipped, and
    its functions then unpacked from no bytes: 'malformed ELF: error: unpack_from ...')."""
    path = CORPUS / "bad_ctx_bad_offset.o"   # its .debug_loclists: 8-byte multiple, no relocs
    at, fmt = header_field(path, ".debug_loclists", "sh_flags")
    with pytest.raises(ElfError, match=r"^bad\.o: [^:]*section '\.debug_loclists'") as exc:
        load(damaged(path, (at, fmt, 0x6)))
    assert "malformed" not in str(exc.value)


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


# --- absurd map sizes: a clear error before any allocation -------------------------------------

LEGACY = CORPUS / "xdp_legacy_maps.o"   # `maps`: bpf_map_def records of 20 bytes, array first


def legacy_array(value_size: int, max_entries: int) -> bytes:
    at = section(LEGACY, "maps").offset
    return damaged(LEGACY, (at + 8, "<I", value_size), (at + 12, "<I", max_entries))


@pytest.mark.parametrize("value_size, max_entries", [(8, 0xFFFFFFFF), (1 << 20, 1 << 12),
                                                     (0xFFFFFFFF, 2)])
def test_huge_array_map_is_refused_by_the_runtime(value_size, max_entries):
    program = load(legacy_array(value_size, max_entries)).programs[0]
    with pytest.raises(MapError, match=rf"^array map proto_count: {max_entries} entries of "
                                       rf"{value_size} bytes need \d+ bytes, more than the "
                                       rf"runtime allocates \({MAX_ARRAY_BYTES}\)$"):
        vm.run(program, ctx=vm.make_context(program_type=program.type), budget=1000)


def test_cli_run_on_a_huge_array_map(tmp_path, capsys):
    bad = tmp_path / "huge.o"
    bad.write_bytes(legacy_array(8, 0xFFFFFFFF))
    assert main(["run", str(bad), "--engine", "interp"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"bpfcheck: error: {bad}: xdp/xdp_legacy_maps: array map ")


@given(st.integers(1, 300_000), st.sampled_from([1, 4, 8, 12]),
       st.dictionaries(st.integers(0, 299_999), st.binary(min_size=1, max_size=12), max_size=6))
@settings(max_examples=15, deadline=None, derandomize=True, database=None)
def test_array_dump_finds_every_nonzero_element(entries, value_size, writes):
    """The dump skips zero runs; it must still list exactly the non-zero elements."""
    array = make_map(MapDef("a", 2, 4, value_size, entries), Memory())
    want = {}
    for index, raw in writes.items():
        if index < entries:
            value = (raw * value_size)[:value_size]
            array.set(index.to_bytes(4, "little"), value)
            want[index.to_bytes(4, "little").hex()] = value.hex()
    assert array.dump() == {k: v for k, v in want.items() if int(v, 16)}


def test_verify_names_an_unloadable_file_once(tmp_path, capsys):
    bad = tmp_path / "cut.o"
    bad.write_bytes(XDP.read_bytes()[:300])
    assert main(["verify", str(bad), "--no-cache"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"bpfcheck: error: {bad}: truncated: the section table (offset "
                   f"{layout(XDP).sections[0].header}) runs past the end of the file (300 bytes)"]


# --- text inputs -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("test-case: x\ncode: a: b\n", r"invalid YAML: line 2, column 8: mapping values are not "
                                   r"allowed here$"),
    ("test-case: x\0\n", r"invalid YAML: unacceptable character #x0000: special characters are "
                         r"not allowed in \"[^\"]*\", position 12$"),
])
def test_invalid_yaml_is_one_line(tmp_path, text, message):
    path = tmp_path / "case.yaml"
    path.write_text(text)
    with pytest.raises(YamlTestError, match=rf"^{re.escape(str(path))}: {message}"):
        run_file(path)


def test_yaml_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "case.yaml"
    path.write_bytes(b"test-case: \xff\n")
    assert main(["yaml", str(path)]) == 2
    assert capsys.readouterr().err == f"bpfcheck: error: {path}: not UTF-8 text (byte 11)\n"


# --- the CLI names the file and the program --------------------------------------------------

def first_jump_out_of_range(path) -> bytes:
    return damaged(path, (layout(path).jump_slots[0] + 2, "<h", 0x7FFF))


@pytest.mark.parametrize("command", [["cfg"], ["cfg", "--invariants"], ["run"]])
def test_malformed_control_flow_names_file_and_program(tmp_path, capsys, command):
    """`cfg` and `run` said only 'pc 5: jump to pc 32773 outside the program (0..15)'."""
    bad = tmp_path / "jump.o"
    bad.write_bytes(first_jump_out_of_range(XDP))
    assert main([*command, str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert re.fullmatch(rf"bpfcheck: error: {re.escape(str(bad))}: xdp/xdp_eth_drop: pc \d+: "
                        r"jump to pc \d+ outside the program \(0\.\.\d+\)", err[0]), err


@pytest.mark.parametrize("maps_json, message", [
    ("{bad", r"maps JSON: Expecting property name enclosed in double quotes: line 1 column 2"),
    ('{"proto_count": {"zz": "00"}}', r"map proto_count: not a hex byte string: 'zz'"),
    ('{"nomap": {}}', r"no map 'nomap'"),
])
def test_bad_maps_json_names_the_file(tmp_path, capsys, maps_json, message):
    maps = tmp_path / "maps.json"
    maps.write_text(maps_json)
    assert main(["run", str(LEGACY), "--engine", "interp", "--maps", str(maps)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and re.match(rf"bpfcheck: error: {re.escape(str(maps))}: {message}",
                                      err[0]), err


# --- huge programs: refused before decoding ---------------------------------------------------

EXIT = struct.pack("<BBhi", 0x95, 0, 0, 0)


def test_raw_program_over_the_kernel_limit(tmp_path, capsys):
    blob = tmp_path / "huge.bin"
    blob.write_bytes(EXIT * (MAX_SLOTS + 1))
    assert main(["disasm", str(blob)]) == 2
    assert capsys.readouterr().err == (f"bpfcheck: error: {blob}: {MAX_SLOTS + 1} instruction "
                                       f"slots: more than the kernel's limit of {MAX_SLOTS}\n")


def function_symbol(path, section_name: str) -> int:
    """File offset of the first STT_FUNC symbol of a section (Elf64_Sym, 24 bytes)."""
    data, symtab = path.read_bytes(), section(path, ".symtab")
    index = section(path, section_name).index
    for at in range(symtab.offset, symtab.offset + symtab.size, 24):
        info, shndx = data[at + 4], struct.unpack_from("<H", data, at + 6)[0]
        if shndx == index and info & 0xF == 2:
            return at
    raise KeyError(section_name)


def test_object_program_over_the_kernel_limit():
    """The xdp section moved to a blob of MAX_SLOTS + 1 exits appended to the file, its
    function's size 0 (runs to the section end): refused before its slots are unpacked."""
    data = bytearray(moved_section(XDP, "xdp", EXIT * (MAX_SLOTS + 1)))
    struct.pack_into("<Q", data, function_symbol(XDP, "xdp") + 16, 0)
    with pytest.raises(ElfError, match=rf"^bad\.o: program 'xdp_eth_drop' in section 'xdp': "
                                       rf"more than {MAX_SLOTS} instruction slots"):
        load(bytes(data))


def moved_section(path, name: str, contents: bytes) -> bytes:
    """The object with section `name`'s contents replaced by `contents`, appended to the file."""
    data = path.read_bytes()
    return damaged(path, (header_field(path, name, "sh_offset")[0], "<Q", len(data)),
                   (header_field(path, name, "sh_size")[0], "<Q", len(contents))) + contents


@pytest.mark.parametrize("name, contents, message", [
    (".symtab", bytes(24 * (MAX_RECORDS + 1)),
     rf"symbol table of {MAX_RECORDS + 1} entries: more than {MAX_RECORDS}$"),
    (".relxdp", bytes(16 * (MAX_RECORDS + 1)),
     rf"relocation section '\.relxdp' of {MAX_RECORDS + 1} entries: more than {MAX_RECORDS}$"),
    (".BTF", bytes(MAX_BTF_SIZE + 1),
     rf"BTF of {MAX_BTF_SIZE + 1} bytes: more than the kernel's limit of {MAX_BTF_SIZE}$"),
])
def test_huge_tables_are_refused_before_parsing(name, contents, message):
    with pytest.raises(ElfError, match=r"^bad\.o: " + message):
        load(moved_section(LEGACY, name, contents))


# --- verify's configuration and budgets --------------------------------------------------------

@pytest.mark.parametrize("text", ["tool = 5\n", "[tool]\nbpfcheck = 5\n"])
def test_config_whose_tool_table_is_not_a_table(tmp_path, capsys, text):
    config = tmp_path / "pyproject.toml"
    config.write_text(text)
    assert main(["verify", str(XDP), "--no-cache", "--config", str(config)]) == 2
    assert capsys.readouterr().err == \
        f"bpfcheck: error: {config}: `tool.bpfcheck` must be a table\n"


def test_absurd_jobs_are_bounded():
    cores = len(os.sched_getaffinity(0))
    assert RunOptions(jobs=100_000).workers() == 4 * cores
    assert RunOptions(jobs=1).workers() == 1
    assert RunOptions().workers() == cores


def test_memory_budget_too_large_for_setrlimit_means_no_limit(capsys):
    """It crashed every worker (OverflowError), and each program was reported over budget."""
    assert main(["verify", str(XDP), "--no-cache", "--memory", str((1 << 63) - 1)]) == 0
    assert "PASS" in capsys.readouterr().out


# --- YAML `pre` that puts r10 where the stack domain cannot follow -----------------------------

PROBE_READ = """test-case: probe read fills the stack buffer
program-type: kprobe
pre: ["r10.type=stack", "r10.stack_offset={top}", "r3.type=number"]
code:
  <start>: |
    r1 = r10
    r1 += -16
    r2 = 16
    call 113
    r0 = *(u64 *)(r10 - 8)
    exit
post: ["r0.type=number"]
"""


@pytest.mark.parametrize("top, reason", [
    # found by the YAML campaign: ValueError (negative shift) and MemoryError
    (0, r"stack top 0 with frames of 512 bytes: the top must be in \[512, 65536\]"),
    (1 << 64, r"stack top 18446744073709551616 with frames of 512 bytes"),
])
def test_yaml_stack_top_out_of_range_fails_the_case(tmp_path, top, reason):
    path = tmp_path / "case.yaml"
    path.write_text(PROBE_READ.format(top=top))
    [result] = run_file(path)
    assert not result.passed and re.search(reason, result.reason), result.reason


def test_callee_frame_below_offset_zero_is_an_error():
    """r10 at 512 leaves no room for a callee's frame: an error once the callee touches it
    (calls that do not use their stack stay fine, as PREVAIL's cases do)."""
    program = Program(assemble("call pc+2\nr0 = 0\nexit\nr1 = 1\n*(u64 *)(r10 - 8) = r1\n"
                               "r0 = 0\nexit\n"), type="xdp")
    with pytest.raises(BpfcheckError, match=r"^stack byte offset -8 is below 0: the stack top "
                                            r"leaves no room for this call frame$"):
        analyze(program, Options(stack_top=512))
    assert analyze(program, Options(stack_top=1024)).ok


@pytest.mark.parametrize("field, reason", [
    # AttributeError / TypeError / ValueError tracebacks before
    ("pre: 5", "`pre` must be a list, not int"),
    ("post: 5", "`post` must be a list, not int"),
    ("messages: 5", "`messages` must be a list, not int"),
    ("options: 5", "`options` must be a list, not int"),
    ("maps: x", "`maps` must be a list, not str"),
    ("maps: [5]", "`maps` entry 0 must be a mapping"),
    ("observe: [5]", "`observe` entries must be mappings with a `constraints` list"),
    ("maps: [{type: hash, key_size: x}]",
     "`maps` entry 0: `key_size` must be a 32-bit unsigned integer, not 'x'"),
    # accepted before: an unknown type became an array, a type id 1 (hash) too
    ("maps: [{type: zz}]", "`maps` entry 0: unknown map type 'zz'"),
    ("maps: [{type: 1, max_entries: 99999999999999999999}]",
     "`maps` entry 0: `max_entries` must be a 32-bit unsigned integer, not 99999999999999999999"),
])
def test_yaml_fields_of_the_wrong_shape_fail_the_case(tmp_path, field, reason):
    path = tmp_path / "case.yaml"
    path.write_text(f"test-case: t\ncode:\n  <start>: |\n    r0 = 0\n    exit\n{field}\n")
    [result] = run_file(path)
    assert not result.passed and result.reason == f"bad test: {reason}"


def test_yaml_map_type_by_id():
    assert _maps([{"type": 1, "key_size": 4, "value_size": 8, "max_entries": 2}])[0].type_name \
        == "hash"


@pytest.mark.parametrize("command", [["verify", "--no-cache"], ["run"]])
def test_a_name_with_a_newline_stays_on_one_line(tmp_path, capsys, command):
    """The section name comes from the damaged file; it was printed raw, on two lines."""
    bad = tmp_path / "newline.o"
    bad.write_bytes(XDP.read_bytes().replace(b"\0xdp\0", b"\0x\np\0"))
    assert main([*command, str(bad)]) == 2
    assert capsys.readouterr().err == (f"bpfcheck: error: {bad}: x\\np/xdp_eth_drop: linux: "
                                       f"unknown program type or section 'x\\np'\n")
