"""`bpfcheck yaml FILE.yaml...`: run PREVAIL-schema verifier tests (exit 1 if any case fails)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("yaml", help="run YAML verifier test cases (PREVAIL schema)")
    p.add_argument("files", nargs="+", metavar="FILE.yaml")
    p.add_argument("--domain", default="zone")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("-v", "--verbose", action="store_true", help="print passing cases too")
    p.set_defaults(handler=run)


def run(args) -> int:
    import json

    from verifier.yamltest import run_file

    results = []
    for path in args.files:
        results.extend(run_file(path, args.domain))
    if args.format == "json":
        print(json.dumps({"cases": [r.to_json() for r in results]}, indent=2))
    else:
        for r in results:
            if not r.passed or args.verbose:
                print(f"{'PASS' if r.passed else 'FAIL'} {r.file}: {r.name}"
                      + (f"\n    {r.reason}" if r.reason else ""))
        passed = sum(r.passed for r in results)
        print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if all(r.passed for r in results) else 1
