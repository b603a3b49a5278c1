"""Basic blocks, edges, conditions, calls and malformed control flow of cfg.graph."""
from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _cfg_insns import (add, call, call_local, callx, exit_, gotol, ja, jcond, kfunc, lddw,
                        may_goto, mov, prog, shallow_stack)
from cfg import isa
from cfg.errors import ProgramError
from cfg.graph import Condition, build, inline
from cfg.program import Program
from cfg.wto import loops, wto


def blocks(graph):
    """{first_pc: last_pc} of a build graph."""
    return {n: d["block"].last_pc for n, d in graph.nodes(data=True)}


def edges(graph):
    return {(u, v): d["kind"] for u, v, d in graph.edges(data=True)}


def test_straight_line_is_one_block():
    g = build(prog(mov(0, 1), add(0, 2), call(1), kfunc(7), exit_()))
    assert blocks(g) == {0: 4}
    assert g.graph["entry"] == 0 and g.graph["exits"] == [0]
    assert g.graph["warnings"] == []
    block = g.nodes[0]["block"]
    assert [pc for pc, _ in block.insns] == [0, 1, 2, 3, 4] and block.function == "prog"


def test_conditional_jump_edges_carry_condition_and_negation():
    #   0: r1 > 5 goto 3 ; 1: r0 = 0 ; 2: exit ; 3: r0 = 1 ; 4: exit
    g = build(prog(jcond("jgt", 1, 5, 2), mov(0, 0), exit_(), mov(0, 1), exit_()))
    assert blocks(g) == {0: 0, 1: 2, 3: 4}
    taken, fall = g.edges[0, 3], g.edges[0, 1]
    assert taken["kind"] == "taken" and fall["kind"] == "fallthrough"
    assert taken["condition"] == Condition("jgt", 64, 1, 5, False)
    assert fall["condition"] == taken["condition"].negate()
    assert str(taken["condition"]) == "r1 > 5" and str(fall["condition"]) == "r1 <= 5"
    assert sorted(g.graph["exits"]) == [1, 3]


def test_jmp32_register_condition():
    g = build(prog(jcond("jslt", 2, 3, 1, reg=True, w32=True), mov(0, 0), exit_()))
    cond = g.edges[0, 2]["condition"]
    assert cond == Condition("jslt", 32, 2, 3, True)
    assert str(cond) == "w2 s< w3" and str(cond.negate()) == "w2 s>= w3"


@given(st.sampled_from(["jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt",
                        "jsle", "jset", "jnset"]), st.sampled_from([32, 64]),
       st.integers(0, 10), st.integers(-2**31, 2**31 - 1), st.booleans())
@settings(max_examples=60)
def test_negate_is_an_involution_and_changes_op(op, width, left, right, is_reg):
    cond = Condition(op, width, left, right, is_reg)
    assert cond.negate().negate() == cond
    assert cond.negate().op != op


def test_jset_strings():
    cond = Condition("jset", 64, 1, 4, False)
    assert str(cond) == "r1 & 0x4" and str(cond.negate()) == "!(r1 & 0x4)"


def test_large_immediates_print_in_hex():
    assert str(Condition("jeq", 64, 1, 0x100000A, False)) == "r1 == 0x100000a"
    assert str(Condition("jsgt", 32, 1, -0x1000, False)) == "w1 s> -0x1000"
    assert str(Condition("jsgt", 32, 1, -4095, False)) == "w1 s> -4095"


def test_jump_to_next_is_one_unconditional_edge():
    g = build(prog(jcond("jeq", 1, 0, 0), mov(0, 0), exit_()))
    assert list(g.successors(0)) == [1]
    assert g.edges[0, 1] == {"kind": "fallthrough", "condition": None}


def test_ja_and_gotol_end_blocks():
    #   0: goto 2 ; 1: r0 = 1 (dead) ; 2: gotol 4 ; 3: exit (dead) ; 4: r0 = 0 ; 5: exit
    g = build(prog(ja(1), mov(0, 1), gotol(1), exit_(), mov(0, 0), exit_()))
    assert edges(g)[0, 2] == "jump" and edges(g)[2, 4] == "jump"
    assert blocks(g)[0] == 0 and blocks(g)[2] == 2
    warns = g.graph["warnings"]
    assert [(w.start, w.end) for w in warns] == [(1, 1), (3, 3)]
    assert not g.nodes[1]["reachable"] and g.nodes[4]["reachable"]
    assert "unreachable" in str(warns[0])


