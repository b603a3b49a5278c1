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
    p.add_argument("--explain", action="store_true",
                   help="for each error, search a concrete input (z3) that reaches it and "
                        "violates the property; print it and a `bpfcheck run` replay command")
    p.add_argument("--witness-dir", help="where --explain writes the witness inputs")
    p.set_defaults(handler=run)


def run(args) -> int:
    from verifier.lint.runner import verify_command
    code = verify_command(args)
    if getattr(args, "explain", False) and code == 1 and args.format == "text":
        from verifier.campaign import explain_command
        explain_command(args)
    return code
