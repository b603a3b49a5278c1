"""`bpfcheck cfg FILE`: draw a program's control-flow graph (DOT/SVG/PNG/PDF) or dump it as JSON.

FILE is an eBPF ELF object, an assembly text (`.s`, `.asm`; llvm or ubpf syntax) or raw
instruction bytes. Without `--section` every program of an object is drawn (as separate
clusters); with `--invariants` the verifier's invariant is written in each block and its
errors are marked in red.
"""
from __future__ import annotations

import sys
from pathlib import Path

TEXT_SUFFIXES = (".s", ".S", ".asm")


def register(sub) -> None:
    parser = sub.add_parser("cfg", help="draw a program's control-flow graph (dot/svg/png/pdf/json)")
    parser.add_argument("file", help="ELF object (.o), assembly text (.s/.asm) or raw bytes")
    parser.add_argument("--section", "-s", help="program section (default: every program)")
    parser.add_argument("--function", "-f", help="program (entry function) name")
    parser.add_argument("-o", "--output", default="-",
                        help="output file; the format follows its suffix (default: stdout)")
    parser.add_argument("--format", choices=("dot", "svg", "png", "pdf", "json"),
                        help="output format (default: from the output suffix, else dot)")
    parser.add_argument("--inline", action="store_true",
                        help="draw bpf-to-bpf calls inlined per call site (the verifier's view)")
    parser.add_argument("--syntax", choices=("llvm", "ubpf"), default="llvm",
                        help="assembly syntax of text input and of the drawing (default llvm)")
    parser.add_argument("--no-source", action="store_true", help="leave out C source lines")
    parser.add_argument("--invariants", action="store_true",
                        help="run the verifier and show invariants and errors in the blocks")
    parser.add_argument("--domain", default=None, help="abstract domain for --invariants")
    parser.set_defaults(handler=run_cfg)


def load_programs(path: str, section: str | None, function: str | None,
                  syntax: str) -> tuple[list, dict]:
    """The programs in FILE (ELF, assembly text or raw bytes) and, for an object, its function
    symbols by name (to map program pcs back to section offsets)."""
    from cfg.errors import AsmError, BpfcheckError, DecodeError, ElfError
    from cfg.program import Program

    data = Path(path).read_bytes()
    name = Path(path).stem
    if data[:4] == b"\x7fELF":
        from cfg.elf import load_object, select

        obj = load_object(path, data)
        found = select(obj.programs, section, function)
        if not found:
            obj.program(section, function)  # raises the descriptive error
        return list(found), {f.name: f for f in obj.functions}
    if section or function:
        raise ElfError(f"{path}: --section/--function need an ELF object")
    try:
        if path.endswith(TEXT_SUFFIXES):
            from cfg.asm import assemble

            try:
                text = data.decode()
            except UnicodeDecodeError:
                raise ElfError(f"{path}: assembly text is not UTF-8") from None
            return [Program(assemble(text, syntax), name=name, file=path)], {}
        return [Program.from_bytes(data, name=name, file=path)], {}
    except (AsmError, DecodeError) as exc:  # they say the line or instruction, not the file
        raise BpfcheckError(f"{path}: {exc}") from None


def _combine(graphs: list, programs: list):
    """One graph holding several programs (nodes become (index, node), clusters by program)."""
    import dataclasses

    import networkx as nx

    if len(graphs) == 1:
        return graphs[0]
    out = nx.DiGraph()
    entries, exits, warnings = [], [], []
    for i, (g, prog) in enumerate(zip(graphs, programs)):
        label = f"{prog.section or prog.name}: " if prog.section else ""
        for node, data in g.nodes(data=True):
            block = dataclasses.replace(data["block"], function=label + data["block"].function)
            out.add_node((i, node), **{**data, "block": block})
        for u, v, data in g.edges(data=True):
            out.add_edge((i, u), (i, v), **data)
        entries.append((i, g.graph["entry"]))
        exits += [(i, n) for n in g.graph["exits"]]
        warnings += [f"{prog.name}: {w}" for w in g.graph["warnings"]]
    out.graph.update(entries=entries, exits=exits, warnings=warnings, program="cfg")
    return out


