"""Load eBPF ELF objects (what `clang -O2 -g -target bpf` emits) into `Program`s, as libbpf does.

`load_object(path)` reads every program of every executable section: each function symbol of a
section other than `.text` is an entry program; the `.text` functions it calls (bpf-to-bpf
calls, R_BPF_64_32, or a callback's address taken with lddw) are appended after it in the
order they are first reached, with the call offsets rewritten. Map references (R_BPF_64_64 on
an lddw) become `lddw src=LDDW_MAP_IDX imm=<map index>`, global data `LDDW_MAP_IDX_VALUE` with
the byte offset in `next_imm`; kconfig externs point into the `.kconfig` map, ksym variables
become `LDDW_VARIABLE`, kfunc calls `call` with src `CALL_KFUNC` (imm = the extern's local BTF
id, as bpfcheck has no kernel BTF). Line info, function info and CO-RE relocations from
`.BTF.ext` follow the instructions to their program pcs; CO-RE relocations are applied against
a target BTF (`target_btf`: by default $BPFCHECK_BTF, else /sys/kernel/btf/vmlinux when it
exists; None keeps the compiler's local values), see `cfg.core`. Bad input raises `ElfError`
naming the file and the problem.
"""
from __future__ import annotations

import bisect
import dataclasses
import os
import struct
import zlib
from dataclasses import dataclass, field

from cfg.btf import Btf, parse_btf
from cfg.btf_ext import BtfExt, CoreReloc, parse_btf_ext
from cfg.core import AUTO, CoreResult, Relocator, open_target, patch
from cfg.elf_maps import (STRUCT_OPS_SECTIONS, Extern, FoundMap, btf_maps, data_maps,
                          data_section_kind, find_externs, initial_slots, kconfig_map,
                          legacy_maps, struct_ops_maps)
from cfg.elf_reader import (R_BPF_NONE, STB_GLOBAL, STB_WEAK, STT_FUNC,
                            STT_NOTYPE, STT_OBJECT, Reloc, Section, Symbol, read_elf)
from cfg.errors import BpfcheckError, ElfError
from cfg.isa import (CALL_KFUNC, CALL_LOCAL, CLS_JMP, JMP_CALL, LDDW_CODE, LDDW_MAP_IDX,
                     LDDW_MAP_IDX_VALUE, LDDW_VARIABLE, MAX_SLOTS, OPCODE_LDDW, decode)
from cfg.program import Function, LineInfo, MapDef, Program
from cfg.sections import program_type_for_section

OPCODE_CALL = CLS_JMP | JMP_CALL
TEXT = ".text"
MAX_OBJECT_SIZE = 1 << 30
MAX_BTF_SIZE = 16 << 20  # the kernel's BTF_MAX_SIZE for program BTF (BPF_BTF_LOAD)
_SLOT = struct.Struct("<BBhi")


@dataclass(frozen=True)
class FunctionSymbol:
    """A function of the object as the symbol table says: section, name, byte offset, size."""

    section: str
    name: str
    offset: int
    size: int
    is_global: bool

    @property
    def start(self) -> int:
        return self.offset // 8

    @property
    def end(self) -> int:
        return (self.offset + self.size) // 8


@dataclass
class EbpfObject:
    """Everything loaded from one object file."""

    path: str
    programs: list[Program]
    maps: list[MapDef]
    btf: Btf | None = None
    btf_ext: BtfExt | None = None
    functions: list[FunctionSymbol] = field(default_factory=list)
    externs: list[Extern] = field(default_factory=list)
    license: str = ""
    kernel_version: int | None = None
    # `.maps` slots set at load time: map name -> {index: inner map or program name}
    initial_slots: dict[str, dict[int, str]] = field(default_factory=dict)

    def program(self, section: str | None = None, function: str | None = None) -> Program:
        """The one program matching `section` and/or `function` (ElfError if none or several)."""
        found = select(self.programs, section, function)
        if not found:
            have = ", ".join(f"{p.section}/{p.name}" for p in self.programs) or "none"
            raise ElfError(f"{self.path}: no program{_what(section, function)} "
                           f"(programs: {have})")
        if len(found) > 1:
            have = ", ".join(f"{p.section}/{p.name}" for p in found)
            raise ElfError(f"{self.path}: {len(found)} programs{_what(section, function)}, "
                           f"choose one with a section and a function: {have}")
        return found[0]


