"""Drawing CFGs: DOT text, the annotation hooks, graphviz output and JSON."""
from __future__ import annotations

import re
import shutil

import pytest

from _cfg_insns import add, call_local, exit_, jcond, mov, prog
from cfg.graph import build, inline
from cfg.program import LineInfo, Program
from cfg.render import CfgView, render, run_dot, to_dot, to_json

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` not installed")


def loop_program() -> Program:
    #   0: r1 = 0 ; 1: r1 += 1 ; 2: if r1 < 10 goto 1 ; 3: call f ; 4: exit ; f(5): r0 = 0 ; exit
    return prog(mov(1, 0), add(1, 1), jcond("jlt", 1, 10, -2), call_local(1), exit_(),
                mov(0, 0), exit_(), line_info={0: 3, 1: 4, 3: 7})


def node_ids(dot: str) -> dict[int, str]:
    """first pc -> DOT node id, read back from the labels."""
    out = {}
    for m in re.finditer(r"^\s+(n\d+) \[label=<.*?<B>L(\d+):", dot, re.M):
        out[int(m.group(2))] = m.group(1)
    return out


def edge_line(dot: str, src: str, dst: str) -> str:
    lines = [ln for ln in dot.splitlines() if ln.strip().startswith(f"{src} -> {dst}")]
    assert len(lines) == 1, (src, dst)
    return lines[0]


def test_dot_lists_blocks_instructions_and_conditions():
    p = loop_program()
    g = build(p)
    dot = to_dot(g, p)
    ids = node_ids(dot)
    assert set(ids) == set(g.nodes)
    for pc in p.pcs:
        assert re.search(rf">\s*{pc}: ", dot), pc
    assert 'label=" r1 &lt; 10 "' not in dot          # edge labels are DOT strings
    assert 'label=" r1 < 10 "' in edge_line(dot, ids[1], ids[1])
    assert 'label=" r1 >= 10 "' in edge_line(dot, ids[1], ids[3])
    assert "&lt;" in dot                              # node labels are escaped HTML


def test_back_edges_are_dashed_and_others_not():
    p = loop_program()
    g = build(p)
    dot = to_dot(g, p)
    ids = node_ids(dot)
    assert "dashed" in edge_line(dot, ids[1], ids[1])
    for u, v in g.edges:
        if (u, v) != (1, 1):
            assert "dashed" not in edge_line(dot, ids[u], ids[v])


def test_functions_are_clusters_and_calls_dotted():
    p = loop_program()
    dot = to_dot(build(p), p)
    assert dot.count("subgraph cluster_") == 2
    assert re.search(r'label="prog\+5"', dot)
    ids = node_ids(dot)
    assert "call" in edge_line(dot, ids[3], ids[5]) and "dotted" in edge_line(dot, ids[3], ids[5])
    inl = to_dot(inline(p), p)
    assert inl.count("subgraph cluster_") == 2 and "call at pc 3" in inl
    assert "return" in inl


def test_source_lines_shown_once_per_change():
    p = loop_program()
    dot = to_dot(build(p), p)
    assert dot.count("t.c:3") == 1 and dot.count("t.c:4") == 1 and dot.count("t.c:7") == 1
    assert "t.c:" not in to_dot(build(p), p, show_source=False)


def test_annotation_hooks():
    p = loop_program()
    g = build(p)
    dot = to_dot(g, p, annotations={1: "r1 in [0, 9]"}, highlight={2: "#ff0000"},
                 notes={2: "termination: loop may not end"}, block_colors={3: "red"})
    assert "r1 in &#91;0, 9&#93;" in dot
    row = re.search(r'<TD[^>]*BGCOLOR="#ff0000"[^>]*>([^<]*)</TD>', dot)
    assert row and row.group(1).strip().startswith("2:")
    assert dot.count('BGCOLOR="#ff0000"') == 1
    assert "termination: loop may not end" in dot
    ids = node_ids(dot)
    node_line = next(ln for ln in dot.splitlines() if ln.strip().startswith(ids[3] + " "))
    assert 'color="red"' in node_line


def test_highlight_in_inlined_graph_by_pc_or_by_copy():
    p = prog(call_local(2), call_local(1), exit_(), mov(0, 0), exit_())
    g = inline(p)
    every = to_dot(g, p, highlight={3: "#00ff00"})
    assert every.count('BGCOLOR="#00ff00"') == 2
    one = to_dot(g, p, highlight={((1,), 3): "#00ff00"})
    assert one.count('BGCOLOR="#00ff00"') == 1


def test_text_is_escaped():
    p = Program([mov(0, 0), exit_()], name='a"b', line_info={0: LineInfo("x.c", 1, 0,
                                                                         'if (a < b && "c")')})
    dot = to_dot(build(p), p)
    assert 'if (a &lt; b &amp;&amp; &quot;c&quot;)' in dot
    assert 'digraph "a\\"b"' in dot


@needs_dot
def test_dot_accepts_the_text_and_views_render(tmp_path):
    p = loop_program()
    view = render(build(p), p, annotations={0: "<top>"}, notes={4: "done & dusted"})
    assert isinstance(view, CfgView)
    svg = view._repr_svg_()
    assert "<svg" in svg and "done &amp; dusted" in svg
    assert view.save(tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert view.save(tmp_path / "g.pdf").read_bytes()[:4] == b"%PDF"
    assert (view.save(tmp_path / "g.dot")).read_text() == view.dot
    with pytest.raises(ValueError):
        run_dot(view.dot, "gif")


def test_save_dot_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))   # no `dot` on the PATH
    p = loop_program()
    view = render(build(p), p)
    assert view.save(tmp_path / "g.gv").read_text().startswith("digraph")
    with pytest.raises(OSError, match="not installed"):
        view.save(tmp_path / "g.svg")


def test_json_schema():
    p = loop_program()
    g = build(p)
    data = to_json(g, p)
    names = [f["name"] for f in data["functions"]]
    assert names == ["prog", "prog+5"]
    main = data["functions"][0]
    assert main["start"] == 0 and main["end"] == 5
    assert [(b["id"], b["first_pc"], b["last_pc"]) for b in main["blocks"]] == \
        [(0, 0, 0), (1, 1, 2), (3, 3, 3), (4, 4, 4)]
    edges = {(e["from"], e["to"]): e for e in main["edges"]}
    assert edges[1, 1]["kind"] == "taken" and edges[1, 1]["condition"] == "r1 < 10"
    assert edges[3, 5]["kind"] == "call" and edges[3, 4]["kind"] == "fallthrough"
    all_edges = sum(len(f["edges"]) for f in data["functions"])
    assert all_edges == g.number_of_edges()
    inl = to_json(inline(p), p)
    callee = next(f for f in inl["functions"] if f.get("frame"))
    assert callee["frame"] == [3] and callee["blocks"][0]["id"] == "3:5"


def test_callback_clusters_are_labelled():
    from _cfg_insns import call, lddw
    from cfg import isa

    p = prog(lddw(2, 4, isa.LDDW_CODE), call(181), mov(0, 0), exit_(), mov(0, 1), exit_(),
             functions=[("main", 0, 5), ("cb", 5, 7)])
    dot = to_dot(build(p), p)
    assert 'label="cb  (callback)"' in dot and 'label="main"' in dot
