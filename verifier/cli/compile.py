"""`bpfcheck compile FILE.o --section S -o prog.c`: a program as portable C (the AOT engine).

Writes the C translation of `runtime.aot` (`-o -` prints it); `--shared LIB.so` also builds it
with the system C compiler. `--platform windows` compiles an eBPF for Windows program (its
tail-call helper number). Exit 0 on success, 2 on bad input (no such section, a program that
cannot be compiled, no C compiler for `--shared`).
"""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compile", help="translate a program into C (and a shared library) ahead of time",
        description="Translate a program of an eBPF object into readable, portable C: one C "
                    "function per eBPF function, registers as uint64_t locals, helpers and map "
                    "addresses through a table passed in (see docs/runtime.md).")
    parser.add_argument("file", help="eBPF object file (.o)")
    parser.add_argument("--section", help="program section (objects with several programs)")
    parser.add_argument("--function", help="program function name")
    parser.add_argument("-o", "--output", default="-", help="C file to write ('-': stdout)")
    parser.add_argument("--shared", metavar="LIB", help="also build a shared library here")
    parser.add_argument("--platform", choices=("linux", "windows"), default="linux",
                        help="the program's platform (default linux)")
    parser.set_defaults(handler=compile_command)


def compile_command(args: argparse.Namespace) -> int:
    import pathlib
    import shutil
    import sys

    from cfg.elf import load_object
    from cfg.errors import BpfcheckError
    from runtime import aot

    program = load_object(args.file).program(args.section, args.function)
    source = aot.translate(program, 5 if args.platform == "windows" else 12)
    if args.output == "-":
        sys.stdout.write(source.text)
    else:
        try:
            pathlib.Path(args.output).write_text(source.text)
        except OSError as exc:
            raise BpfcheckError(f"{args.output}: {exc.strerror}") from None
    if args.shared:
        lib = aot.build(source)
        try:
            shutil.copyfile(lib, args.shared)
        except OSError as exc:
            raise BpfcheckError(f"{args.shared}: {exc.strerror}") from None
        print(f"{args.shared}: {program.section}/{program.name}, entry {source.entry}, "
              f"helpers {list(source.helpers)}, {len(source.lddw)} map reference(s)",
              file=sys.stderr)
    return 0
