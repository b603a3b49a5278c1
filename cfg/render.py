"""Drawing CFGs: DOT text (always), SVG/PNG/PDF through graphviz's `dot`, JSON for tools.

Blocks are boxes with a monospace, left-justified listing: a header `L<pc>`, the source line
(grey) wherever it changes, one row per instruction `pc: text` (jumps name their targets as
`L<pc>`), and the block's annotation (the verifier puts invariants there). Edges show the
condition that holds on them (taken green, fall-through red), back edges of loops are dashed
orange, calls and returns dotted blue; functions (or, in an inlined graph, call frames) are
clusters. Unreachable blocks are grey.

The annotation hook, used by the verifier to show invariants and errors:
`annotations` (node -> text under the block), `highlight` (pc -> colour of that instruction's
row), `notes` (pc -> text under the instruction, e.g. the error message), `block_colors`
(node -> border and header colour of the block). In an inlined graph `highlight` and `notes`
keys may also be `(frame, pc)` to mark a single copy.
"""
from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from cfg.graph import BasicBlock
from cfg.isa import Insn
from cfg.wto import loops

FORMATS = ("dot", "svg", "png", "pdf", "json")
_MAX_TEXT = 96          # characters per label line before wrapping / cutting


def _esc(text: str) -> str:
    """Escape text for a graphviz HTML-like label."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("]", "&#93;").replace("[", "&#91;"))


def _quote(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _formatter(syntax: str):
    """cfg.asm.format_insn when the assembler is available, a plain fallback otherwise."""
    try:
        from cfg.asm import format_insn
    except ImportError:  # pragma: no cover - the assembler is part of the package
        format_insn = None

    def fmt(insn: Insn, pc: int, labels: dict[int, str]) -> str:
        if format_insn is not None:
            try:
                return format_insn(insn, pc, syntax=syntax, labels=labels)
            except Exception:  # a formatter gap must not stop the drawing
                pass
        return _fallback(insn, pc, labels)

    return fmt


def _fallback(insn: Insn, pc: int, labels: dict[int, str]) -> str:
    try:
        spec = insn.spec
        name, kind = spec.name, spec.kind
    except KeyError:
        return f"opcode {insn.opcode:#04x}"
    if kind in ("ja", "jcond", "may_goto"):
        target = pc + 1 + insn.jump_offset
        dest = labels.get(target, f"{target}")
        if kind == "jcond":
            right = f"r{insn.src}" if spec.uses_src_reg else str(insn.imm)
            return f"{name} r{insn.dst}, {right}, {dest}"
        return f"{name} {dest}"
    if kind == "lddw":
        return f"lddw r{insn.dst}, {insn.imm64:#x}" + (f" (src {insn.src})" if insn.src else "")
    return f"{name} dst=r{insn.dst} src=r{insn.src} off={insn.off} imm={insn.imm}"


def _wrap(text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines() or [""]:
        out.extend(textwrap.wrap(line, _MAX_TEXT, subsequent_indent="  ",
                                 break_on_hyphens=False) or [""])
    return out


def _row(text: str, color: str | None = None, bg: str | None = None, bold: bool = False) -> str:
    body = _esc(text) if text else " "
    if bold:
        body = f"<B>{body}</B>"
    if color:
        body = f'<FONT COLOR="{color}">{body}</FONT>'
    bgattr = f' BGCOLOR="{bg}"' if bg else ""
    return f'<TR><TD ALIGN="LEFT" BALIGN="LEFT"{bgattr}>{body}</TD></TR>'


def _lookup(table: Mapping | None, frame: tuple[int, ...], pc: int) -> Any:
    if not table:
        return None
    if (frame, pc) in table:
        return table[(frame, pc)]
    return table.get(pc)


def _label(node: Hashable, block: BasicBlock, fmt, labels: dict[int, str], *,
           annotation: str | None, highlight: Mapping | None, notes: Mapping | None,
           header_color: str | None, show_source: bool) -> str:
    rows = []
    where = (f"pc {block.first_pc}" if block.first_pc == block.last_pc
             else f"pcs {block.first_pc}-{block.last_pc}")
    rows.append(_row(f"{labels.get(block.first_pc, block.first_pc)}:  ({where})",
                     color=header_color, bold=True))
    last_line = None
    width = len(str(block.last_pc))
    for pc, insn in block.insns:
        info = block.lines.get(pc)
        if show_source and info is not None and (info.file, info.line) != last_line:
            last_line = (info.file, info.line)
            src = f"; {Path(info.file).name}:{info.line}"
            if info.text:
                src += "  " + info.text.strip()
            if len(src) > _MAX_TEXT:
                src = src[:_MAX_TEXT - 3] + "..."
            rows.append(_row(src, color="gray40"))
        bg = _lookup(highlight, block.frame, pc)
        rows.append(_row(f"{pc:>{width}}: {fmt(insn, pc, labels)}", bg=bg))
        note = _lookup(notes, block.frame, pc)
        if note:
            for line in _wrap(str(note)):
                rows.append(_row("   " + line, color="red3"))
    if annotation:
        rows.append("<HR/>")
        for line in _wrap(annotation):
            rows.append(_row(line, color="navy"))
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
            + "".join(rows) + "</TABLE>>")


def _edge_attrs(data: dict, back: bool) -> list[str]:
    kind, cond = data.get("kind"), data.get("condition")
    attrs = []
    if cond is not None:
        attrs.append(f"label={_quote(' ' + str(cond) + ' ')}")
    elif kind == "taken":
        attrs.append('label=" may_goto "')
    if kind == "taken":
        attrs.append('color="darkgreen" fontcolor="darkgreen"')
    elif kind == "fallthrough" and cond is not None:
        attrs.append('color="firebrick" fontcolor="firebrick"')
    elif kind in ("call", "return"):
        attrs.append(f'color="blue3" fontcolor="blue3" style="dotted" label=" {kind} "')
    if back:
        attrs.append('style="dashed" color="darkorange" penwidth="1.6" constraint="false"')
    return attrs


def _cluster_key(block: BasicBlock) -> tuple:
    return (block.frame, block.function)


def to_dot(graph: nx.DiGraph, program: Any = None, annotations: Mapping | None = None,
           highlight: Mapping | None = None, notes: Mapping | None = None,
           block_colors: Mapping | None = None, *, title: str | None = None,
           syntax: str = "llvm", show_source: bool = True) -> str:
    """DOT text of a `cfg.graph.build` or `inline` graph (see the module doc for the hooks)."""
    fmt = _formatter(syntax)
    labels = {d["block"].first_pc: f"L{d['block'].first_pc}" for _, d in graph.nodes(data=True)}
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    entry = graph.graph.get("entry")
    exits = set(graph.graph.get("exits", ()))
    entries = graph.graph.get("entries") or ([entry] if entry is not None else [])
    back: set[tuple] = set()
    for start in entries:
        if start in graph:
            for lp in loops(graph, start):
                back |= lp.back_edges
    name = title or (getattr(program, "name", None) or graph.graph.get("program") or "cfg")

    out = [f"digraph {_quote(str(name))} {{",
           '  graph [rankdir=TB splines=polyline nodesep=0.35 ranksep=0.45 '
           f'fontname="monospace" fontsize=12 labelloc=t label={_quote(str(name))}];',
           '  node [shape=box fontname="monospace" fontsize=10 margin="0.08,0.04"];',
           '  edge [fontname="monospace" fontsize=9 arrowsize=0.7];']
    clusters: dict[tuple, list[Hashable]] = {}
    for node, data in graph.nodes(data=True):
        clusters.setdefault(_cluster_key(data["block"]), []).append(node)
    callbacks = {name for name, start in graph.graph.get("functions", {}).items()
                 if start in graph.graph.get("callbacks", ())}
    for ci, ((frame, function), members) in enumerate(clusters.items()):
        caption = function if not frame else f"{function}  (call at pc {', '.join(map(str, frame))})"
        if function in callbacks and not frame:
            caption += "  (callback)"
        out.append(f"  subgraph cluster_{ci} {{")
        out.append(f'    label={_quote(caption)} style="rounded" color="gray60" '
                   'fontcolor="gray30";')
        for node in members:
            block: BasicBlock = graph.nodes[node]["block"]
            color = (block_colors or {}).get(node)
            label = _label(node, block, fmt, labels,
                           annotation=(annotations or {}).get(node), highlight=highlight,
                           notes=notes, header_color=color, show_source=show_source)
            attrs = [f"label={label}"]
            if color:
                attrs.append(f'color="{color}" penwidth=2.5')
            elif node in entries:
                attrs.append("penwidth=2")
            if node in exits:
                attrs.append("peripheries=2")
            if graph.nodes[node].get("reachable") is False:
                attrs.append('style="filled,dashed" fillcolor="gray92" fontcolor="gray45"')
            out.append(f"    {ids[node]} [{' '.join(attrs)}];")
        out.append("  }")
    for u, v, data in graph.edges(data=True):
        attrs = _edge_attrs(data, (u, v) in back)
        out.append(f"  {ids[u]} -> {ids[v]}" + (f" [{' '.join(attrs)}]" if attrs else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


def run_dot(dot_text: str, fmt: str = "svg") -> bytes:
    """Lay out DOT text with graphviz's `dot` (OSError when it is not installed)."""
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"unsupported output format {fmt!r}")
    try:
        proc = subprocess.run(["dot", f"-T{fmt}"], input=dot_text.encode(),
                              capture_output=True, check=False, timeout=600)
    except FileNotFoundError:
        raise OSError("graphviz `dot` is not installed; write a .dot file instead") from None
    if proc.returncode != 0:
        raise OSError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


