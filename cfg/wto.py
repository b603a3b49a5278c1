"""Weak topological ordering (Bourdoncle 1993) and the loops it exposes.

The fixpoint iterates a CFG in weak topological order: a hierarchical order of the nodes in
which every strongly connected part is a `Component` with a head; the iteration stabilises a
component (widening at its head) before moving on. `wto(graph, entry)` runs Bourdoncle's
recursive algorithm with an explicit stack, so programs of any size work without touching
Python's recursion limit.

Properties (tested on random graphs): every node reachable from the entry appears exactly once;
every cycle passes through the head of a component containing the whole cycle; an edge `u -> v`
that goes backwards in the order goes into a head `v` whose component contains `u`; the
top-level components are exactly the non-trivial strongly connected components, and the
components nested in a component with head `h` are those of the component minus `h`.

`loops(graph, entry)` turns the components into `Loop`s (head, body, back edges, parent) for
the termination check: removing all back edges leaves the reachable graph acyclic.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Union

import networkx as nx


@dataclass(frozen=True)
class Component:
    """A strongly connected part of the order: its `head` first, then `body` (nodes and nested
    components, in order)."""

    head: Hashable
    body: tuple[Union[Hashable, "Component"], ...]

    def __iter__(self) -> Iterator[Union[Hashable, "Component"]]:
        """The head, then the body's elements."""
        yield self.head
        yield from self.body

    def nodes(self) -> list[Hashable]:
        """All nodes of the component (head first), flattened in order."""
        return _flatten([self])

    def __str__(self) -> str:
        return _text([self])

    def __repr__(self) -> str:
        return f"Component({self})"


WtoElement = Union[Hashable, Component]


def _text(elements) -> str:
    """Bourdoncle's notation, `1 2 (3 4 (5 6) 7) 8`, without recursion."""
    parts: list[str] = []
    stack = [iter(elements)]
    while stack:
        for elem in stack[-1]:
            if isinstance(elem, Component):
                parts.append("(" + str(elem.head))
                stack.append(iter(elem.body))
                break
            parts.append(str(elem))
        else:
            stack.pop()
            if stack:               # a component's body ended
                parts[-1] += ")"
    return " ".join(parts)


def _flatten(elements) -> list[Hashable]:
    out: list[Hashable] = []
    stack = [iter(elements)]
    while stack:
        for elem in stack[-1]:
            if isinstance(elem, Component):
                out.append(elem.head)
                stack.append(iter(elem.body))
                break
            out.append(elem)
        else:
            stack.pop()
    return out


class Wto:
    """A weak topological order: `order` is the top-level list of nodes and components."""

    def __init__(self, order: list[WtoElement]) -> None:
        self.order = order
        self.heads: set[Hashable] = set()
        self.components: dict[Hashable, Component] = {}
        # Innermost head containing each node (a head: itself), and each head's enclosing
        # head: O(n) memory however deep the nesting; `nesting` walks the chain.
        self._inner: dict[Hashable, Hashable | None] = {}
        self._outer: dict[Hashable, Hashable | None] = {}
        self._position: dict[Hashable, int] = {}
        stack: list[tuple[Iterator[WtoElement], Hashable | None]] = [(iter(order), None)]
        while stack:
            it, head = stack[-1]
            for elem in it:
                if isinstance(elem, Component):
                    self.heads.add(elem.head)
                    self.components[elem.head] = elem
                    self._outer[elem.head] = head
                    self._inner[elem.head] = elem.head
                    self._position[elem.head] = len(self._position)
                    stack.append((iter(elem.body), elem.head))
                    break
                self._inner[elem] = head
                self._position[elem] = len(self._position)
            else:
                stack.pop()

    def __iter__(self) -> Iterator[WtoElement]:
        return iter(self.order)

    def __len__(self) -> int:
        """Number of nodes (not of top-level elements)."""
        return len(self._position)

    def __contains__(self, node: Hashable) -> bool:
        return node in self._position

    def nodes(self) -> list[Hashable]:
        """All nodes, flattened in order."""
        return list(self._position)

    def position(self, node: Hashable) -> int:
        """Index of `node` in the flattened order."""
        return self._position[node]

    def nesting(self, node: Hashable) -> tuple[Hashable, ...]:
        """Heads of the components containing `node`, outermost first (Bourdoncle's omega): a
        head's own component contains it, so a head's nesting ends with itself."""
        chain = []
        head = self._inner[node]
        while head is not None:
            chain.append(head)
            head = self._outer[head]
        chain.reverse()
        return tuple(chain)

    def depth(self, node: Hashable) -> int:
        """len(nesting(node))."""
        return len(self.nesting(node))

    def head_of(self, node: Hashable) -> Hashable | None:
        """The head of the innermost component containing `node` (itself for a head)."""
        return self._inner[node]

    def parent_head(self, head: Hashable) -> Hashable | None:
        """The head of the component enclosing the component of `head` (None at top level)."""
        return self._outer[head]

    def component_of(self, node: Hashable) -> Component | None:
        """The innermost component containing `node` (None at top level)."""
        head = self._inner[node]
        return self.components[head] if head is not None else None

    def __str__(self) -> str:
        return _text(self.order)

    def __repr__(self) -> str:
        return f"Wto({self})"


