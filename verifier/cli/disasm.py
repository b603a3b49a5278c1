"""`bpfcheck disasm FILE`: print instructions in llvm-objdump's layout.

Raw instruction bytes by default: one line per instruction, `PC:<TAB>HEX BYTES<TAB>TEXT`, the
pc right-aligned in 8 columns as llvm-objdump-19 prints it. An ELF object (starting with
`\\x7fELF`) is loaded with `cfg.elf` and each program is printed with a header, its functions
and the C source lines from its line info interleaved (like `llvm-objdump -S`).
"""
from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "disasm", help="disassemble raw eBPF bytes or the programs of an object file",
        description="Disassemble eBPF instructions in llvm-objdump's layout "
                    "(PC: HEX BYTES<TAB>TEXT).")
    parser.add_argument("file", help="raw instruction bytes, or an eBPF ELF object (.o)")
    parser.add_argument("--syntax", choices=("llvm", "ubpf"), default="llvm")
    parser.add_argument("--section", metavar="S", help="only the programs of this ELF section")
    parser.add_argument("--function", metavar="F", help="only the program of this function")
    parser.add_argument("--labels", action="store_true",
                        help="name jump targets (L<pc>) instead of relative offsets")
    parser.set_defaults(handler=run)


def listing(insns, syntax: str = "llvm", labels: bool = False, source=None,
            headers=None) -> list[str]:
    """llvm-objdump-style lines; `source(pc)` gives a line to print before pc, `headers` maps
    pc -> function name printed as `<name>:`."""
    from cfg.asm import disassemble
    from cfg.isa import encode

    texts = disassemble(insns, syntax, labels=labels)
    out, pc = [], 0
    last_src = None
    for insn, text in zip(insns, texts):
        if headers and pc in headers:
            if out:
                out.append("")
            out.append(f"{pc * 8:016x} <{headers[pc]}>:")
        if source is not None:
            src = source(pc)
            if src is not None and src != last_src:
                out.append(f"; {src}")
                last_src = src
        label = f"L{pc}: "
        if labels and text.startswith(label):
            out.append(label.rstrip(" "))
            text = text[len(label):]
        raw = " ".join(f"{b:02x}" for b in encode([insn]))
        out.append(f"{pc:>8}:\t{raw}\t{text}")
        pc += insn.slots
    return out


def _elf(args: argparse.Namespace, data: bytes) -> list[str]:
    from cfg.errors import BpfcheckError
    try:
        from cfg.elf import load_object
    except ImportError as exc:  # the loader is optional for raw bytes
        raise BpfcheckError(f"{args.file}: ELF objects need cfg.elf, which cannot be "
                            f"imported ({exc})") from None
    obj = load_object(args.file, data)
    programs = [p for p in obj.programs
                if (args.section is None or p.section == args.section)
                and (args.function is None or p.name == args.function)]
    if not programs:
        obj.program(args.section, args.function)  # raises the loader's descriptive error
    out = [f"{args.file}:\tfile format elf64-bpf"]
    for prog in programs:
        out += ["", f"Disassembly of section {prog.section} ({prog.name}, {prog.type}):", ""]

        def source(pc: int, prog=prog) -> str | None:
            info = prog.line_info.get(pc)
            if info is None:
                return None
            return info.text.strip() or str(info)

        headers = {fn.start: fn.name for fn in prog.functions}
        out += listing(prog.insns, args.syntax, args.labels, source, headers)
    return out


def run(args: argparse.Namespace) -> int:
    from cfg.errors import BpfcheckError, DecodeError
    from cfg.isa import decode

    with open(args.file, "rb") as fh:
        data = fh.read()
    if data[:4] == b"\x7fELF":
        lines = _elf(args, data)
    else:
        if args.section or args.function:
            raise BpfcheckError(f"{args.file}: --section/--function need an ELF object; "
                                "this file holds raw instruction bytes")
        try:
            insns = decode(data)
        except DecodeError as exc:
            raise BpfcheckError(f"{args.file}: {exc}") from None
        lines = listing(insns, args.syntax, args.labels)
    sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
    return 0
