"""`.BTF.ext`: per-section func_info, line_info and CO-RE relocation records.

The records name their ELF section by a BTF string and their instruction by a byte offset in
that section; `parse_btf_ext` turns offsets into section-relative pcs (8-byte slots) and
resolves the strings (file name, source line text, CO-RE access path) against the `.BTF`
string table. The loader (`cfg.elf`) moves them to program pcs when it assembles programs.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from cfg.btf import Btf
from cfg.errors import ElfError

BTF_EXT_MAGIC = 0xEB9F
CORE_KINDS = (
    "field_byte_offset", "field_byte_size", "field_exists", "field_signed",
    "field_lshift_u64", "field_rshift_u64", "type_id_local", "type_id_target",
    "type_exists", "type_size", "enumval_exists", "enumval_value", "type_matches",
)
_MAX_RECORDS = 1 << 22  # a bound so a corrupted count cannot make us spin


@dataclass(frozen=True)
class FuncInfo:
    """A function's start (`pc`) and its BTF FUNC type."""

    section: str
    pc: int
    type_id: int
    name: str


@dataclass(frozen=True)
class LineRecord:
    """Source position of the instruction at `pc` (section-relative until relocated)."""

    section: str
    pc: int
    file: str
    line: int
    column: int
    text: str


@dataclass(frozen=True)
class CoreReloc:
    """A CO-RE relocation: the instruction at `pc` holds a value computed from the local type
    `type_id` along `access` (e.g. "0:2:1"); `kind` is one of CORE_KINDS. The loader applies
    them against a target BTF with `cfg.core` (`Program.core_results` says what it did)."""

    section: str
    pc: int
    type_id: int
    type_name: str
    access: str
    kind: str
    spec: str = ""  # a readable path: "struct task_like::parent"

    def __str__(self) -> str:
        return f"pc {self.pc}: CO-RE {self.kind} {self.spec or self.type_name} ({self.access})"


@dataclass(frozen=True)
class BtfExt:
    """All records by ELF section name."""

    func_info: dict[str, tuple[FuncInfo, ...]]
    line_info: dict[str, tuple[LineRecord, ...]]
    core_relocs: dict[str, tuple[CoreReloc, ...]]


def parse_btf_ext(data: bytes, btf: Btf) -> BtfExt:
    """Parse a `.BTF.ext` section against its `.BTF`; ElfError on malformed input."""
    data = bytes(data)
    if len(data) < 8:
        raise ElfError(f"BTF.ext: section too short ({len(data)} bytes)")
    magic, version, _flags, hdr_len = struct.unpack_from("<HBBI", data)
    if magic != BTF_EXT_MAGIC:
        raise ElfError(f"BTF.ext: bad magic {magic:#06x}")
    if version != 1:
        raise ElfError(f"BTF.ext: unsupported version {version}")
    if hdr_len < 24 or hdr_len > len(data):
        raise ElfError(f"BTF.ext: bad header length {hdr_len}")
    fi_off, fi_len, li_off, li_len = struct.unpack_from("<IIII", data, 8)
    core_off = core_len = 0
    if hdr_len >= 32:
        core_off, core_len = struct.unpack_from("<II", data, 24)
    body = data[hdr_len:]

    func_info: dict[str, list[FuncInfo]] = {}
    for sec, rec in _records(body, fi_off, fi_len, 8, btf, "func_info"):
        insn_off, type_id = struct.unpack_from("<II", rec)
        func = btf.type(type_id)
        func_info.setdefault(sec, []).append(FuncInfo(sec, _pc(insn_off, "func_info"), type_id,
                                                      func.name))
    line_info: dict[str, list[LineRecord]] = {}
    for sec, rec in _records(body, li_off, li_len, 16, btf, "line_info"):
        insn_off, file_off, line_off, line_col = struct.unpack_from("<IIII", rec)
        line_info.setdefault(sec, []).append(LineRecord(
            sec, _pc(insn_off, "line_info"), btf.string(file_off), line_col >> 10,
            line_col & 0x3FF, btf.string(line_off)))
    core: dict[str, list[CoreReloc]] = {}
    if core_len:
        for sec, rec in _records(body, core_off, core_len, 16, btf, "core_relo"):
            insn_off, type_id, access_off, kind = struct.unpack_from("<IIII", rec)
            if kind >= len(CORE_KINDS):
                raise ElfError(f"BTF.ext: CO-RE relocation of unknown kind {kind}")
            access = btf.string(access_off)
            core.setdefault(sec, []).append(CoreReloc(
                sec, _pc(insn_off, "core_relo"), type_id, btf.type_name(type_id), access,
                CORE_KINDS[kind], describe_access(btf, type_id, access, CORE_KINDS[kind])))
    return BtfExt({k: tuple(v) for k, v in func_info.items()},
                  {k: tuple(v) for k, v in line_info.items()},
                  {k: tuple(v) for k, v in core.items()})


def _pc(insn_off: int, what: str) -> int:
    if insn_off % 8:
        raise ElfError(f"BTF.ext: {what} instruction offset {insn_off} is not a multiple of 8")
    return insn_off // 8


def _records(body: bytes, off: int, length: int, min_size: int, btf: Btf, what: str):
    """Yield (section name, record bytes) of one info block (rec_size, then per section:
    sec_name_off, num_info, records)."""
    if length == 0:
        return
    if off + length > len(body) or length < 4:
        raise ElfError(f"BTF.ext: {what} block [{off}, {off + length}) outside the section")
    block = body[off: off + length]
    rec_size = struct.unpack_from("<I", block)[0]
    if rec_size < min_size or rec_size % 4 or rec_size > 1024:
        raise ElfError(f"BTF.ext: {what} record size {rec_size} is invalid")
    pos = 4
    while pos < len(block):
        if pos + 8 > len(block):
            raise ElfError(f"BTF.ext: {what} section header cut short")
        name_off, count = struct.unpack_from("<II", block, pos)
        pos += 8
        if count == 0 or count > _MAX_RECORDS or pos + count * rec_size > len(block):
            raise ElfError(f"BTF.ext: {what} has a bad record count {count}")
        section = btf.string(name_off)
        for i in range(count):
            yield section, block[pos + i * rec_size: pos + (i + 1) * rec_size]
        pos += count * rec_size


def describe_access(btf: Btf, type_id: int, access: str, kind: str) -> str:
    """Render a CO-RE access string as a C-like path (best effort, never raises)."""
    try:
        root = btf.type_name(type_id)
        if kind.startswith("type_"):
            return root
        indexes = [int(part) for part in access.split(":")]
        if kind.startswith("enumval_"):
            enum = btf.resolve(type_id)
            value = enum.values[indexes[0]]
            return f"{root}::{value.name} = {value.value}"
        parts = [root]
        t = btf.resolve(type_id)
        if indexes[0]:
            parts.append(f"[{indexes[0]}]")
        for idx in indexes[1:]:
            if t.kind in ("struct", "union"):
                member = t.members[idx]
                parts.append(f"::{member.name}" if member.name else f"::<anon {idx}>")
                t = btf.resolve(member.type)
            elif t.kind == "array":
                parts.append(f"[{idx}]")
                t = btf.resolve(t.type)
            else:
                break
        return "".join(parts)
    except (ValueError, IndexError, ElfError):
        return ""