def _verifier_hooks(program, graph, domain):
    """Annotations, highlights and notes from the verifier's report on `program`."""
    import verifier

    report = verifier.analyze(program, domain=domain) if domain else verifier.analyze(program)
    invariants = getattr(report, "invariants", {}) or {}
    annotations = {}
    for node, data in graph.nodes(data=True):
        block = data["block"]
        inv = invariants.get(node, invariants.get(block.first_pc))
        if inv is not None:
            annotations[node] = str(inv)
    highlight, notes, block_colors = {}, {}, {}
    for err in getattr(report, "errors", ()):
        pc = getattr(err, "pc", None)
        if pc is None:
            continue
        highlight[pc] = "#ffb3b3"
        kind = getattr(err, "kind", "")
        text = f"{kind}: {getattr(err, 'message', err)}" if kind else str(err)
        notes[pc] = notes[pc] + "\n" + text if pc in notes else text
        for node, data in graph.nodes(data=True):
            if data["block"].first_pc <= pc <= data["block"].last_pc:
                block_colors[node] = "red3"
    return annotations, highlight, notes, block_colors


def run_cfg(args) -> int:
    from cfg import render
    from cfg.graph import build, inline
    from verifier.cli import about

    out = args.output
    fmt = args.format or (Path(out).suffix.lstrip(".").lower() if out != "-" else "dot")
    if fmt == "gv":
        fmt = "dot"
    if fmt not in render.FORMATS:
        print(f"bpfcheck: error: unknown output format {fmt!r} (use --format)", file=sys.stderr)
        return 2
    if out == "-" and fmt in ("png", "pdf"):
        print("bpfcheck: error: binary formats need -o FILE", file=sys.stderr)
        return 2
    programs, symbols = load_programs(args.file, args.section, args.function, args.syntax)
    make = inline if args.inline else build
    graphs = []
    for program in programs:
        with about(program):
            graphs.append(make(program))

    if fmt == "json":
        functions, warnings = [], []
        for prog, g in zip(programs, graphs):
            data = render.to_json(g, prog)
            for fn in data["functions"]:
                fn["program"] = prog.name
                if prog.section:
                    fn["section"] = prog.section
                sym = symbols.get(fn["name"])
                if sym is not None and not fn.get("frame"):
                    # where the function's pc `start` is in the object: pc - start + symbol_pc
                    fn["symbol_section"], fn["symbol_pc"] = sym.section, sym.start
                functions.append(fn)
            warnings += [f"{prog.name}: {w}" for w in data["warnings"]]
        text = render.dumps_json({"file": args.file, "functions": functions,
                                  "warnings": warnings})
        _write_text(out, text)
        return 0

    annotations = highlight = notes = block_colors = None
    if args.invariants:
        if len(programs) != 1:
            print("bpfcheck: error: --invariants needs one program (use --section)",
                  file=sys.stderr)
            return 2
        with about(programs[0]):
            annotations, highlight, notes, block_colors = _verifier_hooks(
                programs[0], graphs[0], args.domain)
    graph = _combine(graphs, programs)
    title = programs[0].name if len(programs) == 1 else Path(args.file).name
    view = render.render(graph, programs[0] if len(programs) == 1 else None, annotations,
                         highlight, notes, block_colors, title=title, syntax=args.syntax,
                         show_source=not args.no_source)
    if fmt == "dot":
        _write_text(out, view.dot)
    elif out == "-":
        sys.stdout.write(view.svg())
    else:
        view.save(out, fmt)
        print(f"wrote {out}", file=sys.stderr)
    return 0


def _write_text(out: str, text: str) -> None:
    if out == "-":
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")
    else:
        Path(out).write_text(text if text.endswith("\n") else text + "\n")