def test_may_goto_is_a_branch_without_condition():
    g = build(prog(may_goto(2), mov(0, 1), exit_(), mov(0, 0), exit_()))
    assert g.edges[0, 3] == {"kind": "taken", "condition": None}
    assert g.edges[0, 1] == {"kind": "fallthrough", "condition": None}


def test_tail_call_ends_block_and_falls_through():
    g = build(prog(mov(3, 0), call(12), mov(0, 0), exit_()))
    assert blocks(g) == {0: 1, 2: 3}
    assert edges(g) == {(0, 2): "fallthrough"}


def test_lddw_takes_two_pcs():
    g = build(prog(lddw(1, 1 << 40), jcond("jeq", 1, 0, 1), exit_(), exit_()))
    assert blocks(g) == {0: 2, 3: 3, 4: 4}
    assert g.nodes[0]["block"].insns[1][0] == 2


def test_line_info_kept_in_blocks():
    g = build(prog(mov(0, 0), exit_(), line_info={0: 10, 1: 11}))
    assert [li.line for li in g.nodes[0]["block"].lines.values()] == [10, 11]


# --- malformed control flow --------------------------------------------------------------
@pytest.mark.parametrize("insns, pc, words", [
    ([ja(5), exit_()], 0, "outside the program"),
    ([ja(-2), exit_()], 0, "outside the program"),
    ([jcond("jeq", 1, 0, 1), lddw(1, 5), exit_()], 0, "second slot of an lddw"),
    ([mov(0, 0)], 0, "falls off the end"),
    ([mov(0, 0), exit_(), jcond("jeq", 1, 0, -2)], 2, "falls off the end"),
    ([mov(0, 0), call_local(0), exit_()], 1, "falls off the end"),
    ([call_local(5), exit_()], 0, "outside the program"),
    ([call_local(-1), exit_()], 0, "recursive"),
    ([lddw(1, 7, isa.LDDW_CODE), exit_()], 0, "outside the program"),
    ([], None, "empty"),
])
def test_malformed_control_flow(insns, pc, words):
    for fn in (build, inline):
        with pytest.raises(ProgramError, match=words) as info:
            fn(prog(*insns))
        assert info.value.pc == pc


def test_call_to_a_non_function_with_declared_functions():
    p = prog(call_local(2), exit_(), mov(0, 0), exit_(),
             functions=[("main", 0, 2), ("f", 2, 4)])
    with pytest.raises(ProgramError, match="starts no function") as info:
        build(p)
    assert info.value.pc == 0


def test_jump_between_functions_is_rejected():
    p = prog(call_local(1), ja(1), mov(0, 0), exit_(),
             functions=[("main", 0, 2), ("f", 2, 4)])
    with pytest.raises(ProgramError, match="leaves function main") as info:
        build(p)
    assert info.value.pc == 1


def test_functions_must_tile_the_program():
    with pytest.raises(ProgramError, match="tile"):
        build(prog(mov(0, 0), exit_(), exit_(), functions=[("main", 0, 1), ("f", 2, 3)]))
    with pytest.raises(ProgramError, match="end at pc 2"):
        build(prog(mov(0, 0), exit_(), exit_(), functions=[("main", 0, 2)]))
    # empty functions (symbols of size 0) are ignored
    g = build(prog(mov(0, 0), exit_(), functions=[("main", 0, 2), ("nothing", 2, 2)]))
    assert g.graph["functions"] == {"main": 0}


def test_mutual_recursion_is_rejected():
    # main: call f; exit.  f (2): call g; exit.  g (4): call f; exit.
    p = prog(call_local(1), exit_(), call_local(1), exit_(), call_local(-3), exit_())
    with pytest.raises(ProgramError, match="recursive"):
        inline(p)


def chain(depth: int) -> Program:
    """main calls f1 calls f2 ... f(depth-1): `depth` frames in all."""
    insns = []
    for i in range(depth - 1):
        insns += [call_local(1), exit_()]
    insns += [mov(0, 0), exit_()]
    return prog(*insns)


