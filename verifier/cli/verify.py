"""`bpfcheck verify FILE.o...`: prove programs safe or say why not (exit 0 / 1 / 2)."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("verify", help="verify eBPF object files")
    p.add_argument("files", nargs="+", metavar="FILE.o")
    p.add_argument("--section", help="only programs of this ELF section")
    p.add_argument("--function", help="only this function")
    p.add_argument("--type", help="program type (overrides the section's)")
    p.add_argument("--domain", default="zone", help="numeric domain: zone (default) or interval")
    p.add_argument("--platform", default="linux")
    p.add_argument("--termination", action="store_true", help="prove every loop terminates")
    p.add_argument("--no-division-by-zero", action="store_true",
                   help="report divisions that may divide by zero")
    p.add_argument("-v", "--verbose", action="store_true", help="print the invariants")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=run)


def run(args) -> int:
    from cfg.elf import load_programs
    from verifier.analyze import Options, analyze
    from verifier.report import format_json, format_text

    options = Options(termination=args.termination,
                      allow_division_by_zero=not args.no_division_by_zero)
    reports = []
    for path in args.files:
        for prog in load_programs(path, args.section, args.function, args.type):
            rep = analyze(prog, options, domain=args.domain, platform=args.platform)
            reports.append(rep)
            if args.format == "text":
                print(format_text(rep, args.verbose))
                sys.stdout.flush()
    if args.format == "json":
        print(format_json(reports))
    return 0 if all(r.ok for r in reports) else 1
