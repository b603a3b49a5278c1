"""`bpfcheck asm FILE -o OUT.bin`: assemble llvm-syntax or uBPF-syntax text to raw bytes.

A `.data` test file (uBPF / bpf_conformance format) assembles its `-- asm` section (or takes
its `-- raw` words). Bad input is one line naming the file, the line and the problem.
"""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "asm", help="assemble eBPF text (llvm or ubpf syntax) to raw instruction bytes",
        description="Assemble eBPF text to raw little-endian instruction bytes. The llvm "
                    "syntax is what llvm-objdump prints (whole listings work); the ubpf syntax "
                    "is uBPF's and bpf_conformance's. See docs/asm.md.")
    parser.add_argument("file", help="text file (.s, .asm, or a .data test file)")
    parser.add_argument("--syntax", choices=("llvm", "ubpf"), default=None,
                        help="input syntax (default: ubpf for .data files, llvm otherwise)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.bin",
                        help="where to write the bytes")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cfg.asm import assemble
    from cfg.datafile import parse_data
    from cfg.errors import AsmError, BpfcheckError, DecodeError
    from cfg.isa import encode

    with open(args.file, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    try:
        if args.file.endswith(".data") and args.syntax in (None, "ubpf"):
            test = parse_data(text, args.file)
            if test.load_error:
                raise BpfcheckError(f"{args.file}: {test.load_error}")
            insns = test.insns
        else:
            insns = assemble(text, args.syntax or "llvm")
    except (AsmError, DecodeError) as exc:
        message = str(exc)
        if message.startswith(args.file + ":"):
            raise
        raise BpfcheckError(f"{args.file}: {message}") from None
    data = encode(insns)
    with open(args.output, "wb") as fh:
        fh.write(data)
    return 0
