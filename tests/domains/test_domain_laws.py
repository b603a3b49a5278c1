"""Lattice laws and sampled soundness of every transfer function, for every registered domain."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _domain_strategies import (VARS, build, constraints, intervals, linexprs,
                                members, programs)
from domains.linear import LinearExpression
from domains.registry import DOMAINS

CLASSES = list(DOMAINS.values())
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(0, 2**32)


@pytest.mark.parametrize("cls", CLASSES, ids=list(DOMAINS))
class TestLattice:
    @SETTINGS
    @given(p=programs, seed=seeds)
    def test_leq_reflexive_and_gamma(self, cls, p, seed):
        d = build(cls, p)
        assert d.leq(d)
        assert d.copy().leq(d) and d.leq(d.copy())
        assert cls.bottom().leq(d) and d.leq(cls.top())
        for env in members(d, seed):
            assert d.copy().contains(env) and cls.top().contains(env)
            assert not cls.bottom().contains(env)

    @SETTINGS
    @given(p=programs, q=programs, r=programs)
    def test_leq_transitive_antisymmetric(self, cls, p, q, r):
        a, b, c = build(cls, p), build(cls, q), build(cls, r)
        ab = a.join(b)
        abc = ab.join(c)
        # a <= a|b <= (a|b)|c, and transitivity of leq along it
        assert a.leq(ab) and ab.leq(abc) and a.leq(abc)
        if a.leq(b) and b.leq(c):
            assert a.leq(c)
        if a.leq(b) and b.leq(a):
            assert a.join(b).leq(a) and b.meet(a).leq(b)

    @SETTINGS
    @given(p=programs, q=programs, seed=seeds)
    def test_join_is_upper_bound(self, cls, p, q, seed):
        a, b = build(cls, p), build(cls, q)
        j = a.join(b)
        assert a.leq(j) and b.leq(j)
        assert a.join(b).leq(b.join(a)) and b.join(a).leq(a.join(b))
        for env in members(a, seed) + members(b, seed + 1):
            assert j.contains(env)

    @SETTINGS
    @given(p=programs, q=programs, seed=seeds)
    def test_meet_is_lower_bound(self, cls, p, q, seed):
        a, b = build(cls, p), build(cls, q)
        m = a.meet(b)
        assert m.leq(a) and m.leq(b)
        for env in members(a, seed):
            if b.contains(env):
                assert m.contains(env)

    @SETTINGS
    @given(p=programs, q=programs, seed=seeds, ts=st.lists(st.integers(-20, 20), max_size=3))
    def test_widen_is_upper_bound(self, cls, p, q, seed, ts):
        a, b = build(cls, p), build(cls, q)
        w = a.widen(b, ts)
        assert a.leq(w) and b.leq(w)
        for env in members(a, seed) + members(b, seed + 1):
            assert w.contains(env)

    @SETTINGS
    @given(base=programs, steps=st.lists(programs, min_size=1, max_size=4),
           ts=st.lists(st.integers(-20, 20), max_size=3))
    def test_widening_stabilises_increasing_chain(self, cls, base, steps, ts):
        # an increasing chain that keeps growing: y_k = y_{k-1} | (steps shifted by k)
        y = build(cls, base)
        x = y.copy()
        bound = 2 * (len(VARS) + 1) ** 2 * (len(ts) + 2) + 2
        for k in range(1, bound + 40):
            extra = build(cls, steps[k % len(steps)])
            extra.assign("a", LinearExpression.var("a") + k)
            y = y.join(extra)
            nxt = x.widen(y, ts)
            assert x.leq(nxt) and y.leq(nxt)
            if nxt.leq(x):
                break
            x = nxt
        else:
            pytest.fail("widening did not stabilise")
        assert k <= bound

    @SETTINGS
    @given(p=programs, q=programs, seed=seeds)
    def test_narrow_between_meet_and_left(self, cls, p, q, seed):
        d = build(cls, p)
        e = d.meet(build(cls, q))  # e <= d, as a decreasing iterate would be
        n = d.narrow(e)
        assert e.leq(n) and n.leq(d)
        for env in members(e, seed):
            assert n.contains(env)


@pytest.mark.parametrize("cls", CLASSES, ids=list(DOMAINS))
class TestTransferSoundness:
    @SETTINGS
    @given(p=programs, x=st.sampled_from(VARS), e=linexprs(), seed=seeds)
    def test_assign(self, cls, p, x, e, seed):
        d = build(cls, p)
        post = d.copy()
        post.assign(x, e)
        for env in members(d, seed):
            out = dict(env)
            out[x] = e.evaluate(env)
            assert post.contains(out), (str(d), x, str(e), env)

    @SETTINGS
    @given(p=programs, c=constraints(), seed=seeds)
    def test_add_constraint_and_entails(self, cls, p, c, seed):
        d = build(cls, p)
        post = d.copy()
        post.add_constraint(c)
        assert post.leq(d)
        for env in members(d, seed):
            if c.holds(env):
                assert post.contains(env), (str(d), str(c), env)
        if d.entails(c):
            for env in members(d, seed + 7):
                assert c.holds(env)

    @SETTINGS
    @given(p=programs, e=linexprs(), seed=seeds)
    def test_interval_of_expression(self, cls, p, e, seed):
        d = build(cls, p)
        iv = d.interval(e)
        for env in members(d, seed):
            assert iv.contains(e.evaluate(env))
        for v in VARS:
            ivv = d.interval(v)
            for env in members(d, seed):
                assert ivv.contains(env[v])

    @SETTINGS
    @given(p=programs, x=st.sampled_from(VARS), iv=intervals(), seed=seeds)
    def test_forget_and_set_interval(self, cls, p, x, iv, seed):
        d = build(cls, p)
        f = d.copy()
        f.forget([x])
        assert d.leq(f)
        s = d.copy()
        s.set_interval(x, iv)
        rng = random.Random(seed)
        for env in members(d, seed):
            out = dict(env)
            out[x] = rng.randint(-1000, 1000)
            assert f.contains(out)
            lo = iv.lo if iv.lo != float("-inf") else -50
            hi = iv.hi if iv.hi != float("inf") else 50
            out[x] = rng.randint(int(lo), int(hi))
            assert s.contains(out)
        assert s.interval(x).leq(iv)

    @SETTINGS
    @given(p=programs, seed=seeds)
    def test_rename_permutation(self, cls, p, seed):
        d = build(cls, p)
        perm = {"a": "b", "b": "c", "c": "a"}
        r = d.copy()
        r.rename(perm)
        for env in members(d, seed):
            moved = {perm.get(v, v): val for v, val in env.items()}
            assert r.contains(moved)
        back = r.copy()
        back.rename({v: k for k, v in perm.items()})
        assert back.leq(d) and d.leq(back)

    @SETTINGS
    @given(p=programs)
    def test_constraints_print_stably(self, cls, p):
        d = build(cls, p)
        cs = d.constraints()
        assert cs == sorted(cs) and cs == d.copy().constraints()
        if d.is_top():
            assert cs == []
        assert d.variables() <= set(VARS)