def _what(section: str | None, function: str | None) -> str:
    parts = ([f"section {section!r}"] if section else []) + \
            ([f"function {function!r}"] if function else [])
    return (" with " + " and ".join(parts)) if parts else ""


def select(programs: list[Program], section: str | None = None,
           function: str | None = None) -> list[Program]:
    """Programs whose section and function match (a None filter matches all)."""
    return [p for p in programs if (section is None or p.section == section)
            and (function is None or p.name == function)]


def load_programs(path: str, section: str | None = None, function: str | None = None,
                  type: str | None = None, target_btf=AUTO) -> list[Program]:
    """The programs of an object, filtered by section / function; `type` overrides the program
    type derived from the section name. ElfError when nothing matches."""
    obj = load_object(path, target_btf=target_btf)
    found = select(obj.programs, section, function)
    if not found:
        obj.program(section, function)  # raises the descriptive error
    if type is not None:
        found = [dataclasses.replace(p, type=type) for p in found]
    return found


# What a check we lack lets through on malformed input: still one line, but the Python type
# in it marks a message to improve (the bad-input fuzz tests look for it).
_WRAPPED = (ValueError, IndexError, KeyError, struct.error, UnicodeDecodeError, zlib.error,
            OverflowError, AssertionError, TypeError, AttributeError, EOFError, RecursionError)


def load_object(path: str | os.PathLike, data: bytes | None = None,
                target_btf=AUTO) -> EbpfObject:
    """Load an object from `path` (or from `data`, `path` then only names it in errors).
    `target_btf` (a path to raw BTF or an ELF with .BTF, a parsed `Btf`, None, or AUTO) is what
    CO-RE relocations are applied against; it is read only when the object has some."""
    name = os.fspath(path)
    if data is None:
        size = os.path.getsize(name)
        if size > MAX_OBJECT_SIZE:
            raise ElfError(f"{name}: file too large ({size} bytes)")
        with open(name, "rb") as fh:
            data = fh.read()
    try:
        return _Loader(name, bytes(data), target_btf).load()
    except ElfError as exc:
        msg = str(exc)
        raise ElfError(msg if msg.startswith(name + ":") else f"{name}: {msg}") from None
    except BpfcheckError as exc:
        raise ElfError(f"{name}: {exc}") from None
    except _WRAPPED as exc:
        raise ElfError(f"{name}: malformed ELF: {type(exc).__name__}: {exc}") from None


@dataclass
class _Func:
    """A function symbol resolved to a section, with its slot range there."""

    section: Section
    name: str
    start: int
    end: int
    is_global: bool
    synthetic: bool = False  # no function symbol: the whole section (old toolchains)