def test_call_depth_limit():
    g = inline(chain(8))
    frames = {n[0] for n in g}
    assert max(len(f) for f in frames) == 7
    with pytest.raises(ProgramError, match="deeper than 8") as info:
        inline(chain(9))
    assert info.value.pc == 14
    with pytest.raises(ProgramError):
        build(chain(9))


# --- calls ----------------------------------------------------------------------------------
def two_calls() -> Program:
    #   0: call f ; 1: call f ; 2: exit ; f(3): r1 > 0 goto 5 ; 4: exit ; 5: r0 = 1 ; 6: exit
    return prog(call_local(2), call_local(1), exit_(),
                jcond("jgt", 1, 0, 1), exit_(), mov(0, 1), exit_())


def test_build_joins_functions_with_call_edges():
    g = build(two_calls())
    assert g.graph["functions"] == {"prog": 0, "prog+3": 3}
    kinds = edges(g)
    assert kinds[0, 3] == "call" and kinds[0, 1] == "fallthrough"
    assert kinds[1, 3] == "call" and kinds[1, 2] == "fallthrough"
    assert g.graph["exits"] == [2]
    assert g.nodes[3]["block"].function == "prog+3"


def test_inline_copies_callee_per_call_site():
    g = inline(two_calls())
    assert g.graph["entry"] == ((), 0)
    assert set(g) == {((), 0), ((), 1), ((), 2), ((0,), 3), ((0,), 4), ((0,), 5),
                      ((1,), 3), ((1,), 4), ((1,), 5)}
    assert g.edges[((), 0), ((0,), 3)]["kind"] == "call"
    assert g.edges[((0,), 4), ((), 1)]["kind"] == "return"
    assert g.edges[((0,), 5), ((), 1)]["kind"] == "return"
    assert g.edges[((1,), 5), ((), 2)]["kind"] == "return"
    assert not g.has_edge(((), 0), ((), 1))
    assert g.graph["exits"] == [((), 2)]
    assert g.nodes[((1,), 3)]["block"].frame == (1,)
    # every node reachable, every path from the entry reaches the exit
    assert nx.descendants(g, ((), 0)) | {((), 0)} == set(g)


def test_nested_calls_have_nested_frames():
    g = inline(chain(3))
    assert ((0, 2), 4) in g and g.edges[((0,), 2), ((0, 2), 4)]["kind"] == "call"


def test_callee_that_never_returns_drops_return_site():
    # 0: call f ; 1: exit ; f(2): goto 2 (loops forever)
    g = inline(prog(call_local(1), exit_(), ja(-1)))
    assert ((), 1) not in g and g.graph["exits"] == []


def test_callx_targets_address_taken_functions():
    # an address (pc 0 + 1 + 1 = 2) that starts no function is rejected
    p = prog(lddw(1, 1, isa.LDDW_CODE), callx(1), exit_(), exit_(), exit_(),
             functions=[("main", 0, 4), ("f", 4, 5), ("g", 5, 6)])
    with pytest.raises(ProgramError, match="starts no function"):
        build(p)
    # 0-1: r1 = &f (pc 0 + 1 + 3 = 4) ; 2: callx r1 ; 3: exit ; f(4): exit ; g(5): exit
    p = prog(lddw(1, 3, isa.LDDW_CODE), callx(1), exit_(), exit_(), exit_(),
             functions=[("main", 0, 4), ("f", 4, 5), ("g", 5, 6)])
    g = build(p)
    assert edges(g)[0, 4] == "call" and (0, 5) not in edges(g)
    assert edges(g)[0, 3] == "fallthrough" and g.nodes[0]["block"].last_pc == 2
    gi = inline(p)
    assert gi.edges[((), 0), ((2,), 4)]["kind"] == "call"
    assert gi.edges[((2,), 4), ((), 3)]["kind"] == "return"


def test_callx_without_known_addresses_calls_every_other_function():
    p = prog(callx(1), exit_(), exit_(), exit_(),
             functions=[("main", 0, 2), ("f", 2, 3), ("g", 3, 4)])
    g = build(p)
    assert {v for _, v, k in g.out_edges(0, data="kind") if k == "call"} == {2, 3}


