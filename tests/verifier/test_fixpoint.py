"""The fixpoint engine on a toy state (it knows nothing of eBPF)."""
from __future__ import annotations

import networkx as nx

from cfg.wto import wto
from verifier.fixpoint import solve


class Box:
    """An interval [lo, hi] of one counter, None for bottom."""

    def __init__(self, lo=None, hi=None):
        self.lo, self.hi = lo, hi

    def is_bottom(self):
        return self.lo is None

    def copy(self):
        return Box(self.lo, self.hi)

    def join(self, o):
        if self.is_bottom():
            return o.copy()
        if o.is_bottom():
            return self.copy()
        return Box(min(self.lo, o.lo), max(self.hi, o.hi))

    def widen(self, o, thresholds=()):
        if self.is_bottom():
            return o.copy()
        hi = self.hi if o.hi <= self.hi else next((t for t in thresholds if t >= o.hi), float("inf"))
        return Box(min(self.lo, o.lo), hi)

    def narrow(self, o):
        if o.is_bottom():
            return o
        return Box(self.lo, o.hi if self.hi == float("inf") else self.hi)

    def leq(self, o):
        return self.is_bottom() or (not o.is_bottom() and o.lo <= self.lo and self.hi <= o.hi)


class Counter:
    """x := 0; while (x < 10) x += 1."""

    def bottom(self):
        return Box()

    def block(self, node, s):
        return Box(s.lo + 1, s.hi + 1) if node == "body" else s

    def edge(self, u, v, data, s):
        if s.is_bottom():
            return s
        if (u, v) == ("head", "body"):
            hi = min(s.hi, 9)
            return Box(s.lo, hi) if s.lo <= hi else Box()
        if (u, v) == ("head", "exit"):
            lo = max(s.lo, 10)
            return Box(lo, s.hi) if lo <= s.hi else Box()
        return s


def _graph():
    g = nx.DiGraph()
    g.add_edges_from([("entry", "head"), ("head", "body"), ("body", "head"), ("head", "exit")])
    return g


def test_widening_then_narrowing_finds_the_loop_bound():
    g = _graph()
    res = solve(g, wto(g, "entry"), "entry", Box(0, 0), Counter(), thresholds=(),
                widening_delay=1, narrowing_passes=1)
    assert (res.pre["head"].lo, res.pre["head"].hi) == (0, 10)
    assert (res.pre["exit"].lo, res.pre["exit"].hi) == (10, 10)
    assert res.widenings >= 1 and res.narrowings == 1


def test_thresholds_make_narrowing_unnecessary():
    g = _graph()
    res = solve(g, wto(g, "entry"), "entry", Box(0, 0), Counter(), thresholds=(10,),
                widening_delay=1, narrowing_passes=0)
    assert res.pre["head"].hi == 10


def test_unreachable_blocks_are_bottom():
    g = _graph()
    g.add_edge("dead", "exit")
    res = solve(g, wto(g, "entry"), "entry", Box(0, 0), Counter())
    assert res.pre["dead"].is_bottom()
