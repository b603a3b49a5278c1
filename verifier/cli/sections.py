"""`bpfcheck sections FILE.o`: the programs and maps an object holds, as the loader sees them.

JSON (`--format json`): {"programs": [{"section", "function", "type", "instructions"}],
"maps": [{"name", "type", "key_size", "value_size", "max_entries"}]}, plus
"core_relocations" when the object has CO-RE relocations: each with `local` (the compiler's
value), `value` (what was applied, null when the instruction was poisoned, then `failure` says
why) and `target` (the target BTF, "" when none was available and local values were kept; see
`--btf` / `--no-core`). `instructions` counts 8-byte slots of the whole program (entry function
and the subprograms appended to it), as the kernel counts them.
"""
from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sections", help="list the programs and maps of an eBPF object file",
        description="List the programs (section, function, program type, instruction count) "
                    "and maps of an eBPF ELF object.")
    parser.add_argument("file", help="eBPF object file (.o)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--type", dest="prog_type", metavar="TYPE",
                        help="program type to report instead of the one the section name implies")
    parser.set_defaults(handler=run)


def describe(obj) -> dict:
    """The JSON-ready summary of a loaded object."""
    out = {
        "programs": [{"section": p.section, "function": p.name, "type": p.type,
                      "instructions": p.end_pc} for p in obj.programs],
        "maps": [{"name": m.name, "type": m.type_name, "key_size": m.key_size,
                  "value_size": m.value_size, "max_entries": m.max_entries} for m in obj.maps],
    }
    core = []
    for p in obj.programs:
        applied = {r.reloc.pc: r for r in p.core_results}
        for r in p.core_relocs:
            entry = {"section": p.section, "function": p.name, "pc": r.pc, "kind": r.kind,
                     "type": r.type_name, "access": r.access, "spec": r.spec,
                     "target": p.core_target}
            res = applied.get(r.pc)
            if res is not None:
                entry.update(local=res.local, value=res.value, failure=res.failure)
            core.append(entry)
    if core:
        out["core_relocations"] = core
    return out


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]


def render_text(obj) -> str:
    lines = [f"{obj.path}: {len(obj.programs)} program(s), {len(obj.maps)} map(s)"]
    lines.append("programs:")
    rows = [["section", "function", "type", "insns", "subprograms"]]
    for p in obj.programs:
        subs = ", ".join(f"{f.name} ({f.end - f.start})" for f in p.functions[1:])
        rows.append([p.section, p.name, p.type, str(p.end_pc), subs or "-"])
    lines += _table(rows, {3}) if obj.programs else ["  (none)"]
    lines.append("maps:")
    rows = [["name", "type", "key", "value", "max_entries", "flags", "kind"]]
    for m in obj.maps:
        kind = m.kind + (f", inner {m.inner.type_name}" if m.inner else "")
        rows.append([m.name, m.type_name, str(m.key_size), str(m.value_size),
                     str(m.max_entries), hex(m.flags), kind])
    lines += _table(rows, {2, 3, 4}) if obj.maps else ["  (none)"]
    core = [p for p in obj.programs if p.core_relocs]
    targets = sorted({p.core_target for p in core})
    if core and targets == [""]:
        lines.append("CO-RE relocations (no target BTF: local value kept):")
        lines += [f"  {p.section}/{p.name} {r}" for p in core for r in p.core_relocs]
    elif core:
        lines.append(f"CO-RE relocations (applied against {', '.join(targets)}):")
        lines += [f"  {p.section}/{p.name} {r}" for p in core for r in p.core_results]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from cfg.elf import load_object

    obj = load_object(args.file)
    if args.prog_type:
        for prog in obj.programs:
            prog.type = args.prog_type
    if args.format == "json":
        print(json.dumps(describe(obj), indent=2))
    else:
        print(render_text(obj))
    return 0
