"""The `bpfcheck` command line.

Each subcommand lives in its own module of this package and exports
`register(subparsers)`; the module list below is the registry. Modules must keep their
top-level imports light (heavy ones such as z3 or graphviz go inside the handler) so that
`bpfcheck --version` and `--help` answer fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from importlib import metadata

from cfg.errors import BpfcheckError

# Subcommand modules, in the order `--help` lists them.
COMMAND_MODULES = (
    "demo", "asm", "disasm", "sections", "cfg", "verify", "compare", "yaml", "run",
    "prove_domains", "crosscheck", "bench", "compile",
)


def _version() -> str:
    try:
        return metadata.version("bpfcheck")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bpfcheck",
        description="Verify, draw and run eBPF programs.",
    )
    parser.add_argument("--version", action="version", version=f"bpfcheck {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"verifier.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"verifier.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def fail(message: str) -> int:
    """Print a one-line error for unusable input; the exit code is 2."""
    print(f"bpfcheck: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except BpfcheckError as exc:
        return fail(str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return fail(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
