"""`bpfcheck crosscheck FILE.o|corpus/ [--kernel] [--samples N] [--random N]`: the verifier
checked against concrete runs, z3 and the kernel, with a summary table.

For each program: accepted ones run on `--samples` generated inputs (plus `--lengths`: one
packet of every length 0..1500) with every executed state checked against the invariants
(`verifier.difftest`), and, when loop-free and small, a z3 proof that the invariants hold on
every path; rejected ones get a z3 witness per error, replayed on the interpreter
(`verifier.crosscheck`). `--kernel` adds the Linux verifier's verdict; `--random N` adds N random
programs (`verifier.randprog`). Exit 1 when a soundness escape or invariant violation is found.
"""
from __future__ import annotations

import argparse
import json
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "crosscheck", help="check the verifier against concrete runs, z3 and the kernel",
        description="Differential tests of the verifier's invariants, z3 witnesses for its "
                    "alarms, and the kernel's verdicts, with a summary table.")
    p.add_argument("paths", nargs="*", metavar="FILE.o|DIR",
                   help="object files, or a corpus directory (its manifest.yaml, linux entries)")
    p.add_argument("--section", help="only programs of this ELF section")
    p.add_argument("--samples", type=int, default=50,
                   help="generated inputs per accepted program (default 50)")
    p.add_argument("--lengths", action="store_true",
                   help="also run one packet of every length 0..1500 per packet program")
    p.add_argument("--kernel", action="store_true", help="compare with the Linux verifier")
    p.add_argument("--random", type=int, default=0, metavar="N",
                   help="also check N random programs")
    p.add_argument("--no-z3", action="store_true", help="skip witnesses and invariant proofs")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated inputs")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=run)


def _targets(paths: list[str], section: str | None) -> list:
    from cfg.elf import load_programs
    out = []
    for path in paths:
        manifest = os.path.join(path, "manifest.yaml")
        if os.path.isdir(path) and os.path.exists(manifest):
            import yaml
            with open(manifest, encoding="utf-8") as f:
                entries = yaml.safe_load(f).get("programs", [])
            for e in entries:
                if e.get("platform", "linux") != "linux":
                    continue
                if section and e.get("section") != section:
                    continue
                out += load_programs(os.path.join(path, e["object"]), e.get("section"),
                                     e.get("function"))
        elif os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith(".o"):
                    out += load_programs(os.path.join(path, name), section)
        else:
            out += load_programs(path, section)
    return out


def run(args: argparse.Namespace) -> int:
    from cfg.errors import BpfcheckError
    from verifier.campaign import check_all
    from verifier.cli import about
    if not args.paths and not args.random:
        raise BpfcheckError("crosscheck: give object files, a corpus directory or --random N")
    rows = []
    for program in _targets(args.paths, args.section):
        with about(program):
            rows.append(check_all(program, samples=args.samples, lengths=args.lengths,
                                  kernel=args.kernel, z3_checks=not args.no_z3, seed=args.seed))
    if args.random:
        from verifier.campaign import random_rows
        rows += random_rows(args.random, samples=max(1, args.samples // 5), kernel=args.kernel,
                            seed=args.seed)
    bad = any(r["escapes"] or r["invariant_violations"] for r in rows)
    if args.format == "json":
        print(json.dumps(rows, indent=2, default=str))
    else:
        from verifier.campaign import format_table
        print(format_table(rows))
    return 1 if bad else 0
