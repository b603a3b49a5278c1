"""cfg.isa: exact byte round trips over every instruction form, and clear decode errors."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _isa_strategies import KEYS, any_insn, insn_of, programs
from cfg import isa
from cfg.errors import DecodeError
from cfg.isa import SPECS, Insn, check, decode, encode, slot_offsets


def slot(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", opcode, dst | src << 4, off, imm)


EXIT = slot(0x95)
MOV0 = slot(0xB7)


@settings(max_examples=400)
@given(any_insn())
def test_decode_encode_round_trip_one(insn):
    assert decode(encode([insn])) == [insn]


@settings(max_examples=100)
@given(programs())
def test_decode_encode_round_trip_programs(insns):
    data = encode(insns)
    assert len(data) == 8 * sum(i.slots for i in insns)
    assert decode(data) == insns
    assert encode(decode(data)) == data


@pytest.mark.parametrize("key", KEYS, ids=lambda k: f"{k[0]:#04x}/{k[1]}")
@settings(max_examples=5)
@given(data=st.data())
def test_every_table_entry_round_trips(key, data):
    insn = data.draw(insn_of(key))
    assert insn.spec is SPECS[key]
    assert decode(encode([insn])) == [insn]


@settings(max_examples=300)
@given(st.binary(min_size=8, max_size=8), st.binary(min_size=8, max_size=8))
def test_arbitrary_bytes_decode_or_raise_decode_error(a, b):
    try:
        insns = decode(a + b)
    except DecodeError as exc:
        assert exc.index in (0, 1)
        assert f"instruction {exc.index}" in str(exc)
    else:
        assert encode(insns) == a + b


def test_slot_offsets_count_lddw_twice():
    insns = [Insn(0xB7), isa.lddw(1, 1 << 40), Insn(0x95)]
    assert slot_offsets(insns) == [0, 1, 3]
    assert [i.slots for i in insns] == [1, 2, 1]


def test_lddw_value_split_over_two_slots():
    insn = isa.lddw(2, 0x1122334455667788)
    assert insn.imm64 == 0x1122334455667788
    data = encode([insn])
    assert data[4:8] == bytes.fromhex("88776655") and data[12:16] == bytes.fromhex("44332211")
    assert isa.lddw(0, -1).imm64 == (1 << 64) - 1


# RFC 9669 facts, spot-checked independently of the table
@pytest.mark.parametrize("opcode,variant,kind,op", [
    (0x07, 0, "alu", "add"), (0x3F, 1, "alu", "sdiv"), (0x94, 1, "alu", "smod"),
    (0xBF, 8, "movsx", "movsx"), (0xBC, 16, "movsx", "movsx"), (0xD7, 64, "bswap", "bswap"),
    (0xDC, 16, "end", "be"), (0xD4, 32, "end", "le"), (0x91, 0, "ldxsx", ""),
    (0xDB, 0xE1, "atomic", "xchg"), (0xC3, 0xF1, "atomic", "cmpxchg"),
    (0xDB, 0x51, "atomic", "fetch_and"), (0x06, 0, "ja", ""), (0xE5, 0, "may_goto", ""),
    (0x8D, 0, "callx", ""), (0x85, 1, "call", "local"), (0x30, 0, "ldabs", ""),
    (0x50, 0, "ldind", ""), (0x1E, 0, "jcond", "jeq"), (0x18, 0, "lddw", ""),
])
def test_rfc9669_opcodes(opcode, variant, kind, op):
    spec = SPECS[(opcode, variant)]
    assert (spec.kind, spec.op) == (kind, op)


def test_movsx_widths_follow_the_class():
    assert (0xBC, 32) not in SPECS  # 32-bit movsx only from 8 or 16 bits
    assert {b for (o, b) in SPECS if o == 0xBF} == {0, 8, 16, 32}


# --- errors name the slot --------------------------------------------------------------------
@pytest.mark.parametrize("prefix", [0, 1, 3])
def test_unknown_opcode(prefix):
    data = MOV0 * prefix + slot(0xFF) + EXIT
    with pytest.raises(DecodeError, match=rf"^instruction {prefix}: unknown opcode 0xff") as e:
        decode(data)
    assert e.value.index == prefix


@pytest.mark.parametrize("fields,what", [
    (dict(opcode=0xB7, dst=11), "bad destination register r11"),
    (dict(opcode=0xBF, dst=1, src=12), "bad source register r12"),
    (dict(opcode=0x61, dst=15, src=1), "bad destination register r15"),
])
def test_bad_register(fields, what):
    data = MOV0 * 2 + slot(**fields)
    with pytest.raises(DecodeError, match=rf"^instruction 2: {what}") as e:
        decode(data)
    assert e.value.index == 2


@pytest.mark.parametrize("fields,field", [
    (dict(opcode=0x95, imm=1), "imm"), (dict(opcode=0x95, dst=1), "dst"),
    (dict(opcode=0x07, src=1), "src"), (dict(opcode=0x0F, imm=7), "imm"),
    (dict(opcode=0xB7, off=1), "off"), (dict(opcode=0x05, imm=1), "imm"),
    (dict(opcode=0x06, off=1), "off"), (dict(opcode=0x61, imm=1), "imm"),
    (dict(opcode=0x30, dst=1), "dst"), (dict(opcode=0x8D, imm=1), "imm"),
    (dict(opcode=0x87, imm=1), "imm"), (dict(opcode=0xD4, off=1, imm=16), "off"),
])
def test_reserved_field_set(fields, field):
    with pytest.raises(DecodeError, match=rf"^instruction 1: reserved field {field} ") as e:
        decode(MOV0 + slot(**fields))
    assert e.value.index == 1


@pytest.mark.parametrize("fields,needle", [
    (dict(opcode=0x3F, off=2), "invalid offset 2"), (dict(opcode=0xBF, off=64), "invalid offset"),
    (dict(opcode=0xDB, imm=0x02), "invalid immediate 0x2"),
    (dict(opcode=0xD7, imm=8), "invalid immediate 0x8"),
    (dict(opcode=0x85, src=3), "invalid source field 3"),
])
def test_invalid_variant(fields, needle):
    with pytest.raises(DecodeError, match=rf"^instruction 0: {needle}"):
        decode(slot(**fields))


def test_lddw_cut_in_half():
    with pytest.raises(DecodeError, match=r"^instruction 2: lddw cut in half") as e:
        decode(MOV0 * 2 + slot(0x18, 1, imm=5))
    assert e.value.index == 2


def test_lddw_second_slot_must_be_empty():
    with pytest.raises(DecodeError, match=r"^instruction 2: second slot of lddw") as e:
        decode(MOV0 + slot(0x18, 1) + slot(0x95))
    assert e.value.index == 2


def test_lddw_bad_pseudo_source_and_stray_next_imm():
    with pytest.raises(DecodeError, match="reserved field src"):
        decode(slot(0x18, 1, 7) + slot(0))
    with pytest.raises(DecodeError, match="reserved field next_imm"):
        decode(slot(0x18, 1, 1) + slot(0, imm=4))


@pytest.mark.parametrize("length", [1, 7, 9, 15, 17])
def test_wrong_length(length):
    with pytest.raises(DecodeError, match=rf"length {length} is not a multiple of 8"):
        decode(bytes(length))


def test_encode_validates_with_the_slot_index():
    with pytest.raises(DecodeError, match=r"^instruction 3: unknown opcode") as e:
        encode([isa.lddw(0, 1), Insn(0xB7), Insn(0xFE)])
    assert e.value.index == 3
    with pytest.raises(DecodeError, match="second-slot immediate"):
        check(Insn(0xB7, next_imm=1))
    with pytest.raises(DecodeError, match="out of 32-bit range"):
        check(Insn(0xB7, imm=1 << 31))
    with pytest.raises(DecodeError, match="out of 16-bit range"):
        check(Insn(0x05, off=1 << 15))
