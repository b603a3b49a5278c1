"""Interval values: lattice laws, exact arithmetic with infinities (never NaN), printing."""
from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from domains.bounds import NEG_INF, POS_INF, Interval

finite = st.integers(-40, 40)


@st.composite
def ivs(draw):
    if draw(st.integers(0, 15)) == 0:
        return Interval.bottom()
    lo = draw(st.one_of(finite, finite, st.just(NEG_INF)))
    hi = draw(st.one_of(finite, finite, st.just(POS_INF)))
    return Interval(min(lo, hi), max(lo, hi))


def sample(iv: Interval, seed: int, n: int = 12) -> list[int]:
    if iv.is_bottom():
        return []
    rng = random.Random(seed)
    lo = iv.lo if iv.lo != NEG_INF else min(-100, iv.hi)
    hi = iv.hi if iv.hi != POS_INF else max(100, iv.lo)
    pts = [rng.randint(int(lo), int(hi)) for _ in range(n)] + [int(lo), int(hi)]
    return [p for p in pts if iv.contains(p)]


def no_nan(iv: Interval) -> bool:
    return not any(isinstance(b, float) and math.isnan(b) for b in (iv.lo, iv.hi))


S = settings(max_examples=300, deadline=None)


@S
@given(a=ivs(), b=ivs(), seed=st.integers(0, 10**6))
def test_lattice_laws(a, b, seed):
    j, m = a.join(b), a.meet(b)
    assert a.leq(j) and b.leq(j) and m.leq(a) and m.leq(b)
    assert a.leq(a) and Interval.bottom().leq(a) and a.leq(Interval.top())
    for x in sample(a, seed):
        assert j.contains(x)
        assert m.contains(x) == b.contains(x)
    w = a.widen(b, (-10, 0, 10))
    assert a.leq(w) and b.leq(w)
    if b.leq(a):
        n = a.narrow(b)
        assert b.leq(n) and n.leq(a)


@S
@given(a=ivs(), b=ivs(), k=st.integers(-4, 4), seed=st.integers(0, 10**6))
def test_arithmetic_sound_and_never_nan(a, b, k, seed):
    for op, f in (("+", lambda x, y: x + y), ("-", lambda x, y: x - y), ("*", lambda x, y: x * y)):
        r = {"+": a + b, "-": a - b, "*": a * b}[op]
        assert no_nan(r)
        for x in sample(a, seed):
            for y in sample(b, seed + 1):
                assert r.contains(f(x, y)), (a, op, b)
    r = a * k
    assert no_nan(r) and no_nan(-a) and no_nan(a.scale_div(k or 1))
    for x in sample(a, seed):
        assert r.contains(x * k) and (-a).contains(-x) and a.scale_div(k or 1).contains(x // (k or 1))


@S
@given(a=ivs(), b=ivs())
def test_widening_jumps_to_thresholds_or_infinity(a, b):
    w = a.widen(b, (0, 100))
    if not a.is_bottom() and not b.is_bottom():
        assert w.hi == a.hi or w.hi in (0, 100, POS_INF)
        assert w.lo == a.lo or w.lo in (0, 100, NEG_INF)


def test_bounds_stay_exact_ints():
    big = Interval(2**64 - 1, 2**64 - 1)
    assert (big + 1).lo == 2**64 and isinstance((big * 3).hi, int)
    assert (Interval(0, POS_INF) * Interval(0, 0)) == Interval(0, 0)
    assert (Interval.top() * 0) == Interval(0, 0)


def test_printing():
    assert str(Interval(0, 255)) == "[0, 255]"
    assert str(Interval.const(5)) == "5"
    assert str(Interval.top()) == "[-oo, +oo]"
    assert str(Interval(3, POS_INF)) == "[3, +oo]"
    assert Interval.bottom().is_bottom() and Interval.range(3, 2).is_bottom()