_INF = float("inf")


def wto(graph: nx.DiGraph, entry: Hashable) -> Wto:
    """Bourdoncle's weak topological order of the nodes reachable from `entry`."""
    succ = graph._succ if isinstance(graph, nx.DiGraph) else None
    successors = (lambda v: succ[v]) if succ is not None else graph.successors
    dfn: dict[Hashable, float] = {}
    stack: list[Hashable] = []
    num = 0
    top: list[WtoElement] = []
    # Frames: [is_visit, v, successor iterator, head, loop, partition] for visit(v),
    #         [False, v, successor iterator, body, None, partition] for component(v).
    # Partitions are built reversed (appending instead of Bourdoncle's prepending).
    frames: list[list] = []

    def start_visit(v: Hashable, partition: list) -> None:
        nonlocal num
        stack.append(v)
        num += 1
        dfn[v] = num
        frames.append([True, v, iter(successors(v)), num, False, partition])

    start_visit(entry, top)
    while frames:
        frame = frames[-1]
        if frame[0]:
            _, v, it, head, loop, partition = frame
            for w in it:
                d = dfn.get(w, 0)
                if d == 0:
                    start_visit(w, partition)
                    break
                if d <= head:
                    head = d
                    loop = True
            else:
                frames.pop()
                if frames:
                    parent = frames[-1]     # visit(v) returns head to its caller
                    if parent[0] and head <= parent[3]:
                        parent[3] = head
                        parent[4] = True
                if head == dfn[v]:
                    dfn[v] = _INF
                    element = stack.pop()
                    if loop:
                        while element != v:
                            dfn[element] = 0
                            element = stack.pop()
                        frames.append([False, v, iter(successors(v)), [], None, partition])
                    else:
                        partition.append(v)
                continue
            frame[3], frame[4] = head, loop
        else:
            _, v, it, body, _, partition = frame
            for w in it:
                if dfn.get(w, 0) == 0:
                    start_visit(w, body)
                    break
            else:
                frames.pop()
                body.reverse()
                partition.append(Component(v, tuple(body)))
    top.reverse()
    return Wto(top)


@dataclass(frozen=True)
class Loop:
    """A loop for the termination check: its `head`, all nodes of its `body` (head included),
    the `back_edges` (u, head) from inside the body, and the head of the enclosing loop."""

    head: Hashable
    body: frozenset
    back_edges: frozenset
    parent: Hashable | None


def loops(graph: nx.DiGraph, entry: Hashable, order: Wto | None = None) -> list[Loop]:
    """The loops of `graph` from `entry`: one per WTO component, outermost first."""
    order = order if order is not None else wto(graph, entry)
    out = []
    for head, comp in order.components.items():
        body = frozenset(comp.nodes())
        back = frozenset((u, head) for u in graph.predecessors(head) if u in body)
        out.append(Loop(head, body, back, order.parent_head(head)))
    return out
