"""`bpfcheck compare A.json B.json`: what changed between two `bpfcheck verify --output` runs
(new failures, fixed programs, instructions, states and time per program)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare two bpfcheck verify JSON results (baselines)")
    p.add_argument("old", metavar="A.json", help="the earlier run (the baseline)")
    p.add_argument("new", metavar="B.json", help="the later run")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--changed", action="store_true", help="only programs that changed")
    p.add_argument("--fail-on-new", action="store_true",
                   help="exit 1 when B has failures A did not have")
    p.set_defaults(handler=run)


def run(args) -> int:
    import json

    from verifier.lint.baseline import compare, format_table, load_results

    cmp = compare(load_results(args.old)["results"], load_results(args.new)["results"])
    if args.format == "json":
        print(json.dumps(cmp.as_json(), indent=2))
    else:
        print(format_table(cmp, changed_only=args.changed))
    return 1 if args.fail_on_new and cmp.new_failures else 0
