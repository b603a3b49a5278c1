"""`bpfcheck bench ...`: benchmarks. Each benchmark lives in `verifier/bench/<name>.py` and
exports `register(subparsers)`; the names below are the registry."""
from __future__ import annotations

import importlib

BENCH_MODULES = ("domains", "verify", "run", "cfg", "load", "report", "compare")


def register(sub) -> None:
    parser = sub.add_parser("bench", help="measure speed and memory (domains, verify, run)")
    bench_sub = parser.add_subparsers(dest="bench_command", metavar="BENCHMARK")
    for name in BENCH_MODULES:
        try:
            module = importlib.import_module(f"verifier.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"verifier.bench.{name}":
                continue
            raise
        module.register(bench_sub)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)
