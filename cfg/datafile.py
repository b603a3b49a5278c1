"""Reader for the `.data` test files of uBPF and bpf_conformance.

A file is a list of sections, each opened by a line starting with `--`:
`-- asm` (uBPF-syntax assembly, `#` comments), `-- raw` (instructions as 64-bit integers,
`0x` hex or decimal, each the little-endian image of one 8-byte slot), `-- mem` (the input
memory as hex bytes), `-- result` (expected r0, `0x` hex or decimal), `-- error` (expected
error text), `-- map` (one map a line: `name type key_size value_size max_entries`, the type a
number or a name such as `array`; the program refers to them as `map_by_fd(name)`), and
sections that carry nothing for us (`-- c`, `-- no register offset`, ...).
Lines before the first section and `#` comment lines are ignored. Raw instructions win over
assembly when both are present, as in bpf_conformance.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from cfg.asm import assemble
from cfg.errors import AsmError, BpfcheckError, DecodeError
from cfg.isa import Insn, decode
from cfg.program import MAP_TYPE_IDS, MapDef

_KNOWN = ("asm", "raw", "mem", "result", "error", "map")
U64 = (1 << 64) - 1


@dataclass(frozen=True)
class DataTest:
    """One `.data` test. `insns` are decoded from `raw` or assembled from `asm`.

    When the test expects an error (`error` set) and its program does not even assemble or
    decode (bpf_conformance's negative tests use registers like %r11), `insns` is empty and
    `load_error` holds our message instead of raising."""

    name: str
    asm: str | None
    raw: bytes | None
    mem: bytes
    result: int | None   # unsigned 64-bit
    error: str | None
    insns: list[Insn] = field(default_factory=list)
    load_error: str | None = None
    path: str = ""
    maps: tuple[MapDef, ...] = ()  # from `-- map`; pseudo lddw imm = index in this tuple


def _section(line: str) -> str:
    """The name of the section a `--` line opens ('' for ones we skip)."""
    words = line[2:].strip().lower()
    for name in _KNOWN:
        if words == name or words.startswith(name + " "):
            return name
    return ""


def _number(text: str, what: str, path: str, line: int) -> int:
    t = text.strip()
    try:
        if t.lower().startswith(("0x", "-0x", "+0x")):
            return int(t, 16)
        return int(t, 10)
    except ValueError:
        raise _in_file(AsmError(f"bad {what} {t!r}", line), path) from None


def parse_data(text: str, path: str = "<data>") -> DataTest:
    """Parse the text of a `.data` file; AsmError/DecodeError naming `path` on bad input."""
    sections: dict[str, list[tuple[int, str]]] = {}
    current = ""
    for number, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.rstrip("\r")
        stripped = line.strip()
        if stripped.startswith("--"):
            current = _section(stripped)
            if current:
                sections.setdefault(current, [])
            continue
        if not current or not stripped:
            continue
        if current != "asm" and stripped.startswith("#"):
            continue
        sections[current].append((number, line))

    asm_text = None
    if "asm" in sections:
        # keep line numbers of the file in assembler errors
        lines = [""] * (max((n for n, _ in sections["asm"]), default=0))
        for n, line in sections["asm"]:
            lines[n - 1] = line
        asm_text = "\n".join(lines)

    raw = None
    if sections.get("raw"):
        words = []
        for n, line in sections["raw"]:
            for tok in line.split("#", 1)[0].split():
                value = _number(tok, "raw instruction", path, n)
                if not 0 <= value <= U64:
                    raise _in_file(AsmError(f"raw word {tok} is not a 64-bit value", n), path)
                words.append(struct.pack("<Q", value))
        raw = b"".join(words)

    mem = bytearray()
    for n, line in sections.get("mem", []):
        for tok in line.split("#", 1)[0].split():
            try:
                value = int(tok, 16)
            except ValueError:
                raise _in_file(AsmError(f"bad memory byte {tok!r}", n), path) from None
            if not 0 <= value <= 0xFF:
                raise _in_file(AsmError(f"memory value {tok} is not a byte", n), path)
            mem.append(value)

    result = None
    if sections.get("result"):
        n, line = sections["result"][-1]
        result = _number(line.split("#", 1)[0], "result", path, n) & U64

    error = None
    if sections.get("error"):
        error = " ".join(line.strip() for _, line in sections["error"])

    maps = []
    for n, line in sections.get("map", []):
        fields = line.split("#", 1)[0].split()
        if len(fields) != 5:
            raise _in_file(AsmError("a map is `name type key_size value_size max_entries`", n),
                           path)
        name, kind, *sizes = fields
        mtype = MAP_TYPE_IDS.get(kind.lower()) if not kind.isdigit() else int(kind)
        if mtype is None:
            raise _in_file(AsmError(f"unknown map type {kind!r}", n), path)
        key, value, entries = (_number(x, "map size", path, n) for x in sizes)
        maps.append(MapDef(name, mtype, key, value, entries, kind="user"))

    if raw is None and asm_text is None:
        raise AsmError(f"{path}: no `-- asm` or `-- raw` section")

    insns: list[Insn] = []
    load_error = None
    try:
        if raw is not None:
            insns = decode(raw)
        else:
            insns = assemble(asm_text or "", "ubpf", maps=[m.name for m in maps])
    except (AsmError, DecodeError) as exc:
        if error is None:
            raise _in_file(exc, path) from None
        load_error = str(exc)
    name = os.path.splitext(os.path.basename(path))[0]
    return DataTest(name, asm_text, raw, bytes(mem), result, error, insns, load_error, path,
                    tuple(maps))


def _in_file(exc: AsmError | DecodeError, path: str) -> BpfcheckError:
    """The same error with the file name in front (`f.data: line 3: ...`), fields kept."""
    new = type(exc)(f"{path}: {exc}")
    if isinstance(exc, AsmError):
        new.line, new.detail = exc.line, exc.detail
    else:
        new.index, new.detail = exc.index, exc.detail
    return new


def read_data_file(path: str | os.PathLike) -> DataTest:
    """Read and parse a `.data` file (AsmError/DecodeError naming the file on bad input)."""
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        raise BpfcheckError(f"{p}: {exc.strerror or exc}") from None
    return parse_data(text, p)
