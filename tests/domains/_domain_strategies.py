"""Hypothesis strategies for domain tests: abstract values built by random operation sequences,
and concrete members sampled from them."""
from __future__ import annotations

import random

from hypothesis import strategies as st

from domains.bounds import NEG_INF, POS_INF, Interval
from domains.linear import LinearConstraint, LinearExpression, eq, le, ne

VARS = ("a", "b", "c", "d")
R = 24  # concrete sampling box for unbounded variables

small = st.integers(-12, 12)
var = st.sampled_from(VARS)


@st.composite
def linexprs(draw, max_terms: int = 3) -> LinearExpression:
    n = draw(st.integers(0, max_terms))
    coeffs = {draw(var): draw(st.sampled_from([-2, -1, 1, 1, 1, 2, 3])) for _ in range(n)}
    return LinearExpression.from_dict(coeffs, draw(small))


@st.composite
def constraints(draw) -> LinearConstraint:
    kind = draw(st.sampled_from(["diff", "diff", "bound", "lin", "eq", "ne"]))
    if kind == "diff":
        x, y = draw(var), draw(var)
        return le(LinearExpression.var(x) - y, draw(small))
    if kind == "bound":
        x = draw(var)
        c = draw(small)
        return le(x, c) if draw(st.booleans()) else le(c, x)
    e = draw(linexprs())
    if kind == "eq":
        return eq(e, 0)
    if kind == "ne":
        return ne(e, 0)
    return LinearConstraint(e, "<=")


@st.composite
def intervals(draw) -> Interval:
    lo = draw(st.one_of(small, st.just(NEG_INF)))
    hi = draw(st.one_of(small, st.just(POS_INF)))
    if lo > hi:
        lo, hi = hi, lo
    return Interval(lo, hi)


op_steps = st.one_of(
    st.tuples(st.just("set"), var, intervals()),
    st.tuples(st.just("cons"), constraints()),
    st.tuples(st.just("assign"), var, linexprs()),
    st.tuples(st.just("copy"), var, var, small),
    st.tuples(st.just("forget"), var),
)


def apply_step(d, step) -> None:
    """Apply one generated step to a domain value in place."""
    kind = step[0]
    if kind == "set":
        d.set_interval(step[1], step[2])
    elif kind == "cons":
        d.add_constraint(step[1])
    elif kind == "assign":
        d.assign(step[1], step[2])
    elif kind == "copy":
        d.assign(step[1], LinearExpression.var(step[2]) + step[3])
    elif kind == "forget":
        d.forget([step[1]])


programs = st.lists(op_steps, min_size=0, max_size=8)


def build(cls, steps):
    """A domain value: top, then the steps."""
    d = cls.top()
    for s in steps:
        apply_step(d, s)
    return d


def members(d, seed: int, n: int = 60) -> list[dict[str, int]]:
    """Concrete states of d, found by sampling the box of its variable intervals."""
    if d.is_bottom():
        return []
    rng = random.Random(seed)
    boxes = {}
    for v in VARS:
        iv = d.interval(v)
        lo = max(iv.lo, -R) if iv.lo != NEG_INF else (min(iv.hi, R) - 2 * R if iv.hi != POS_INF else -R)
        hi = min(iv.hi, R) if iv.hi != POS_INF else max(lo, -R) + 2 * R
        if lo > hi:
            lo, hi = (int(iv.lo), int(iv.lo)) if iv.lo != NEG_INF else (int(iv.hi), int(iv.hi))
        boxes[v] = (int(lo), int(hi))
    out = []
    corners = [{v: boxes[v][k] for v in VARS} for k in (0, 1)]
    for env in corners + [{v: rng.randint(*boxes[v]) for v in VARS} for _ in range(n)]:
        if d.contains(env):
            out.append(env)
    return out


def random_env(seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    return {v: rng.randint(-R, R) for v in VARS}