# --- loops --------------------------------------------------------------------------------
def test_nested_loops():
    #   0: r1 = 0
    #   1: r2 = 0                  <- outer head
    #   2: r2 += 1                 <- inner head
    #   3: if r2 < 4 goto 2
    #   4: r1 += 1
    #   5: if r1 < 3 goto 1
    #   6: exit
    p = prog(mov(1, 0), mov(2, 0), add(2, 1), jcond("jlt", 2, 4, -2), add(1, 1),
             jcond("jlt", 1, 3, -5), exit_())
    g = build(p)
    w = wto(g, 0)
    assert w.heads == {1, 2}
    assert w.nesting(4) == (1,) and w.nesting(2) == (1, 2) and w.nesting(6) == ()
    found = {lp.head: lp for lp in loops(g, 0)}
    assert found[1].parent is None and found[2].parent == 1
    assert found[2].back_edges == {(2, 2)}
    assert found[1].back_edges == {(4, 1)}
    assert found[2].body < found[1].body


def test_irreducible_flow_has_one_head_per_cycle():
    #   0: if r1 == 0 goto 3      (two entries into the cycle 1 <-> 3)
    #   1: r0 = 1
    #   2: if r0 > 1 goto 4
    #   3: if r2 > 0 goto -3 (to 1)
    #   4: exit
    p = prog(jcond("jeq", 1, 0, 2), mov(0, 1), jcond("jgt", 0, 1, 1),
             jcond("jgt", 2, 0, -3), exit_())
    g = build(p)
    w = wto(g, 0)
    assert len(w.heads) == 1
    acyclic = g.copy()
    for lp in loops(g, 0):
        acyclic.remove_edges_from(lp.back_edges)
    assert nx.is_directed_acyclic_graph(acyclic)


# --- random programs: the block structure matches an independent leader computation --------
@st.composite
def programs(draw):
    """Random well-formed single-function programs with jumps, calls and lddw."""
    n = draw(st.integers(2, 40))
    kinds = draw(st.lists(st.sampled_from(["mov", "jcond", "ja", "exit", "call", "tail",
                                           "lddw", "may_goto"]), min_size=n, max_size=n))
    kinds[-1] = "exit"
    pcs, pc = [], 0
    for k in kinds:
        pcs.append(pc)
        pc += 2 if k == "lddw" else 1
    targets = list(pcs)
    insns = []
    for i, k in enumerate(kinds):
        here = pcs[i]
        if k in ("jcond", "ja", "may_goto"):
            t = draw(st.sampled_from(targets))
            off = t - here - 1
            insns.append(jcond("jne", 1, 0, off) if k == "jcond" else
                         ja(off) if k == "ja" else may_goto(off))
        else:
            insns.append({"mov": mov(0, i), "exit": exit_(), "call": call(1),
                          "tail": call(12), "lddw": lddw(2, i)}[k])
    return prog(*insns)


@given(programs())
@settings(max_examples=150, deadline=None)
def test_blocks_match_leaders(p):
    g = build(p)
    leaders, enders = {0}, set()
    for pc, insn in p.items():
        kind = insn.spec.kind
        if kind in ("jcond", "ja", "may_goto"):
            leaders.add(pc + 1 + insn.jump_offset)
        if kind in ("jcond", "ja", "may_goto", "exit") or (kind == "call" and insn.imm == 12):
            enders.add(pc)
            if pc + 1 < p.end_pc:
                leaders.add(pc + 1)
    firsts = set(g.nodes)
    assert firsts == leaders
    lasts = {d["block"].last_pc for _, d in g.nodes(data=True)}
    assert enders <= lasts
    covered = [pc for n in sorted(g) for pc, _ in g.nodes[n]["block"].insns]
    assert covered == p.pcs
    # successors: each edge goes to a leader; blocks not ending in exit have successors
    for n, d in g.nodes(data=True):
        last = d["block"].last
        if last.spec.kind == "exit":
            assert g.out_degree(n) == 0
        else:
            assert g.out_degree(n) >= 1
    reach = nx.descendants(g, 0) | {0}
    assert {n for n in g if g.nodes[n]["reachable"]} == reach
    dead = {pc for w in g.graph["warnings"] for pc in p.pcs if w.start <= pc <= w.end}
    assert dead == {pc for n in g if n not in reach for pc, _ in g.nodes[n]["block"].insns}



