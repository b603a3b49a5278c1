"""Assembler and disassembler for eBPF text in two syntaxes, labels included.

- "llvm": the pseudo-C that llvm-objdump-19 prints (`r1 = *(u32 *)(r2 + 0x4)`,
  `if r1 s> 0x5 goto +0x3`, `r1 = 0x1234 ll`), also reading the kernel verifier log's and
  PREVAIL's spellings. Whole `llvm-objdump -d` listings assemble as they are: the pc and raw
  byte columns, `<label+0x10>` annotations, section headers and function headers (which define
  labels) are understood.
- "ubpf": the uBPF / bpf_conformance syntax (`add32 %r0, 1`, `jeq %r1, 0, +3`).

See docs/asm.md for the forms LLVM cannot spell (local and kfunc calls, pseudo lddw).
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

from cfg import asm_llvm, asm_ubpf
from cfg.asmtext import Pending, strip_comment
from cfg.errors import AsmError, DecodeError
from cfg.helper_names import LINUX_HELPER_IDS
from cfg.isa import Insn, check, decode

SYNTAXES = ("llvm", "ubpf")
_PARSERS = {"llvm": asm_llvm.parse, "ubpf": asm_ubpf.parse}
_FORMATTERS = {"llvm": asm_llvm.format, "ubpf": asm_ubpf.format}

# llvm-objdump listing furniture
_OBJDUMP_PC = re.compile(r"^\s*\d+:\s+(?:((?:[0-9a-f]{2} ){7,15}[0-9a-f]{2})(?:\s+|$))?")
_OBJDUMP_FUNC = re.compile(r"^[0-9a-fA-F]+\s+<([^>]+)>:$")
_OBJDUMP_SKIP = re.compile(r"^(?:\S+:\s+file format .*|Disassembly of section .*|"
                           r"[0-9a-fA-F]+:\s+(?:R_BPF\S*|CO-RE)\s.*)$")
# `llvm-objdump -r` under a call: the call is a bpf-to-bpf call to the named function
_CALL_RELOC = re.compile(r"^[0-9a-fA-F]+:\s+R_BPF_64_32\s")
_ANNOTATION = re.compile(r"\s*<[^<>]*>\s*$")
_LABEL = re.compile(r"^([A-Za-z_.$][\w.$]*)\s*:(?!=)\s*(.*)$")
_CALL_RELOC_MARK = "\0call-reloc"
_KERNEL_LOG_PC = re.compile(r"^\d+:\s*\(\s*[0-9a-f]{2}\s*\)\s*")  # "12: (b7) r0 = 0"


def _syntax(syntax: str) -> str:
    if syntax not in SYNTAXES:
        raise AsmError(f"unknown syntax {syntax!r} (expected one of {', '.join(SYNTAXES)})")
    return syntax


def _statements(text: str, syntax: str) -> Iterable[tuple[int, list[str], str, bytes | None]]:
    """(line number, labels defined on the line, instruction text or '', raw bytes of an
    llvm-objdump line or None) for each line."""
    for number, text_line in enumerate(text.splitlines(), 1):
        line = text_line.strip()
        raw = None
        if not line:
            continue
        if syntax == "llvm":
            if _CALL_RELOC.match(line):
                yield number, [], _CALL_RELOC_MARK, None
                continue
            if _OBJDUMP_SKIP.match(line):
                continue
            fm = _OBJDUMP_FUNC.match(line)
            if fm:
                name = fm.group(1)
                if re.fullmatch(r"[A-Za-z_.$][\w.$]*", name) and not name.startswith(".text"):
                    yield number, [name], "", None
                continue
            line = _KERNEL_LOG_PC.sub("", line)
            pm = _OBJDUMP_PC.match(line)
            if pm:
                if pm.group(1):
                    raw = bytes.fromhex(pm.group(1))
                line = line[pm.end():]
        line = strip_comment(line)
        if syntax == "llvm":
            line = _ANNOTATION.sub("", line)
        labels = []
        while True:
            m = _LABEL.match(line)
            if not m:
                break
            labels.append(m.group(1))
            line = m.group(2).strip()
        if line or labels:
            yield number, labels, line, raw


def parse_program(text: str, syntax: str = "llvm", maps: Sequence[str] = (),
                  helpers: Mapping[str, int] | None = None
                  ) -> tuple[list[Insn], dict[str, int]]:
    """Assemble text; returns the instructions and the labels (name -> pc). AsmError(line).

    `maps` names the maps that pseudo lddw forms may refer to by name (`map_by_fd(counts)`
    becomes the index of "counts"); `helpers` maps helper names to ids for `call name`
    (default: the Linux helpers, `bpf_map_lookup_elem` -> 1). A called name that is a label
    is a bpf-to-bpf call."""
    parse = _PARSERS[_syntax(syntax)]
    helper_ids = LINUX_HELPER_IDS if helpers is None else helpers
    map_index = {name: i for i, name in enumerate(maps)}
    labels: dict[str, int] = {}
    pending: list[tuple[int, int, Pending]] = []  # (line, pc, pending)
    first_exit: int | None = None
    pc = 0
    for number, names, body, raw in _statements(text, syntax):
        for name in names:
            if name in labels:
                raise AsmError(f"label {name!r} defined twice", number)
            labels[name] = pc
        if not body:
            continue
        if body == _CALL_RELOC_MARK:
            # the previous call is a bpf-to-bpf call whose target the relocation names
            if pending and pending[-1][2].insn.opcode == 0x85 and pending[-1][2].insn.src == 0:
                n, at, prev = pending[-1]
                local = Insn(0x85, 0, 1, 0, prev.insn.imm)
                pending[-1] = (n, at, Pending(local, prev.label, prev.field))
            continue
        try:
            item = parse(body)
        except AsmError as exc:
            raise AsmError(exc.detail, number) from None
        if raw is not None and item.label is None:
            item = _prefer_bytes(item, raw)
        if first_exit is None and item.insn.opcode == 0x95:
            first_exit = pc
        pending.append((number, pc, item))
        pc += item.insn.slots
    if syntax == "ubpf" and first_exit is not None:
        labels.setdefault("exit", first_exit)  # bpf_conformance: `exit` names the first exit
    out = []
    for number, at, item in pending:
        insn = item.insn
        if item.field == "map":
            if item.label not in map_index:
                known = ", ".join(map_index) or "none declared"
                raise AsmError(f"unknown map {item.label!r} (maps: {known})", number)
            insn = Insn(insn.opcode, insn.dst, insn.src, insn.off, map_index[item.label],
                        insn.next_imm)
        elif item.label is not None and item.label not in labels and insn.opcode == 0x85 \
                and item.label in helper_ids:
            insn = Insn(insn.opcode, imm=helper_ids[item.label])
        elif item.label is not None:
            if item.label not in labels:
                raise AsmError(f"unknown label {item.label!r}", number)
            delta = labels[item.label] - at - 1
            if item.field == "off":
                if not -0x8000 <= delta <= 0x7FFF:
                    raise AsmError(f"jump target {item.label!r} out of range ({delta} slots; "
                                   "use gotol for far jumps)", number)
                insn = Insn(insn.opcode, insn.dst, insn.src, delta, insn.imm, insn.next_imm)
            else:
                insn = Insn(insn.opcode, insn.dst, insn.src, insn.off, delta, insn.next_imm)
        try:
            check(insn)
        except DecodeError as exc:
            raise AsmError(f"invalid instruction: {exc.detail}", number) from None
        out.append(insn)
    return out, labels


def _lossy(insn: Insn) -> Insn:
    """What llvm-objdump's text keeps of an instruction: it prints bpf-to-bpf and kfunc calls
    as helper calls, drops the offset of a map-value lddw and the imm of an indirect packet
    load."""
    if insn.opcode == 0x85:
        return Insn(insn.opcode, insn.dst, 0, insn.off, insn.imm)
    if insn.opcode == 0x18 and insn.src:
        return Insn(insn.opcode, insn.dst, insn.src, insn.off, insn.imm, 0)
    if insn.opcode in (0x40, 0x48, 0x50):
        return Insn(insn.opcode, insn.dst, insn.src, insn.off, 0)
    return insn


def _prefer_bytes(item: Pending, raw: bytes) -> Pending:
    """On an llvm-objdump line, take the raw bytes when the text is what llvm-objdump prints
    for them: they hold what the text cannot (local calls, map-value offsets)."""
    try:
        decoded = decode(raw)
    except DecodeError:
        return item
    if len(decoded) == 1 and _lossy(decoded[0]) == _lossy(item.insn):
        return Pending(decoded[0])
    return item


def assemble(text: str, syntax: str = "llvm", maps: Sequence[str] = (),
             helpers: Mapping[str, int] | None = None) -> list[Insn]:
    """Assemble text in the given syntax; AsmError with the line number on bad input."""
    return parse_program(text, syntax, maps, helpers)[0]


def format_insn(insn: Insn, pc: int = 0, syntax: str = "llvm",
                labels: dict[int, str] | None = None) -> str:
    """One instruction as text; `labels` (target pc -> name) makes jumps name their targets.
    DecodeError for an instruction the ISA does not define."""
    fmt = _FORMATTERS[_syntax(syntax)]
    try:
        return fmt(insn, labels, pc)
    except KeyError:
        check(insn)  # raises the precise DecodeError
        raise


def jump_targets(insns: Sequence[Insn]) -> set[int]:
    """pcs that some jump, local call or code-address lddw points at."""
    targets, pc = set(), 0
    for insn in insns:
        spec = insn.spec
        if spec.kind in ("ja", "jcond", "may_goto"):
            targets.add(pc + 1 + insn.jump_offset)
        elif spec.kind == "call" and insn.src == 1 or spec.kind == "lddw" and insn.src == 4:
            targets.add(pc + 1 + insn.imm)
        pc += insn.slots
    return targets


def disassemble(insns: Sequence[Insn], syntax: str = "llvm", labels: bool = False) -> list[str]:
    """One text per instruction. With labels=True, jump targets get `L<pc>:` prefixes and
    jumps name them, so the text survives edits; otherwise offsets are relative."""
    fmt = _FORMATTERS[_syntax(syntax)]
    names: dict[int, str] | None = None
    if labels:
        starts, pc = set(), 0
        for insn in insns:
            starts.add(pc)
            pc += insn.slots
        names = {t: f"L{t}" for t in sorted(jump_targets(insns) & starts)}
    out, pc = [], 0
    for insn in insns:
        try:
            text = fmt(insn, names, pc)
        except KeyError:
            check(insn, pc)
            raise
        if names is not None and pc in names:
            text = f"{names[pc]}: {text}"
        out.append(text)
        pc += insn.slots
    return out