class _Loader:
    def __init__(self, path: str, data: bytes, target_btf=AUTO) -> None:
        self.path = path
        self.data = data
        self.target_btf = target_btf
        self.relocator: Relocator | None = None
        self.core_target = ""
        self._by_section: dict[int, list[_Func]] | None = None

    # --- top level ---------------------------------------------------------------------------
    def load(self) -> EbpfObject:
        raw = self.raw = read_elf(self.data)
        self.btf = self._btf()
        self.btf_ext = self._btf_ext()
        if self.btf is not None and self.btf_ext is not None and self.btf_ext.core_relocs:
            target, self.core_target = open_target(self.target_btf)
            if target is not None:
                self.relocator = Relocator(self.btf, target, self.core_target)
        self.externs = find_externs(raw, self.btf)
        self.found_maps = self._maps()
        self.maps = [f.map for f in self.found_maps]
        self.funcs = self._functions()
        self.relocs = {idx: self._reloc_table(raw.sections[idx], rels)
                       for idx, rels in raw.relocs.items()
                       if raw.sections[idx].executable}
        entries = [f for f in self.funcs if f.section.name != TEXT]
        real = [f for f in self.funcs if not f.synthetic]
        if len(real) == 1 and real[0].section.name == TEXT:
            entries.append(real[0])  # libbpf: a lone function without SEC() is a program
        if not entries:  # bpfcheck: with no SEC() programs, global .text functions are
            entries = [f for f in self.funcs if f.is_global] or self.funcs
        entries.sort(key=lambda f: (f.section.index, f.start))
        programs = [self._program(f) for f in entries]
        return EbpfObject(self.path, programs, self.maps, self.btf, self.btf_ext,
                          [FunctionSymbol(f.section.name, f.name, f.start * 8,
                                          (f.end - f.start) * 8, f.is_global)
                           for f in self.funcs if not f.synthetic],
                          self.externs, self._license(), self._version(), self._slots_init())

    def _btf(self) -> Btf | None:
        sec = self.raw.section(".BTF")
        if sec is None:
            return None
        if len(sec.data) > MAX_BTF_SIZE:
            raise ElfError(f"BTF of {len(sec.data)} bytes: more than the kernel's limit of "
                           f"{MAX_BTF_SIZE}")
        btf = parse_btf(sec.data)
        sections = self.raw.sections
        sizes = {s.name: s.size for s in sections}
        offsets: dict[str, dict[str, int]] = {}
        for sym in self.raw.symbols:
            if sym.type in (STT_OBJECT, STT_NOTYPE) and sym.name and \
                    0 < sym.shndx < len(sections):
                offsets.setdefault(sections[sym.shndx].name, {})[sym.name] = sym.value
        return btf.fixed(sizes, offsets)

    def _btf_ext(self) -> BtfExt | None:
        sec = self.raw.section(".BTF.ext")
        if sec is None or self.btf is None:
            return None
        return parse_btf_ext(sec.data, self.btf)

    def _slots_init(self) -> dict[str, dict[int, str]]:
        sec = self.raw.section(".maps")
        return initial_slots(self.raw, sec, self.btf) if sec else {}

    def _license(self) -> str:
        sec = self.raw.section("license")
        return sec.data.split(b"\0", 1)[0].decode("utf-8", "replace") if sec else ""

    def _version(self) -> int | None:
        sec = self.raw.section("version")
        if sec is None or len(sec.data) < 4:
            return None
        return struct.unpack_from("<I", sec.data)[0]

    # --- maps -----------------------------------------------------------------------------
    def _maps(self) -> list[FoundMap]:
        found: list[FoundMap] = []
        for sec in self.raw.sections:
            if sec.name == "maps" or sec.name.startswith("maps/"):
                found += legacy_maps(self.raw, sec)
        for sec in self.raw.sections:
            if sec.name == ".maps":
                found += btf_maps(self.raw, sec, self.btf)
        found += data_maps(self.raw)
        kconfig = kconfig_map(self.externs)
        if kconfig is not None:
            found.append(FoundMap(kconfig, -1, 0))
        for sec in self.raw.sections:
            if sec.name in STRUCT_OPS_SECTIONS:
                found += struct_ops_maps(sec, self.btf)
        names = [f.map.name for f in found]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ElfError(f"duplicate map name {sorted(dup)[0]!r}")
        return found

    def _map_for(self, sym: Symbol, offset: int) -> int | None:
        """Index of the map defined at (sym's section, offset), None when none is."""
        for i, f in enumerate(self.found_maps):
            if f.section == sym.shndx and f.offset == offset and f.map.kind in (
                    "legacy", "btf", "struct_ops"):
                return i
        return None

    # --- functions -------------------------------------------------------------------------
    def _functions(self) -> list[_Func]:
        out: list[_Func] = []
        for sec in self.raw.sections:
            if not sec.executable or sec.size == 0:
                continue
            if sec.size % 8:
                raise ElfError(f"section {sec.name!r}: size {sec.size} is not a multiple of 8")
            syms = [s for s in self.raw.symbols if s.shndx == sec.index and s.type == STT_FUNC]
            syms.sort(key=lambda s: (s.value, s.index))
            funcs = []
            for i, sym in enumerate(syms):
                if sym.value % 8 or sym.value >= sec.size:
                    raise ElfError(f"function {sym.name!r}: bad symbol offset {sym.value} in "
                                   f"section {sec.name!r} ({sec.size} bytes)")
                size = sym.size
                if size == 0:  # hand-written code: runs to the next function or the end
                    size = (syms[i + 1].value if i + 1 < len(syms) else sec.size) - sym.value
                if size % 8 or size <= 0 or sym.value + size > sec.size:
                    raise ElfError(f"function {sym.name!r}: bad symbol size {sym.size} at offset "
                                   f"{sym.value} in section {sec.name!r} ({sec.size} bytes)")
                funcs.append(_Func(sec, sym.name or f"{sec.name}@{sym.value}", sym.value // 8,
                                   (sym.value + size) // 8, sym.bind in (STB_GLOBAL, STB_WEAK)))
            for a, b in zip(funcs, funcs[1:]):
                if b.start < a.end:
                    raise ElfError(f"overlapping functions {a.name!r} and {b.name!r} in section "
                                   f"{sec.name!r}")
            if not funcs:
                # Old toolchains emitted no function symbols: the section is one program,
                # named by a global symbol at its start when there is one.
                label = next((s.name for s in self.raw.symbols if s.shndx == sec.index
                              and s.value == 0 and s.name and s.bind == STB_GLOBAL), sec.name)
                funcs.append(_Func(sec, label, 0, sec.size // 8, True, synthetic=True))
            out += funcs
        return out

    def _func_at(self, sec: Section, slot: int) -> _Func | None:
        """The function of `sec` containing `slot` (functions are sorted and disjoint)."""
        if self._by_section is None:
            self._by_section = {}
            for f in self.funcs:
                self._by_section.setdefault(f.section.index, []).append(f)
        funcs = self._by_section.get(sec.index, [])
        i = bisect.bisect_right([f.start for f in funcs], slot) - 1
        if i >= 0 and funcs[i].start <= slot < funcs[i].end:
            return funcs[i]
        return None

    def _reloc_table(self, sec: Section, rels: list[Reloc]) -> dict[int, Reloc]:
        table: dict[int, Reloc] = {}
        for rel in rels:
            if rel.offset % 8 or rel.offset + 8 > sec.size:
                raise ElfError(f"relocation at offset {rel.offset} outside the instructions of "
                               f"section {sec.name!r}")
            table[rel.offset // 8] = rel
        return table

    # --- programs --------------------------------------------------------------------------
    def _slots(self, sec: Section, func: _Func) -> list[list[int]]:
        """The function's raw slots as [opcode, regs, off, imm] lists, for patching."""
        return [list(_SLOT.unpack_from(sec.data, i * 8)) for i in range(func.start, func.end)]

    def _program(self, entry: _Func) -> Program:
        # Depth-first, like libbpf: a callee is appended when its first call is met, and its
        # own calls are handled before the caller's scan resumes.
        order: list[_Func] = []
        placed: dict[tuple[int, int], int] = {}     # (section, start) -> new pc
        bodies: list[list[list[int]]] = []
        targets: list[tuple[int, int, _Func, int]] = []  # (func#, slot, callee, offset in callee)
        end_pc = 0

        def place(func: _Func) -> None:
            nonlocal end_pc
            if end_pc + func.end - func.start > MAX_SLOTS:
                raise ElfError(f"program {entry.name!r} in section {entry.section.name!r}: "
                               f"more than {MAX_SLOTS} instruction slots (the kernel's limit)")
            placed[(func.section.index, func.start)] = end_pc
            order.append(func)
            bodies.append(self._slots(func.section, func))
            end_pc += func.end - func.start

        place(entry)
        stack = [(0, 0)]
        while stack:
            fi, j = stack.pop()
            func, body = order[fi], bodies[fi]
            while j < len(body):
                slot = body[j]
                callee = self._patch(func, func.start + j, slot, body, j)
                step = 2 if slot[0] == OPCODE_LDDW else 1
                if callee is None:
                    j += step
                    continue
                target, delta = callee
                targets.append((fi, j, target, delta))
                j += step
                if (target.section.index, target.start) not in placed:
                    place(target)
                    stack.append((fi, j))
                    stack.append((len(order) - 1, 0))
                    break
        starts = [placed[(f.section.index, f.start)] for f in order]
        for fi, j, target, delta in targets:
            here = starts[fi] + j
            bodies[fi][j][3] = placed[(target.section.index, target.start)] + delta - (here + 1)
        core_results = self._apply_core(order, starts, bodies)
        blob = b"".join(_SLOT.pack(*slot) for body in bodies for slot in body)
        try:
            insns = decode(blob)
        except BpfcheckError as exc:
            raise ElfError(f"program {entry.name!r} in section {entry.section.name!r}: {exc}") \
                from None
        functions = [Function(f.name, s, s + (f.end - f.start)) for f, s in zip(order, starts)]
        line_info, core = self._debug_info(order, starts)
        return Program(insns, name=entry.name, section=entry.section.name,
                       type=program_type_for_section(entry.section.name), maps=self.maps,
                       functions=functions, line_info=line_info, file=self.path, btf=self.btf,
                       core_relocs=core, core_results=core_results,
                       core_target=self.core_target if self.relocator else "")

    def _apply_core(self, order: list[_Func], starts: list[int],
                    bodies: list[list[list[int]]]) -> list[CoreResult]:
        """Apply the CO-RE relocations of the program's functions to their slots, as libbpf
        does before loading (nothing when no target BTF is known)."""
        results: list[CoreResult] = []
        if self.relocator is None or self.btf_ext is None:
            return results
        for func, start, body in zip(order, starts, bodies):
            for rel in self.btf_ext.core_relocs.get(func.section.name, ()):
                if func.start <= rel.pc < func.end:
                    moved = dataclasses.replace(rel, pc=rel.pc - func.start + start)
                    res = self.relocator.resolve(moved)
                    results.append(patch(body, rel.pc - func.start, res, moved))
        return results

    def _patch(self, func: _Func, slot_index: int, slot: list[int], body: list[list[int]],
               j: int) -> tuple[_Func, int] | None:
        """Apply the relocation of one slot in place; return (callee, offset) for a local call
        or a function address whose pc-relative imm must be fixed after layout."""
        sec = func.section
        rel = self.relocs.get(sec.index, {}).get(slot_index)
        if rel is not None and rel.type == R_BPF_NONE:
            rel = None
        opcode, regs, _off, imm = slot
        src = regs >> 4
        is_call = opcode == OPCODE_CALL
        where = f"{func.name!r}+{(slot_index - func.start)} in section {sec.name!r}"
        if rel is None:
            if is_call and src == CALL_LOCAL:
                return self._callee(sec, slot_index + imm + 1, where)
            return None
        sym = self.raw.symbols[rel.sym]
        # Like libbpf, the instruction decides what a relocation means, not its type
        # (R_BPF_64_64 on lddw and R_BPF_64_32 on calls with today's LLVM).
        if opcode == OPCODE_LDDW:
            if j + 1 >= len(body):
                raise ElfError(f"relocated lddw cut in half at {where}")
            return self._patch_lddw(sym, slot, body[j + 1], where)
        if is_call:
            if sym.is_extern:
                ext = next((e for e in self.externs if e.name == sym.name), None)
                slot[1] = (regs & 0x0F) | (CALL_KFUNC << 4)
                slot[3] = ext.btf_id if ext else 0
                return None
            target_sec = self._section_of(sym, where)
            if not target_sec.executable:
                raise ElfError(f"call at {where} to {sym.name!r}, which is not code")
            if src != CALL_LOCAL:
                raise ElfError(f"relocated call at {where} is not a bpf-to-bpf call")
            if sym.value % 8:
                raise ElfError(f"call at {where} to misaligned symbol {sym.name!r}")
            return self._callee(target_sec, sym.value // 8 + imm + 1, where)
        raise ElfError(f"relocation to {sym.name or '#' + str(rel.sym)!r} at {where} applies "
                       f"to an instruction that is neither lddw nor call (opcode {opcode:#04x})")

    def _section_of(self, sym: Symbol, where: str) -> Section:
        if not 0 < sym.shndx < len(self.raw.sections):
            raise ElfError(f"relocation at {where} to symbol {sym.name!r} in no section")
        return self.raw.sections[sym.shndx]

    def _callee(self, sec: Section, slot: int, where: str) -> tuple[_Func, int]:
        func = self._func_at(sec, slot)
        if func is None:
            raise ElfError(f"call or function address at {where} targets instruction {slot} of "
                           f"section {sec.name!r}, which is in no function")
        return func, slot - func.start

    def _patch_lddw(self, sym: Symbol, first: list[int], second: list[int],
                    where: str) -> tuple[_Func, int] | None:
        regs, imm = first[1], first[3]
        if sym.is_extern:
            ext = next(e for e in self.externs if e.name == sym.name)
            if ext.kind == "kconfig":
                index = next(i for i, m in enumerate(self.maps) if m.kind == "kconfig")
                first[1], first[3] = (regs & 0x0F) | (LDDW_MAP_IDX_VALUE << 4), index
                second[3] = ext.offset
            else:
                first[1], first[3], second[3] = (regs & 0x0F) | (LDDW_VARIABLE << 4), ext.btf_id, 0
            return None
        sec = self._section_of(sym, where)
        if sec.executable:  # address of a function (callback): pc-relative like a call
            if (sym.value + imm) % 8:
                raise ElfError(f"function address at {where} is not instruction-aligned")
            first[1] = (regs & 0x0F) | (LDDW_CODE << 4)
            second[3] = 0
            return self._callee(sec, (sym.value + imm) // 8, where)
        index = self._map_for(sym, sym.value + imm)
        if index is not None:
            first[1], first[3], second[3] = (regs & 0x0F) | (LDDW_MAP_IDX << 4), index, 0
            return None
        if data_section_kind(sec) is not None:
            index = next((i for i, f in enumerate(self.found_maps) if f.section == sec.index),
                         None)
            if index is None:
                raise ElfError(f"lddw at {where} refers to empty section {sec.name!r}")
            offset = imm + sym.value
            first[1], first[3] = (regs & 0x0F) | (LDDW_MAP_IDX_VALUE << 4), index
            second[3] = ((offset + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            return None
        if sec.name == ".maps" or sec.name == "maps" or sec.name.startswith("maps/"):
            raise ElfError(f"lddw at {where} refers to offset {sym.value + imm} of {sec.name!r}, "
                           f"where no map is defined")
        raise ElfError(f"lddw at {where} refers to {sym.name or sec.name!r} in section "
                       f"{sec.name!r}, which holds neither maps nor global data")

    def _debug_info(self, order: list[_Func], starts: list[int]
                    ) -> tuple[dict[int, LineInfo], list[CoreReloc]]:
        line_info: dict[int, LineInfo] = {}
        core: list[CoreReloc] = []
        if self.btf_ext is None:
            return line_info, core
        for func, start in zip(order, starts):
            shift = start - func.start
            for rec in self.btf_ext.line_info.get(func.section.name, ()):
                if func.start <= rec.pc < func.end:
                    line_info[rec.pc + shift] = LineInfo(rec.file, rec.line, rec.column, rec.text)
            for rel in self.btf_ext.core_relocs.get(func.section.name, ()):
                if func.start <= rel.pc < func.end:
                    core.append(dataclasses.replace(rel, pc=rel.pc + shift))
        return line_info, core
