"""Bourdoncle's weak topological order: laws on random graphs, cross-checked with networkx."""
from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from _cfg_insns import shallow_stack
from cfg.wto import Component, Wto, loops, wto


@st.composite
def digraphs(draw, max_nodes: int = 14):
    n = draw(st.integers(1, max_nodes))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                          max_size=3 * n))
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    return g


def reachable(g, entry=0):
    return nx.descendants(g, entry) | {entry}


def component_sets(elements):
    """Node sets of the top-level components among `elements`."""
    return [frozenset(e.nodes()) for e in elements if isinstance(e, Component)]


def nontrivial_sccs(g):
    return {frozenset(c) for c in nx.strongly_connected_components(g)
            if len(c) > 1 or any(g.has_edge(v, v) for v in c)}


@given(digraphs())
@settings(max_examples=300, deadline=None)
def test_every_reachable_node_once(g):
    w = wto(g, 0)
    assert sorted(w.nodes()) == sorted(reachable(g))
    assert len(w) == len(reachable(g))


@given(digraphs())
@settings(max_examples=300, deadline=None)
def test_backward_edges_go_into_a_head_containing_the_source(g):
    w = wto(g, 0)
    for u, v in g.subgraph(reachable(g)).edges:
        if w.position(u) >= w.position(v):
            assert v in w.heads
            assert v in w.nesting(u)


@given(digraphs())
@settings(max_examples=200, deadline=None)
def test_every_cycle_contains_the_head_of_a_component_containing_it(g):
    w = wto(g, 0)
    sub = g.subgraph(reachable(g))
    for cycle in nx.simple_cycles(sub, length_bound=6):
        nodes = set(cycle)
        heads = [h for h in w.heads if h in nodes and nodes <= set(w.components[h].nodes())]
        assert heads, cycle


@given(digraphs())
@settings(max_examples=300, deadline=None)
def test_components_are_nested_sccs(g):
    w = wto(g, 0)
    sub = g.subgraph(reachable(g))
    assert set(component_sets(w.order)) == nontrivial_sccs(sub)
    for head, comp in w.components.items():
        inner = sub.subgraph(set(comp.nodes()) - {head})
        assert set(component_sets(comp.body)) == nontrivial_sccs(inner)
        assert comp.head == head and head == comp.nodes()[0]


@given(digraphs())
@settings(max_examples=200, deadline=None)
def test_nesting_is_proper(g):
    w = wto(g, 0)
    for head, comp in w.components.items():
        members = set(comp.nodes())
        for v in members:
            nest = w.nesting(v)
            assert head in nest
            assert nest[:nest.index(head) + 1] == w.nesting(head)
        # positions of a component are one contiguous run starting at its head
        positions = sorted(w.position(v) for v in members)
        assert positions == list(range(w.position(head), w.position(head) + len(members)))


@given(digraphs())
@settings(max_examples=200, deadline=None)
def test_loops_back_edges_break_every_cycle(g):
    found = loops(g, 0)
    w = wto(g, 0)
    assert {lp.head for lp in found} == w.heads
    acyclic = g.subgraph(reachable(g)).copy()
    for lp in found:
        assert lp.head in lp.body and lp.back_edges
        assert all(v == lp.head and u in lp.body for u, v in lp.back_edges)
        if lp.parent is not None:
            parent = next(p for p in found if p.head == lp.parent)
            assert lp.body < parent.body
        acyclic.remove_edges_from(lp.back_edges)
    assert nx.is_directed_acyclic_graph(acyclic)


def test_bourdoncle_example():
    g = nx.DiGraph([(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (7, 3), (6, 5),
                    (2, 8)])
    w = wto(g, 1)
    assert str(w) == "1 2 (3 4 (5 6) 7) 8"
    assert w.nesting(6) == (3, 5) and w.nesting(8) == () and w.nesting(3) == (3,)
    assert w.component_of(4).head == 3 and w.component_of(1) is None
    assert list(w.components[5]) == [5, 6]


def test_self_loop_is_a_component():
    w = wto(nx.DiGraph([(0, 1), (1, 1), (1, 2)]), 0)
    assert str(w) == "0 (1) 2" and w.heads == {1}



def test_deep_graph_does_not_recurse():
    # A chain of 2-cycles: the DFS is as deep as the graph, the nesting shallow.
    n = 4000
    g = nx.DiGraph()
    nx.add_path(g, range(n))
    g.add_edges_from((i, i - 1) for i in range(1, n, 2))
    with shallow_stack():
        w = wto(g, 0)
    assert len(w) == n
    assert isinstance(w, Wto) and w.heads == set(range(0, n, 2))


def test_deep_nesting_does_not_recurse():
    k = 300
    g = nx.DiGraph()
    nx.add_path(g, range(2 * k))
    g.add_edges_from((k + i, k - 1 - i) for i in range(k))
    with shallow_stack():
        w = wto(g, 0)
        found = loops(g, 0, w)
        text = str(w)
        nodes = w.components[0].nodes()
    assert w.nesting(k - 1) == tuple(range(k)) and len(found) == k
    assert text.count("(") == k and nodes == list(range(2 * k))