def test_deeply_nested_loops_need_no_recursion():
    # k nested loops: heads at pcs 0..k-1, back jumps at k..2k-1 (innermost first), so the DFS
    # and the component nesting are both k deep, far more than the recursion limit allows.
    k = 300
    insns = [add(1, 1) for _ in range(k)]
    for i in range(k):
        here = k + i
        head = k - 1 - i
        insns.append(jcond("jlt", 1, 5, head - here - 1))
    insns.append(exit_())
    p = prog(*insns)
    with shallow_stack():
        graphs = [build(p), inline(p)]
        for g in graphs:
            w = wto(g, g.graph["entry"])
            found = loops(g, g.graph["entry"], w)
            depth = max(w.depth(n) for n in g)
            nest = w.nesting(k - 1 if g.graph["kind"] == "build" else ((), k - 1))
    assert len(w.heads) == k and depth == k and len(found) == k and len(nest) == k


@st.composite
def programs_with_calls(draw):
    """Random programs of 1-4 functions; function i may call functions j > i (no recursion)."""
    nfun = draw(st.integers(1, 4))
    sizes = [draw(st.integers(2, 12)) for _ in range(nfun)]
    starts = [sum(sizes[:i]) for i in range(nfun)]
    insns = []
    for f in range(nfun):
        lo, hi = starts[f], starts[f] + sizes[f]
        for pc in range(lo, hi - 1):
            kind = draw(st.sampled_from(["mov", "jcond", "call"] if f + 1 < nfun
                                        else ["mov", "jcond"]))
            if kind == "jcond":
                target = draw(st.integers(lo, hi - 1))
                insns.append(jcond("jgt", 1, 0, target - pc - 1))
            elif kind == "call":
                callee = draw(st.integers(f + 1, nfun - 1))
                insns.append(call_local(starts[callee] - pc - 1))
            else:
                insns.append(mov(0, pc))
        insns.append(exit_())
    return prog(*insns)


@given(programs_with_calls())
@settings(max_examples=150, deadline=None)
def test_inline_frames_calls_and_returns_are_consistent(p):
    g = inline(p)
    b = build(p)
    entry = g.graph["entry"]
    assert nx.descendants(g, entry) | {entry} == set(g)
    for (frame, pc), data in g.nodes(data=True):
        block = data["block"]
        assert block.frame == frame and block.first_pc == pc and block.id == (frame, pc)
        assert block.function == b.nodes[pc]["block"].function
        if frame:
            site = p.at(frame[-1])
            assert site.spec.kind == "call"
            callee_entry = frame[-1] + 1 + site.imm
            assert g.graph["functions"][block.function] == callee_entry
    for u, v, d in g.edges(data=True):
        ublock = g.nodes[u]["block"]
        if d["kind"] == "call":
            assert v[0] == u[0] + (ublock.last_pc,) and v[1] in g.graph["functions"].values()
        elif d["kind"] == "return":
            assert ublock.last.spec.kind == "exit"
            assert v[0] == u[0][:-1] and v[1] == u[0][-1] + 1
        else:
            assert u[0] == v[0]
            assert b.edges[u[1], v[1]] == d
    assert all(n[0] == () and g.nodes[n]["block"].last.spec.kind == "exit"
               for n in g.graph["exits"])
    assert g.graph["exits"] and set(g.graph["exits"]) == {
        ((), pc) for pc in b.graph["exits"] if ((), pc) in g}


def test_callbacks_are_reachable_but_not_inlined():
    # 0-1: r2 = &cb (pc 0 + 1 + 4 = 5) ; 2: call bpf_loop (181) ; 3: r0 = 0 ; 4: exit ;
    # cb(5): r0 = 1 ; 6: exit
    p = prog(lddw(2, 4, isa.LDDW_CODE), call(181), mov(0, 0), exit_(), mov(0, 1), exit_(),
             functions=[("main", 0, 5), ("cb", 5, 7)])
    g = build(p)
    assert g.graph["warnings"] == [] and g.graph["callbacks"] == [5]
    assert g.nodes[5]["reachable"] and g.in_degree(5) == 0
    gi = inline(p)
    assert set(gi) == {((), 0)} and gi.graph["callbacks"] == [5]