class CfgView:
    """A drawn CFG: `.dot` text, `.pipe(fmt)` bytes, `.save(path)`; renders inline in notebooks."""

    def __init__(self, dot: str) -> None:
        self.dot = dot
        self._svg: str | None = None

    def pipe(self, fmt: str = "svg") -> bytes:
        """The drawing as svg / png / pdf bytes."""
        return run_dot(self.dot, fmt)

    def svg(self) -> str:
        if self._svg is None:
            self._svg = self.pipe("svg").decode()
        return self._svg

    def _repr_svg_(self) -> str:
        return self.svg()

    def save(self, path: str | Path, fmt: str | None = None) -> Path:
        """Write the drawing; the format comes from `fmt` or the file's suffix (.dot/.gv: text)."""
        path = Path(path)
        fmt = fmt or (path.suffix.lstrip(".").lower() or "dot")
        if fmt in ("dot", "gv"):
            path.write_text(self.dot)
        else:
            path.write_bytes(self.svg().encode() if fmt == "svg" else self.pipe(fmt))
        return path

    def __str__(self) -> str:
        return self.dot


def render(graph: nx.DiGraph, program: Any = None, annotations: Mapping | None = None,
           highlight: Mapping | None = None, notes: Mapping | None = None,
           block_colors: Mapping | None = None, **kwargs: Any) -> CfgView:
    """Draw `graph` with the annotation hooks; see `to_dot` and the module doc."""
    return CfgView(to_dot(graph, program, annotations, highlight, notes, block_colors,
                          **kwargs))


