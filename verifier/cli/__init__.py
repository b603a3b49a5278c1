"""The `bpfcheck` command line.

Each subcommand lives in its own module of this package and exports
`register(subparsers)`; the module list below is the registry. Modules must keep their
top-level imports light (heavy ones such as z3 or graphviz go inside the handler) so that
`bpfcheck --version` and `--help` answer fast.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from importlib import metadata

from cfg.errors import BpfcheckError

# Subcommand modules, in the order `--help` lists them.
COMMAND_MODULES = (
    "demo", "asm", "disasm", "sections", "cfg", "verify", "compare", "yaml", "run",
    "prove_domains", "crosscheck", "bench", "compile",
)

# Commands that load objects: they take --btf / --no-core (the CO-RE target, see cfg.core).
OBJECT_COMMANDS = ("disasm", "sections", "cfg", "verify", "compare", "run", "crosscheck",
                   "compile")


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
    for name in OBJECT_COMMANDS:
        if name in sub.choices:
            add_core_options(sub.choices[name])
    return parser


def add_core_options(parser: argparse.ArgumentParser) -> None:
    """--btf PATH / --no-core: what CO-RE relocations are applied against when loading."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--btf", metavar="PATH",
                       help="target BTF for CO-RE relocations: raw BTF or an ELF with .BTF "
                            "(default: $BPFCHECK_BTF, else /sys/kernel/btf/vmlinux)")
    group.add_argument("--no-core", action="store_true",
                       help="do not apply CO-RE relocations: keep the compiler's local values")


@contextlib.contextmanager
def core_target(args: argparse.Namespace):
    """Run a command with the CO-RE target its options ask for; the loader (and any worker
    process) reads it from $BPFCHECK_BTF, restored afterwards."""
    from cfg.core import ENV_TARGET
    btf, no_core = getattr(args, "btf", None), getattr(args, "no_core", False)
    if not btf and not no_core:
        yield
        return
    if btf and not os.path.exists(btf):
        raise OSError(2, "No such file or directory", btf)
    old = os.environ.get(ENV_TARGET)
    os.environ[ENV_TARGET] = os.path.abspath(btf) if btf else "none"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV_TARGET, None)
        else:
            os.environ[ENV_TARGET] = old


@contextlib.contextmanager
def about(program):
    """Bad-input errors raised inside name the program's file and section/function, so the
    one-line message says where (a CFG or map problem found after loading)."""
    try:
        yield
    except BpfcheckError as exc:
        name = f"{program.section}/{program.name}" if program.section else program.name
        where = f"{program.file}: {name}" if program.file else name
        message = str(exc)
        if message.startswith(where):
            raise
        raise BpfcheckError(f"{where}: {message}") from None


def one_line(text: str) -> str:
    """`text` with control characters escaped: a name read from a damaged file (a section
    called "x\\np") must not break the one-line error into two."""
    return "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in text)


def fail(message: str) -> int:
    """Print a one-line error for unusable input; the exit code is 2."""
    print(f"bpfcheck: error: {one_line(message)}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        with core_target(args):
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
