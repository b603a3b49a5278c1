"""Types, stack array, constraint syntax and the state lattice."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domains.interval import IntervalDomain
from domains.zone import ZoneDomain
from verifier import types as T
from verifier.constraints import ConstraintError, entails, initial_state, parse
from verifier.errors import ERROR_KINDS, error_kind
from verifier.stack import Stack, cell_name, ranges
from verifier.state import State


def test_error_registry_has_the_interface_kinds():
    kinds = {"packet-bounds", "stack-bounds", "ctx-access", "map-value-bounds", "null-deref",
             "uninit-register", "uninit-stack", "pointer-leak", "helper-arg", "termination",
             "pointer-arith", "exit-value", "invalid-memory", "division-by-zero",
             "unknown-helper", "invalid-call", "pointer-compare"}
    assert set(ERROR_KINDS) == kinds
    assert len({k.code for k in ERROR_KINDS.values()}) == len(kinds)
    with pytest.raises(KeyError):
        error_kind("no-such-kind")


@given(st.integers(1, (1 << 9) - 1))
def test_type_names_round_trip(mask):
    assert T.parse(T.name(mask)) == mask


def test_type_fields():
    assert T.fields(T.NUMBER) == ("svalue", "uvalue")
    assert set(T.fields(T.STACK | T.PACKET)) == {"stack_offset", "stack_numeric_size",
                                                  "packet_offset"}
    with pytest.raises(ValueError):
        T.parse("pointer")


@settings(max_examples=100)
@given(st.integers(0, (1 << 64) - 1))
def test_ranges_cover_exactly_the_set_bits(bits):
    rebuilt = 0
    for lo, hi in ranges(bits):
        assert lo < hi
        rebuilt |= ((1 << (hi - lo)) - 1) << lo
    assert rebuilt == bits


def test_stack_init_and_join():
    a, b = Stack(), Stack()
    a.write(504, 512)
    a.cells[504] = 8
    b.write(508, 512)
    assert a.is_init(504, 512) and not b.is_init(504, 512)
    assert b.uninit_ranges(500, 512) == [(500, 508)]
    j = a.join(b)
    assert j.is_init(508, 512) and not j.is_init(504, 508)
    assert j.cells == {}
    assert j.leq(Stack()) and not Stack().leq(j)
    assert cell_name(504, 8) == "s[504...511]" and cell_name(7, 1) == "s[7]"


@pytest.mark.parametrize("domain", [ZoneDomain, IntervalDomain])
def test_join_keeps_per_type_offsets(domain):
    a = initial_state(["r1.type=stack", "r1.stack_offset=500"], domain)
    b = initial_state(["r1.type=packet", "r1.packet_offset=14"], domain)
    j = a.join(b)
    assert j.type_of("r1") == T.STACK | T.PACKET
    assert entails(j, parse("r1.stack_offset=500"))
    assert entails(j, parse("r1.packet_offset=14"))
    assert a.leq(j) and b.leq(j) and not j.leq(a)


def test_join_recovers_relations_implied_by_constants():
    a = initial_state(["r1.type=number", "r1.svalue=0", "r2.type=number", "r2.svalue=1"], ZoneDomain)
    b = initial_state(["r1.type=number", "r1.svalue=1", "r2.type=number", "r2.svalue=2"], ZoneDomain)
    j = a.join(b)
    assert entails(j, parse("r2.svalue-r1.svalue=1"))
    assert not entails(j, parse("r2.svalue=1"))


def test_uninit_register_join():
    a = initial_state(["r1.type=number"], ZoneDomain)
    b = initial_state([], ZoneDomain)
    assert a.join(b).type_of("r1") == T.UNINIT | T.NUMBER


def test_constraint_parsing():
    c = parse("r1.uvalue=[0, 255]")
    assert c.kind == "interval" and c.interval.lo == 0 and c.interval.hi == 255
    assert parse("r1.svalue=[-oo, 5]").interval.hi == 5
    assert parse("r1.svalue-r2.svalue<=3").kind == "linear"
    assert parse("s[504...511].type=number").kind == "type"
    assert parse("pc[2]=[1, 10]").kind == "interval"
    for bad in ("r1.type=pointer", "r1.svalue", "r1.svalue=[1,", "r1.foo+=3"):
        with pytest.raises(ConstraintError):
            parse(bad)


def test_describe_prints_the_constraint_syntax():
    s = initial_state(["r1.type=number", "r1.svalue=[0, 5]", "r10.type=stack",
                       "r10.stack_offset=512", "s[504...511].type=number"], ZoneDomain)
    text = s.constraints()
    assert "r1.type=number" in text and "r1.svalue=[0, 5]" in text
    assert "r10.stack_offset=512" in text and "s[504...511].type=number" in text
    assert "r1.svalue=r1.uvalue" in text  # both views related when in [0, 2^63)


def test_bottom():
    b = State.bottom(ZoneDomain)
    s = initial_state(["r1.type=number"], ZoneDomain)
    assert b.leq(s) and not s.leq(b)
    assert str(b) == "_|_"
    assert s.join(b).type_of("r1") == T.NUMBER
