"""Zone-specific checks: closure equals brute-force Floyd-Warshall, consistency with intervals,
exact difference assignments, relational precision and printing."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _domain_strategies import VARS, build, programs
from domains.bounds import Interval
from domains.interval import IntervalDomain
from domains.linear import LinearExpression as E
from domains.linear import eq, ge, le, lt, ne
from domains.zone import ZERO, ZoneDomain

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NODES = (ZERO,) + VARS
INF = math.inf

# a step of the reference model: ("edge", u, v, w) is `v - u <= w`; ("forget", x)
edge_steps = st.one_of(
    st.tuples(st.just("edge"), st.sampled_from(NODES), st.sampled_from(NODES), st.integers(-6, 10)),
    st.tuples(st.just("forget"), st.sampled_from(VARS)),
)


def floyd_warshall(m: dict) -> bool:
    """Close the matrix in place; False when a negative cycle exists."""
    for k in NODES:
        for i in NODES:
            for j in NODES:
                if m[i][k] + m[k][j] < m[i][j]:
                    m[i][j] = m[i][k] + m[k][j]
    return all(m[i][i] >= 0 for i in NODES)


@SETTINGS
@given(steps=st.lists(edge_steps, max_size=14))
def test_closure_matches_floyd_warshall(steps):
    z = ZoneDomain.top()
    ref = {i: {j: (0 if i == j else INF) for j in NODES} for i in NODES}
    feasible = True
    for step in steps:
        if step[0] == "edge":
            _, u, v, w = step
            if u == ZERO and v == ZERO:
                continue
            if u == ZERO:
                z.add_constraint(le(v, w))
            elif v == ZERO:
                z.add_constraint(ge(u, -w))
            else:
                z.add_constraint(le(E.var(v) - u, w))
            ref[u][v] = min(ref[u][v], w)
        else:
            z.forget([step[1]])
            for n in NODES:
                if n != step[1]:
                    ref[step[1]][n] = ref[n][step[1]] = INF
        feasible = floyd_warshall(ref)
        if not feasible:
            break
    assert z.is_bottom() == (not feasible)
    if feasible:
        for i in NODES:
            for j in NODES:
                if i != j:
                    assert z.distance(i, j) == ref[i][j], (i, j, str(z))


@SETTINGS
@given(steps=st.lists(edge_steps, max_size=14))
def test_incremental_closure_equals_rebuilt_closure(steps):
    """Adding constraints one by one, or all at once into a fresh zone, gives the same value."""
    z = ZoneDomain.top()
    for step in steps:
        if step[0] == "edge" and step[1] != ZERO and step[2] != ZERO:
            z.add_constraint(le(E.var(step[2]) - step[1], step[3]))
    fresh = ZoneDomain.top()
    for c in reversed(steps):
        if c[0] == "edge" and c[1] != ZERO and c[2] != ZERO:
            fresh.add_constraint(le(E.var(c[2]) - c[1], c[3]))
    assert z.leq(fresh) and fresh.leq(z)


@SETTINGS
@given(p=programs)
def test_zone_at_least_as_precise_as_intervals(p):
    z, i = build(ZoneDomain, p), build(IntervalDomain, p)
    assert z.is_bottom() or not i.is_bottom()
    if not z.is_bottom():
        for v in VARS:
            assert z.interval(v).leq(i.interval(v)), (v, str(z), str(i))


@SETTINGS
@given(p=programs, q=programs)
def test_zone_join_bounds_match_interval_join_for_bound_only_values(p, q):
    only_bounds = lambda steps: [s for s in steps if s[0] == "set"]  # noqa: E731
    z = build(ZoneDomain, only_bounds(p)).join(build(ZoneDomain, only_bounds(q)))
    i = build(IntervalDomain, only_bounds(p)).join(build(IntervalDomain, only_bounds(q)))
    for v in VARS:
        assert z.interval(v) == i.interval(v)


@SETTINGS
@given(p=programs, x=st.sampled_from(VARS), y=st.sampled_from(VARS), c=st.integers(-9, 9))
def test_copy_assignment_is_exact(p, x, y, c):
    z = build(ZoneDomain, p)
    if z.is_bottom() or x == y:
        return
    before = z.interval(y)
    z.assign(x, E.var(y) + c)
    assert z.entails(eq(x, E.var(y) + c))
    assert z.interval(x) == before + c


@SETTINGS
@given(p=programs, x=st.sampled_from(VARS), y=st.sampled_from(VARS), c=st.integers(-9, 9))
def test_added_difference_is_entailed(p, x, y, c):
    z = build(ZoneDomain, p)
    z.add_constraint(le(E.var(x) - y, c))
    assert z.entails(le(E.var(x) - y, c))


def test_packet_bounds_check_is_relational():
    results = {}
    for cls in (ZoneDomain, IntervalDomain):
        d = cls.top()
        d.set_interval("packet_size", Interval(0, 65535))
        d.set_interval("r2.packet_offset", Interval(0, 100))
        d.add_constraint(le(E.var("r2.packet_offset") + 14, "packet_size"))  # `if (data + 14 > end)`
        d.assign("r3.packet_offset", E.var("r2.packet_offset") + 4)
        results[cls] = d
    z, i = results[ZoneDomain], results[IntervalDomain]
    assert z.entails(le(E.var("r3.packet_offset") + 10, "packet_size"))
    assert not z.entails(le(E.var("r3.packet_offset") + 11, "packet_size"))
    assert not i.entails(le(E.var("r3.packet_offset") + 10, "packet_size"))
    other = z.copy()
    other.assign("r3.packet_offset", E.var("r2.packet_offset") + 2)
    assert z.join(other).entails(le(E.var("r3.packet_offset") + 10, "packet_size"))


def test_loop_counters_stay_equal_through_join_and_widen():
    z = ZoneDomain.top()
    z.assign("i", 0)
    z.assign("j", E.var("i"))
    head = z.copy()
    for _ in range(5):
        body = head.copy()
        body.add_constraint(lt("i", 100))
        body.assign("i", E.var("i") + 1)
        body.assign("j", E.var("j") + 1)
        nxt = head.widen(head.join(body))
        if nxt.leq(head):
            break
        head = nxt
    assert head.entails(eq("i", "j"))
    assert head.interval("i").lo == 0
    assert not head.interval("i").is_finite()


def test_printing_constraints():
    z = ZoneDomain.top()
    z.add_constraint(le(E.var("r1.svalue") - "r2.svalue", 3))
    z.assign("r0.svalue", 5)
    z.add_constraint(ge("r2.svalue", 0))
    assert z.constraints() == ["r0.svalue = 5", "r1.svalue - r2.svalue <= 3", "r2.svalue >= 0"]
    z.assign("r4", E.var("r2.svalue") + 2)
    assert "r2.svalue - r4 = -2" in z.constraints()
    assert ZoneDomain.bottom().constraints() == ["false"]


def test_not_equal_tightens_an_endpoint_and_detects_contradiction():
    z = ZoneDomain.top()
    z.set_interval("x", Interval(0, 10))
    z.add_constraint(ne("x", 0))
    assert z.interval("x") == Interval(1, 10)
    z.assign("y", E.var("x") + 3)
    z.add_constraint(ne(E.var("y") - "x", 3))
    assert z.is_bottom()


def test_forget_keeps_other_relations():
    z = ZoneDomain.top()
    z.add_constraint(le(E.var("a") - "b", 1))
    z.add_constraint(le(E.var("b") - "c", 1))
    z.forget(["b"])
    assert z.entails(le(E.var("a") - "c", 2))
    assert "b" not in z.variables()


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(edge_steps, max_size=30))
def test_closure_matches_floyd_warshall_long(steps):
    test_closure_matches_floyd_warshall.hypothesis.inner_test(steps)
