"""cfg.datafile: the `.data` test format of uBPF and bpf_conformance."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings

from _isa_strategies import programs
from cfg.asm import assemble, disassemble
from cfg.datafile import parse_data, read_data_file
from cfg.errors import AsmError, BpfcheckError, DecodeError
from cfg.isa import encode


def test_asm_mem_result(tmp_path):
    path = tmp_path / "add.data"
    path.write_text("# adds two numbers\n-- asm\nmov32 %r0, 1  # one\nadd32 %r0, 2\nexit\n"
                    "-- mem\n00 01 02\nff 10\n-- result\n0x3\n")
    test = read_data_file(path)
    assert test.name == "add" and test.path == str(path)
    assert test.insns == assemble("mov32 %r0, 1\nadd32 %r0, 2\nexit", "ubpf")
    assert test.mem == bytes([0, 1, 2, 0xFF, 0x10])
    assert test.result == 3 and test.error is None and test.raw is None
    assert test.load_error is None


def test_raw_words_are_little_endian_slots():
    text = "-- raw\n0x00000001000000b7\n149\n-- result\n1\n"
    test = parse_data(text)
    assert test.raw == struct.pack("<QQ", 0x1000000B7, 0x95)
    assert test.insns == assemble("r0 = 1\nexit")


@settings(max_examples=40)
@given(programs(max_size=10))
def test_raw_and_asm_sections_describe_the_same_program(insns):
    data = encode(insns)
    words = [struct.unpack_from("<Q", data, i)[0] for i in range(0, len(data), 8)]
    raw = parse_data("-- raw\n" + "\n".join(f"{w:#x}" for w in words) + "\n-- result\n0\n")
    asm = parse_data("-- asm\n" + "\n".join(disassemble(insns, "ubpf")) + "\n-- result\n0\n")
    assert raw.insns == asm.insns == insns


def test_raw_wins_over_asm_and_other_sections_are_ignored():
    text = ("-- asm\nmov %r0, 7\nexit\n-- raw\n0xb7\n0x95\n-- c\nreturn 0;\n"
            "-- no register offset\ncall 1\n-- result\n-1\n")
    test = parse_data(text)
    assert test.insns == assemble("r0 = 0\nexit")
    assert test.asm is not None and "mov %r0, 7" in test.asm
    assert test.result == (1 << 64) - 1  # results are unsigned 64-bit


def test_expected_error_tolerates_an_unassemblable_program():
    text = "-- asm\nmov %r11, 1\nexit\n-- error\nbad register\nr11\n"
    test = parse_data(text, "neg.data")
    assert test.error == "bad register r11"
    assert test.insns == [] and "bad register" in test.load_error
    assert test.result is None


@pytest.mark.parametrize("text,exc,needle", [
    ("-- asm\nmov %r0, 1\nfrob\n-- result\n1\n", AsmError, "t.data: line 3: unknown mnemonic"),
    ("-- raw\n0xff\n-- result\n1\n", DecodeError, "t.data: instruction 0: unknown opcode"),
    ("-- raw\n0xzz\n-- result\n1\n", AsmError, "t.data: line 2: bad raw instruction"),
    ("-- raw\n0x1ffffffffffffffff\n", AsmError, "not a 64-bit value"),
    ("-- asm\nexit\n-- mem\n0g\n", AsmError, "t.data: line 4: bad memory byte"),
    ("-- asm\nexit\n-- mem\n100\n", AsmError, "is not a byte"),
    ("-- asm\nexit\n-- result\nmany\n", AsmError, "line 4: bad result"),
    ("-- result\n1\n", AsmError, "no `-- asm` or `-- raw` section"),
])
def test_bad_files_name_the_file_and_line(text, exc, needle):
    with pytest.raises(exc) as e:
        parse_data(text, "t.data")
    assert needle in str(e.value)


def test_error_keeps_line_and_index_fields():
    with pytest.raises(AsmError) as e:
        parse_data("-- asm\nexit\nfrob\n", "t.data")
    assert e.value.line == 3
    with pytest.raises(DecodeError) as d:
        parse_data("-- raw\n0xb7\n0xff\n", "t.data")
    assert d.value.index == 1


def test_map_section_names_the_maps():
    text = ("-- map\n# name type key value entries\ncounts 2 4 8 10\nh hash 8 8 100\n"
            "-- asm\nlddw r1, map_by_fd(h)\nlddw r2, map_val(map_by_fd(counts)) + 8\n"
            "call bpf_map_lookup_elem\nexit\n-- result\n0\n")
    test = parse_data(text)
    assert [(m.name, m.type, m.key_size, m.value_size, m.max_entries) for m in test.maps] == [
        ("counts", 2, 4, 8, 10), ("h", 1, 8, 8, 100)]
    assert [(i.src, i.imm, i.next_imm) for i in test.insns[:2]] == [(1, 1, 0), (2, 0, 8)]
    assert test.insns[2].imm == 1
    with pytest.raises(AsmError, match="unknown map type 'frob'"):
        parse_data("-- map\nm frob 4 4 1\n-- asm\nexit\n")
    with pytest.raises(AsmError, match="line 2: a map is"):
        parse_data("-- map\nm 2 4\n-- asm\nexit\n")


def test_missing_file(tmp_path):
    with pytest.raises(BpfcheckError, match="none.data"):
        read_data_file(tmp_path / "none.data")
