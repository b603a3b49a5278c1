"""`bpfcheck bench report RESULTS -o DIR`: tables, plots (PNG + SVG) and an HTML page from the
results file of `bench verify` (see verifier.research.report)."""
from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("report", help="tables, plots and an HTML page from bench verify results")
    parser.add_argument("results", help="results file (.parquet or .csv) of bench verify -o")
    parser.add_argument("-o", "--output", default="report", help="output directory (default report/)")
    parser.add_argument("--title", default="bpfcheck domain comparison")
    parser.set_defaults(handler=run_report)


def run_report(args) -> int:
    import os

    from cfg.errors import BpfcheckError
    from verifier.research.report import Report, write_report
    from verifier.research.store import load
    if not os.path.exists(args.results) and not os.path.exists(args.results + ".journal.jsonl"):
        raise BpfcheckError(f"{args.results}: no such results file")
    df = load(args.results)
    if not len(df):
        raise BpfcheckError(f"{args.results}: no results")
    files = write_report(df, args.output, args.title)
    for name, t in Report(df).tables.items():
        print(f"== {name}")
        print(t.to_string(index=False) if len(t) else "(none)")
        print()
    print(f"wrote {len(files)} files to {args.output}/ (open {files['index.html']})")
    return 0
