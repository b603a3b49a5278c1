"""A fixpoint engine generic over the abstract state: Bourdoncle's recursive iteration strategy.

The graph is visited in weak topological order. A component is iterated until its head's
state is stable, joining for the first `widening_delay` rounds and widening (with thresholds)
after that; then `narrowing_passes` decreasing rounds recover bounds the widening lost (a
loop guard `i < 10` gives the bound back). Nothing here knows eBPF: the `Transfer` object says
how a block and an edge change a state, and the state type provides join / widen / narrow /
leq / is_bottom / copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Protocol, Sequence

import networkx as nx

from cfg.wto import Component, Wto


class Transfer(Protocol):
    """What the fixpoint needs from an analysis."""

    def bottom(self) -> Any: ...
    def block(self, node: Hashable, state: Any) -> Any: ...
    def edge(self, src: Hashable, dst: Hashable, data: dict, state: Any) -> Any: ...


@dataclass
class FixpointResult:
    """Invariants at block entries (`pre`) and exits (`post`), with iteration counts."""

    pre: dict[Hashable, Any] = field(default_factory=dict)
    post: dict[Hashable, Any] = field(default_factory=dict)
    iterations: int = 0
    widenings: int = 0
    narrowings: int = 0


class FixpointLimit(Exception):
    """The iteration budget ran out (the analysis reports it instead of running forever)."""


def solve(graph: nx.DiGraph, order: Wto, entry: Hashable, initial: Any, transfer: Transfer,
          thresholds: Sequence[int] = (), widening_delay: int = 2, narrowing_passes: int = 1,
          max_iterations: int = 1_000_000) -> FixpointResult:
    """Compute block-entry invariants of `graph` from `initial` at `entry`."""
    res = FixpointResult()
    preds = {n: list(graph.predecessors(n)) for n in graph}
    edge_data = {(u, v): d for u, v, d in graph.edges(data=True)}

    def incoming(n: Hashable) -> Any:
        acc = initial.copy() if n == entry else None
        for p in preds[n]:
            post = res.post.get(p)
            if post is None or post.is_bottom():
                continue
            s = transfer.edge(p, n, edge_data[(p, n)], post)
            if s.is_bottom():
                continue
            acc = s if acc is None else acc.join(s)
        return acc if acc is not None else transfer.bottom()

    def run(n: Hashable, pre: Any) -> None:
        res.iterations += 1
        if res.iterations > max_iterations:
            raise FixpointLimit(f"no fixpoint after {max_iterations} block visits")
        res.pre[n] = pre
        res.post[n] = transfer.block(n, pre.copy()) if not pre.is_bottom() else pre

    def visit(elem) -> None:
        if isinstance(elem, Component):
            component(elem)
        else:
            run(elem, incoming(elem))

    def component(comp: Component) -> None:
        h = comp.head
        rounds = 0
        trips = 0
        while True:
            new = incoming(h)
            old = res.pre.get(h)
            if old is not None and rounds > 0:
                if new.leq(old):
                    break
                if rounds >= widening_delay:
                    new = old.widen(new, thresholds)
                    res.widenings += 1
                else:
                    new = old.join(new)
            trips = getattr(transfer, "trips", None)
            run(h, new)
            for e in comp.body:
                visit(e)
            rounds += 1
        # the last round ran from a post-fixpoint: if no path of it was cut short (a failed
        # check ending it), its states hold every run's, and so does their meet with the head
        exact = trips is not None and getattr(transfer, "trips", None) == trips and \
            hasattr(res.pre[h], "descend")
        for _ in range(narrowing_passes):
            new = incoming(h)
            old = res.pre[h]
            narrowed = old.descend(new) if exact else old.narrow(new)
            if old.leq(narrowed):
                break
            res.narrowings += 1
            run(h, narrowed)
            for e in comp.body:
                visit(e)

    for elem in order:
        visit(elem)
    for n in graph:  # unreachable blocks (not in the order) are bottom
        if n not in res.pre:
            res.pre[n] = transfer.bottom()
            res.post[n] = transfer.bottom()
    return res