def _node_id(node: Hashable) -> Any:
    if isinstance(node, tuple):   # inline graph: (frame, pc) -> "12/40:7"
        frame, pc = node
        return f"{'/'.join(map(str, frame))}:{pc}"
    return node


def to_json(graph: nx.DiGraph, program: Any = None) -> dict:
    """The graph for tools: {"functions": [{"name", "blocks": [{"id", "first_pc", "last_pc"}],
    "edges": [{"from", "to", "kind", "condition"}]}], "warnings": [...]}. Edges are listed
    with the function of their source block."""
    groups: dict[tuple, dict] = {}
    ranges = graph.graph.get("function_ranges", {})
    for node, data in graph.nodes(data=True):
        block: BasicBlock = data["block"]
        key = _cluster_key(block)
        if key not in groups:
            start, end = ranges.get(block.function, (None, None))
            entry = {"name": block.function, "start": start, "end": end,
                     "blocks": [], "edges": []}
            if block.frame:
                entry["frame"] = list(block.frame)
            groups[key] = entry
        groups[key]["blocks"].append({"id": _node_id(node), "first_pc": block.first_pc,
                                      "last_pc": block.last_pc})
    for u, v, data in graph.edges(data=True):
        key = _cluster_key(graph.nodes[u]["block"])
        cond = data.get("condition")
        groups[key]["edges"].append({"from": _node_id(u), "to": _node_id(v),
                                     "kind": data["kind"],
                                     "condition": str(cond) if cond is not None else None})
    for g in groups.values():
        g["blocks"].sort(key=lambda b: b["first_pc"])
    out = {"program": getattr(program, "name", None) or graph.graph.get("program"),
           "functions": list(groups.values()),
           "warnings": [str(w) for w in graph.graph.get("warnings", ())]}
    if program is not None and getattr(program, "section", ""):
        out["section"] = program.section
    return out


def dumps_json(data: Any) -> str:
    """JSON text of `to_json` output."""
    return json.dumps(data, indent=1)
