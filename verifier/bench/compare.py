"""`bpfcheck bench compare A B`: per-program differences between two results files (verdict,
error count, instructions, and the time ratio B/A)."""
from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("compare", help="per-program differences between two results files")
    parser.add_argument("a", help="results file A (.parquet or .csv)")
    parser.add_argument("b", help="results file B")
    parser.add_argument("--all", action="store_true", help="also list programs without changes")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run_compare)


def run_compare(args) -> int:
    """Exit 0 when verdicts, errors and instructions agree everywhere, 1 otherwise."""
    import json
    import os

    from cfg.errors import BpfcheckError
    from verifier.research.report import differences
    from verifier.research.store import load
    for p in (args.a, args.b):
        if not os.path.exists(p) and not os.path.exists(p + ".journal.jsonl"):
            raise BpfcheckError(f"{p}: no such results file")
    d = differences(load(args.a), load(args.b))
    changed = d[d["change"] != ""]
    shown = d if args.all else changed
    if args.format == "json":
        print(json.dumps(json.loads(shown.to_json(orient="records")), indent=2))
    else:
        for r in shown.itertuples():
            ratio = "" if r.time_ratio != r.time_ratio or r.time_ratio is None else f"  time x{r.time_ratio}"
            print(f"{r.program:50s} {r.domain:14s} {r.change or 'same'}{ratio}")
        print(f"{len(changed)} difference(s) in {len(d)} (program, domain) pair(s)")
    return 1 if len(changed) else 0
