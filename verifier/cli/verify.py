"""`bpfcheck verify PATH...`: prove programs safe or say why not (exit 0 / 1 / 2).

A thin layer: the flags, the run (inputs, parallel workers, budgets, cache, suppressions) and
the formats live in `verifier.lint` (see docs/ci.md).
"""
from __future__ import annotations


def register(sub) -> None:
    from verifier.lint.runner import add_arguments
    p = sub.add_parser("verify", help="verify eBPF object files (files, directories, globs)",
                       description="Verify every program of every object: PASS/FAIL per "
                                   "program, each error at its C source line. Exit 0 when all "
                                   "pass, 1 when any fails, 2 for unusable input.")
    add_arguments(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    from verifier.lint.runner import verify_command
    return verify_command(args)
