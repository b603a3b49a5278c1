"""Linear expressions and constraints: arithmetic agrees with evaluation, printing is readable."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from _domain_strategies import VARS, constraints, linexprs
from domains.linear import LinearConstraint, LinearExpression as E, eq, ge, gt, le, lt, ne

envs = st.fixed_dictionaries({v: st.integers(-50, 50) for v in VARS})


@settings(max_examples=200, deadline=None)
@given(a=linexprs(), b=linexprs(), k=st.integers(-5, 5), env=envs)
def test_arithmetic_is_a_homomorphism(a, b, k, env):
    assert (a + b).evaluate(env) == a.evaluate(env) + b.evaluate(env)
    assert (a - b).evaluate(env) == a.evaluate(env) - b.evaluate(env)
    assert (a * k).evaluate(env) == k * a.evaluate(env) == (k * a).evaluate(env)
    assert (-a).evaluate(env) == -a.evaluate(env) == a.neg().evaluate(env)
    assert (a + 3).evaluate(env) == a.evaluate(env) + 3
    assert (3 - a).evaluate(env) == 3 - a.evaluate(env)
    assert all(c != 0 for _, c in (a - a).terms) and (a - a).terms == ()
    assert [v for v, _ in (a + b).terms] == sorted(v for v, _ in (a + b).terms)


@settings(max_examples=200, deadline=None)
@given(a=linexprs(), b=linexprs(), env=envs)
def test_helpers_mean_what_they_say(a, b, env):
    x, y = a.evaluate(env), b.evaluate(env)
    assert le(a, b).holds(env) == (x <= y)
    assert lt(a, b).holds(env) == (x < y)
    assert ge(a, b).holds(env) == (x >= y)
    assert gt(a, b).holds(env) == (x > y)
    assert eq(a, b).holds(env) == (x == y)
    assert ne(a, b).holds(env) == (x != y)


@settings(max_examples=200, deadline=None)
@given(c=constraints(), env=envs)
def test_negation_is_the_complement(c, env):
    assert any(n.holds(env) for n in c.negate()) == (not c.holds(env))


def test_printing():
    assert str(le(E.var("r1.svalue") - "r2.svalue", 3)) == "r1.svalue - r2.svalue <= 3"
    assert str(eq("r0.svalue", 5)) == "r0.svalue = 5"
    assert str(ge("x", 0)) == "x >= 0"
    assert str(le(E.var("r2.packet_offset") + 4, "packet_size")) == "r2.packet_offset - packet_size <= -4"
    assert str(ne("x", "y")) == "x - y != 0"
    assert str(E.var("a", 2) - "b" + 1) == "2*a - b + 1"
    assert str(E.const(-3)) == "-3"


def test_rename_merges_terms():
    e = E.var("a") + E.var("b", 2)
    assert e.rename({"a": "b"}) == E.var("b", 3)
    assert LinearConstraint(e, "<=").rename({"b": "c"}).variables() == {"a", "c"}
