"""The AOT engine: an eBPF program translated into portable C, compiled by the system C
compiler into a shared library, and run through ctypes on the runtime's memory model.

This is the native-image path of eBPF for Windows (bpf2c) done our way. `translate(program)`
writes readable C: one C function per eBPF function (the entry and each bpf-to-bpf callee),
the eBPF registers as `uint64_t` locals, one C label per basic block, each instruction under a
comment with its assembly. Nothing of a particular run is baked in, so one library serves every
machine and the build is cached by the hash of the source: helpers are called through a table
of function pointers and map addresses come from a table of values, both in the `bpf_aot_env`
struct passed to the entry point (`uint64_t bpf_prog(uint64_t r1, uint64_t r2, const struct
bpf_aot_env *env)`). Exact eBPF semantics are spelled out rather than left to C: x / 0 = 0,
x % 0 = x, INT_MIN / -1 wraps, shift counts are masked, sign extension goes through the signed
types, atomics use the `__atomic` builtins, byte swaps `__builtin_bswapNN`, and memory is
accessed with `__builtin_memcpy` (no alignment or aliasing assumptions).

Control runs past a function's last instruction as on the interpreter: the code is one flat
sequence, so a function whose last instruction is not `exit` or `goto` continues in the next
function's C function with the same registers and frame, and past the program's last
instruction the run traps ("fell off the end of the program"). What the interpreter traps on
only when it runs it (a jump outside the program, a write to r10) traps the same way, through
the pseudo-helper `runtime.vm.TRAP_HELPER` that the native JIT uses too, so dead code is
compiled, not refused; the verifier, like the kernel, still refuses such programs (cfg.graph).
Refused (ProgramError): kfunc calls, lddw of kernel variables, and jumps that leave their
function for another one or land inside an lddw.

`AotMachine` runs the result exactly as the native JIT runs its code: it is a `NativeMachine`
(shared stack region, error flag cell, helper callbacks, tail calls, packets below 4 GiB for
Linux contexts) whose compiled programs come from here. Like the JIT it runs programs the
verifier accepted: a wild pointer is a wild pointer.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable

from cfg import isa
from cfg.errors import BpfcheckError, ProgramError
from cfg.graph import functions as program_functions
from cfg.program import Program

from runtime.jit.native import NativeMachine
from runtime.memory import M64
from runtime.vm import FELL_OFF, TRAP_HELPER, TRAPS, Result, run_time_trap, runs_past_end

ENTRY = "bpf_prog"
CFLAGS = ("-O2", "-shared", "-fPIC", "-std=gnu11", "-w")
SUB_FRAME = 512

_PRELUDE = r"""#include <stdint.h>

typedef uint64_t (*bpf_helper_fn)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);

/* What the program reaches outside itself, filled in by the caller (runtime/aot.py). */
struct bpf_aot_env {
    uint64_t (*entry)(uint64_t, uint64_t, const struct bpf_aot_env *); /* this program */
    uint64_t stack_top;        /* top of frame 0 of 8 x 512 bytes; frame k is 512 k lower */
    uint64_t *error;           /* set by a failing callback: return at once */
    uint64_t *may_goto;        /* may_goto budget */
    uint64_t (*tail_call)(uint64_t ctx, uint64_t map, uint64_t index); /* -> env or 0 */
    uint64_t (*ld_packet)(uint64_t ctx, uint64_t offset, uint64_t size);
    bpf_helper_fn callx_helper;  /* calls the helper whose number is in *callx_cell */
    uint64_t *callx_cell;
    const uint64_t *lddw;      /* map / global addresses, in the order of the lddw below */
    const bpf_helper_fn *helpers; /* in the order of the helper list below */
    const uint64_t *args;      /* r1, r2 for bpf_prog_enter */
};

static inline uint8_t ld8(uint64_t a) { uint8_t v; __builtin_memcpy(&v, (const void *)(uintptr_t)a, 1); return v; }
static inline uint16_t ld16(uint64_t a) { uint16_t v; __builtin_memcpy(&v, (const void *)(uintptr_t)a, 2); return v; }
static inline uint32_t ld32(uint64_t a) { uint32_t v; __builtin_memcpy(&v, (const void *)(uintptr_t)a, 4); return v; }
static inline uint64_t ld64(uint64_t a) { uint64_t v; __builtin_memcpy(&v, (const void *)(uintptr_t)a, 8); return v; }
static inline void st8(uint64_t a, uint8_t v) { __builtin_memcpy((void *)(uintptr_t)a, &v, 1); }
static inline void st16(uint64_t a, uint16_t v) { __builtin_memcpy((void *)(uintptr_t)a, &v, 2); }
static inline void st32(uint64_t a, uint32_t v) { __builtin_memcpy((void *)(uintptr_t)a, &v, 4); }
static inline void st64(uint64_t a, uint64_t v) { __builtin_memcpy((void *)(uintptr_t)a, &v, 8); }

/* eBPF division: x / 0 = 0, x % 0 = x, INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0. */
static inline uint64_t sdiv64(uint64_t a, uint64_t b) {
    if (!b) return 0;
    if ((int64_t)b == -1) return -a;
    return (uint64_t)((int64_t)a / (int64_t)b);
}
static inline uint64_t smod64(uint64_t a, uint64_t b) {
    if (!b) return a;
    if ((int64_t)b == -1) return 0;
    return (uint64_t)((int64_t)a % (int64_t)b);
}
static inline uint32_t sdiv32(uint32_t a, uint32_t b) {
    if (!b) return 0;
    if ((int32_t)b == -1) return -a;
    return (uint32_t)((int32_t)a / (int32_t)b);
}
static inline uint32_t smod32(uint32_t a, uint32_t b) {
    if (!b) return a;
    if ((int32_t)b == -1) return 0;
    return (uint32_t)((int32_t)a % (int32_t)b);
}
"""

_BINOP = {"add": "+", "sub": "-", "mul": "*", "or": "|", "and": "&", "xor": "^"}
_CMP = {"jeq": "==", "jne": "!=", "jgt": ">", "jge": ">=", "jlt": "<", "jle": "<=",
        "jsgt": ">", "jsge": ">=", "jslt": "<", "jsle": "<="}
_ATOMIC_FN = {"add": "__atomic_fetch_add", "or": "__atomic_fetch_or",
              "and": "__atomic_fetch_and", "xor": "__atomic_fetch_xor"}
_UINT = {1: "uint8_t", 2: "uint16_t", 4: "uint32_t", 8: "uint64_t"}
_INT = {1: "int8_t", 2: "int16_t", 4: "int32_t", 8: "int64_t"}


@dataclass(frozen=True)
class AotSource:
    """The C translation of one program: the text, its exported entry symbol, the helper
    numbers in the order of `env->helpers` and the map-referencing lddw instructions in the
    order of `env->lddw`."""

    text: str
    entry: str
    helpers: tuple[int, ...]
    lddw: tuple[isa.Insn, ...]

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:24]


def _u64(v: int) -> str:
    v &= M64
    return str(v) if v < 1 << 16 else f"UINT64_C({v:#x})"   # small ones fit any int type


def _u32(v: int) -> str:
    v &= 0xFFFFFFFF
    return str(v) if v < 1 << 16 else f"UINT32_C({v:#x})"


def _s64(v: int) -> str:
    v &= M64
    v = v - (1 << 64) if v >> 63 else v
    return "INT64_MIN" if v == -(1 << 63) else f"INT64_C({v})"


def _s32(v: int) -> str:
    v &= 0xFFFFFFFF
    v = v - (1 << 32) if v >> 31 else v
    return "INT32_MIN" if v == -(1 << 31) else f"INT32_C({v})"


def _addr(reg: str, off: int) -> str:
    return reg if off == 0 else (f"{reg} + {off}" if off > 0 else f"{reg} - {-off}")


class _Translator:
    """Writes the C of one program (see the module docstring)."""

    def __init__(self, program: Program, tail_call_helper: int) -> None:
        self.p = program
        self.tail_id = tail_call_helper
        self.functions = program_functions(program)
        self.fn_names = {f.start: f"fn_{f.start}" for f in self.functions}
        self.helpers: list[int] = []
        self.lddw: list[isa.Insn] = []
        self.lines: list[str] = []
        try:
            from cfg.asm import format_insn
            self._fmt: Callable | None = format_insn
        except ImportError:  # pragma: no cover - the assembler is part of cfg
            self._fmt = None

    def emit(self, text: str, depth: int = 1) -> None:
        self.lines.append("    " * depth + text)

    def helper_slot(self, number: int) -> int:
        if number not in self.helpers:
            self.helpers.append(number)
        return self.helpers.index(number)

    # -- structure ------------------------------------------------------------------------
    def translate(self) -> AotSource:
        params = ", ".join(f"uint64_t r{i}" for i in range(11))
        for f in self.functions:
            self.lines.append(f"static uint64_t {self.fn_names[f.start]}({params}, "
                              f"const struct bpf_aot_env *env);")
        self.lines.append("")
        for f in self.functions:
            self.function(f)
        main = self.fn_names[self.functions[0].start]
        self.lines += [
            f"uint64_t {ENTRY}(uint64_t r1, uint64_t r2, const struct bpf_aot_env *env)",
            "{",
            f"    return {main}(0, r1, r2, 0, 0, 0, 0, 0, 0, 0, env->stack_top, env);",
            "}", "",
            "/* The same on env->args: one argument for the host to pass per run. */",
            f"uint64_t {ENTRY}_enter(const struct bpf_aot_env *env)",
            "{",
            f"    return {ENTRY}(env->args[0], env->args[1], env);",
            "}", ""]
        header = [f"/* {self.p.name or 'program'}"
                  + (f" (section {self.p.section})" if self.p.section else "")
                  + ": eBPF translated to C by bpfcheck (runtime/aot.py).",
                  f" * helpers (env->helpers[i]): {list(self.helpers)}",
                  f" * map references (env->lddw[i]): {len(self.lddw)} */", ""]
        text = "\n".join(header) + _PRELUDE + "\n" + "\n".join(self.lines)
        return AotSource(text, ENTRY, tuple(self.helpers), tuple(self.lddw))

    def function(self, f) -> None:
        items = [(pc, insn) for pc, insn in self.p.items() if f.start <= pc < f.end]
        self.in_main = f is self.functions[0]
        self.start, self.end = f.start, f.end
        targets = set()
        leaders = {f.start}
        for pc, insn in items:
            spec = isa.check(insn, pc)
            if spec.kind in ("ja", "jcond", "may_goto"):
                dest = pc + 1 + insn.jump_offset
                if self.inside_program(dest):
                    targets.add(self.target(pc, dest))
                    leaders.add(dest)
                leaders.add(pc + insn.slots)
            elif spec.kind in ("exit", "call", "callx"):
                leaders.add(pc + insn.slots)
        self.lines.append(f"/* function {f.name}: pcs [{f.start}, {f.end}) */")
        self.lines.append(f"static uint64_t {self.fn_names[f.start]}("
                          + ", ".join(f"uint64_t r{i}" for i in range(11))
                          + ", const struct bpf_aot_env *env)")
        self.lines.append("{")
        for pc, insn in items:
            if pc in targets or (pc in leaders and pc != f.start):
                self.lines.append(f"L_{pc}:;" if pc in targets else f"/* block {pc} */")
            if self._fmt is not None:
                try:
                    self.emit(f"/* {pc}: {self._fmt(insn, pc)} */")
                except Exception:  # noqa: BLE001 - the comment is only a courtesy
                    pass
            self.insn(pc, insn)
        if f.end in targets:
            self.lines.append(f"L_{f.end}:;")
        if runs_past_end(f.end, items):
            self.past_the_end(f)
        self.lines.append("}")
        self.lines.append("")

    def trap(self, pc: int, number: int, *values: int) -> None:
        """Fail the run here with the interpreter's TRAPS[number] (the values fill its text)."""
        slot = self.helper_slot(TRAP_HELPER)
        args = ", ".join(str(v) for v in (pc, number, *values, 0, 0, 0)[:5])
        self.emit(f"env->helpers[{slot}]({args});  /* traps: {TRAPS[number].format(*values)} */")
        self.emit("return r0;")

    def inside_program(self, dest: int) -> bool:
        return 0 <= dest < self.p.end_pc

    def past_the_end(self, f) -> None:
        """Control that runs past `f`'s last instruction, as on the interpreter: into the next
        function's first instruction in the same frame, or a trap after the program's last."""
        following = self.fn_names.get(f.end)
        if following is not None:
            self.emit("/* past the end: on into the next function, same frame */")
            self.emit(f"return {following}({', '.join(f'r{i}' for i in range(11))}, env);")
            return
        self.trap(f.end, FELL_OFF)

    def target(self, pc: int, dest: int) -> int:
        # the function's end is a target too: a jump there runs past the end (past_the_end)
        if dest != self.end and (not self.start <= dest < self.end
                                 or self.p.index_of(dest) is None):
            raise ProgramError(f"jump to {dest}, which is no instruction of this function", pc)
        return dest

    # -- instructions --------------------------------------------------------------------
    def insn(self, pc: int, insn: isa.Insn) -> None:
        spec = isa.check(insn, pc)
        trap = run_time_trap(self.p, pc, insn)
        if trap is not None:
            self.trap(pc, trap[0], *trap[1])
            return
        getattr(self, f"k_{spec.kind}")(pc, insn, spec)

    def _operand(self, insn: isa.Insn, spec: isa.Spec) -> str:
        if spec.uses_src_reg:
            return f"r{insn.src}" if spec.width == 64 else f"(uint32_t)r{insn.src}"
        return _u64(insn.imm) if spec.width == 64 else _u32(insn.imm)

    def k_alu(self, pc, insn, spec) -> None:
        d, b, op = f"r{insn.dst}", self._operand(insn, spec), spec.op
        if op in ("lsh", "rsh", "arsh") and not spec.uses_src_reg:
            b = str(insn.imm & (spec.width - 1))   # the count is masked: say it once
        if spec.width == 64 and (op in _BINOP or (op in ("lsh", "rsh")
                                                  and not spec.uses_src_reg)):
            self.emit(f"{d} {_BINOP.get(op) or ('<<' if op == 'lsh' else '>>')}= {b};")
            return
        if spec.width == 64:
            expr = {"lsh": f"{d} << ({b} & 63)", "rsh": f"{d} >> ({b} & 63)",
                    "arsh": f"(uint64_t)((int64_t){d} >> ({b} & 63))",
                    "div": f"{b} ? {d} / {b} : 0", "mod": f"{b} ? {d} % {b} : {d}",
                    "sdiv": f"sdiv64({d}, {b})", "smod": f"smod64({d}, {b})"}.get(op)
            if expr is None:
                expr = f"{d} {_BINOP[op]} {b}"
        else:
            a = f"(uint32_t){d}"
            expr = {"lsh": f"(uint32_t)({a} << ({b} & 31))", "rsh": f"{a} >> ({b} & 31)",
                    "arsh": f"(uint32_t)((int32_t){a} >> ({b} & 31))",
                    "div": f"{b} ? {a} / {b} : 0", "mod": f"{b} ? {a} % {b} : {a}",
                    "sdiv": f"sdiv32({a}, {b})", "smod": f"smod32({a}, {b})"}.get(op)
            if expr is None:
                expr = f"(uint32_t)({a} {_BINOP[op]} {b})"
        self.emit(f"{d} = {expr};")

    def k_mov(self, pc, insn, spec) -> None:
        self.emit(f"r{insn.dst} = {self._operand(insn, spec)};")

    def k_neg(self, pc, insn, spec) -> None:
        d = f"r{insn.dst}"
        self.emit(f"{d} = -{d};" if spec.width == 64 else f"{d} = (uint32_t)-(uint32_t){d};")

    def k_movsx(self, pc, insn, spec) -> None:
        narrow = _INT[spec.size]
        wide = "(uint64_t)(int64_t)" if spec.width == 64 else "(uint32_t)(int32_t)"
        self.emit(f"r{insn.dst} = {wide}({narrow})r{insn.src};")

    def k_end(self, pc, insn, spec) -> None:
        d = f"r{insn.dst}"
        if spec.op == "le":
            if spec.size < 8:
                self.emit(f"{d} = ({_UINT[spec.size]}){d};")
            return
        self.k_bswap(pc, insn, spec)

    def k_bswap(self, pc, insn, spec) -> None:
        d, bits = f"r{insn.dst}", spec.size * 8
        self.emit(f"{d} = __builtin_bswap{bits}(({_UINT[spec.size]}){d});")

    def k_ldx(self, pc, insn, spec) -> None:
        self.emit(f"r{insn.dst} = ld{spec.size * 8}({_addr(f'r{insn.src}', insn.off)});")

    def k_ldxsx(self, pc, insn, spec) -> None:
        self.emit(f"r{insn.dst} = (uint64_t)(int64_t)({_INT[spec.size]})"
                  f"ld{spec.size * 8}({_addr(f'r{insn.src}', insn.off)});")

    def k_st(self, pc, insn, spec) -> None:
        value = insn.imm & ((1 << (8 * spec.size)) - 1)
        self.emit(f"st{spec.size * 8}({_addr(f'r{insn.dst}', insn.off)}, {value:#x});")

    def k_stx(self, pc, insn, spec) -> None:
        self.emit(f"st{spec.size * 8}({_addr(f'r{insn.dst}', insn.off)}, "
                  f"({_UINT[spec.size]})r{insn.src});")

    def k_atomic(self, pc, insn, spec) -> None:
        t = _UINT[spec.size]
        ptr = f"({t} *)(uintptr_t)({_addr(f'r{insn.dst}', insn.off)})"
        s, op = f"r{insn.src}", spec.op
        if op == "cmpxchg":
            self.emit(f"{{ {t} expected = ({t})r0; __atomic_compare_exchange_n({ptr}, &expected, "
                      f"({t}){s}, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); r0 = expected; }}")
        elif op == "xchg":
            self.emit(f"{s} = __atomic_exchange_n({ptr}, ({t}){s}, __ATOMIC_SEQ_CST);")
        elif op.startswith("fetch_"):
            self.emit(f"{s} = {_ATOMIC_FN[op[6:]]}({ptr}, ({t}){s}, __ATOMIC_SEQ_CST);")
        else:
            self.emit(f"{_ATOMIC_FN[op]}({ptr}, ({t}){s}, __ATOMIC_SEQ_CST);")

    def k_lddw(self, pc, insn, spec) -> None:
        d = f"r{insn.dst}"
        if insn.src == isa.LDDW_IMM64:
            self.emit(f"{d} = {_u64(insn.imm64)};")
        elif insn.src == isa.LDDW_CODE:
            target = pc + 1 + insn.imm
            if target not in self.fn_names:
                raise ProgramError(f"lddw code address {target} is not a function", pc)
            self.emit(f"{d} = (uint64_t)(uintptr_t)&{self.fn_names[target]};")
        elif insn.src == isa.LDDW_VARIABLE:
            raise ProgramError("lddw of a kernel variable (BTF id) cannot be compiled", pc)
        else:
            self.lddw.append(insn)
            self.emit(f"{d} = env->lddw[{len(self.lddw) - 1}];")

    def _bail(self) -> None:
        self.emit("if (*env->error) return 0;")

    def _ld_packet(self, insn, spec, offset: str) -> None:
        self.emit(f"r0 = env->ld_packet(r6, {offset}, {spec.size});")
        self._bail()

    def k_ldabs(self, pc, insn, spec) -> None:
        self._ld_packet(insn, spec, _u32(insn.imm))

    def k_ldind(self, pc, insn, spec) -> None:
        self._ld_packet(insn, spec, f"(uint32_t)(r{insn.src} + {_u32(insn.imm)})")

    def k_ja(self, pc, insn, spec) -> None:
        self.emit(f"goto L_{self.target(pc, pc + 1 + insn.jump_offset)};")

    def k_may_goto(self, pc, insn, spec) -> None:
        t = self.target(pc, pc + 1 + insn.jump_offset)
        self.emit(f"if (*env->may_goto == 0) goto L_{t};")
        self.emit("(*env->may_goto)--;")

    def k_jcond(self, pc, insn, spec) -> None:
        op, w = spec.op, spec.width
        signed = op.startswith("js") and op != "jset"
        if w == 64:
            a = f"(int64_t)r{insn.dst}" if signed else f"r{insn.dst}"
            if spec.uses_src_reg:
                b = f"(int64_t)r{insn.src}" if signed else f"r{insn.src}"
            else:
                b = _s64(insn.imm) if signed else _u64(insn.imm)
        else:
            a = f"(int32_t)(uint32_t)r{insn.dst}" if signed else f"(uint32_t)r{insn.dst}"
            if spec.uses_src_reg:
                b = f"(int32_t)(uint32_t)r{insn.src}" if signed else f"(uint32_t)r{insn.src}"
            else:
                b = _s32(insn.imm) if signed else _u32(insn.imm)
        cond = f"({a} & {b}) != 0" if op == "jset" else f"{a} {_CMP[op]} {b}"
        self.emit(f"if ({cond}) goto L_{self.target(pc, pc + 1 + insn.jump_offset)};")

    def _call_function(self, name: str) -> None:
        args = ", ".join(f"r{i}" for i in range(10))
        self.emit(f"r0 = {name}({args}, r10 - {SUB_FRAME}, env);")
        self._bail()

    def k_call(self, pc, insn, spec) -> None:
        if spec.op == "local":
            target = pc + 1 + insn.imm
            if target not in self.fn_names:
                raise ProgramError(f"call to {target}, which is not a function", pc)
            self._call_function(self.fn_names[target])
            return
        if spec.op == "kfunc":
            raise ProgramError(f"kfunc call (BTF id {insn.imm}) cannot be compiled", pc)
        if insn.imm == self.tail_id:
            self.emit("{ /* tail call: continue in the target program, or fail with r0 < 0 */")
            self.emit("uint64_t next = env->tail_call(r1, r2, r3);", 2)
            self.emit("if (*env->error) return 0;", 2)
            if self.in_main:
                self.emit("if (next) { const struct bpf_aot_env *t = "
                          "(const struct bpf_aot_env *)(uintptr_t)next; "
                          "return t->entry(r1, r2, t); }", 2)
            self.emit("r0 = (uint64_t)-2;", 2)
            self.emit("}")
            return
        slot = self.helper_slot(insn.imm)
        self.emit(f"r0 = env->helpers[{slot}](r1, r2, r3, r4, r5);  /* helper {insn.imm} */")
        self._bail()

    def k_callx(self, pc, insn, spec) -> None:
        v = f"r{insn.dst}"
        first = True
        for start, name in self.fn_names.items():
            self.emit(f"{'' if first else '} else '}if ({v} == (uint64_t)(uintptr_t)&{name}) {{")
            self._call_function(name)
            first = False
        self.emit("} else {")
        self.emit(f"*env->callx_cell = {v};", 2)
        self.emit("r0 = env->callx_helper(r1, r2, r3, r4, r5);", 2)
        self.emit("if (*env->error) return 0;", 2)
        self.emit("}")

    def k_exit(self, pc, insn, spec) -> None:
        self.emit("return r0;")


def translate(program: Program, tail_call_helper: int = 12) -> AotSource:
    """The C translation of `program` (ProgramError when it cannot be compiled).
    `tail_call_helper`: the number of bpf_tail_call (Linux 12, eBPF for Windows 5)."""
    if not program.insns:
        raise ProgramError("empty program")
    return _Translator(program, tail_call_helper).translate()


# --- building ------------------------------------------------------------------------------
def compiler() -> list[str]:
    """The C compiler command: $CC, else cc, gcc or clang on PATH (BpfcheckError if none)."""
    cc = os.environ.get("CC")
    if cc and shutil.which(cc.split()[0]):
        return cc.split()
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return [path]
    raise BpfcheckError("the AOT engine needs a C compiler: set $CC or install cc, gcc or "
                        "clang")


def available() -> tuple[bool, str]:
    """Whether this host can run the AOT engine (a C compiler and a little-endian CPU)."""
    if sys.byteorder != "little":
        return False, "the AOT engine runs eBPF's little-endian memory model on little-endian hosts"
    try:
        compiler()
    except BpfcheckError as exc:
        return False, str(exc)
    return True, ""


def cache_dir() -> pathlib.Path:
    """Where built libraries are kept: $BPFCHECK_AOT_CACHE or ~/.cache/bpfcheck/aot."""
    env = os.environ.get("BPFCHECK_AOT_CACHE")
    base = pathlib.Path(env) if env else pathlib.Path(
        os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "bpfcheck" / "aot"
    return base


def build(source: AotSource, directory: pathlib.Path | None = None) -> pathlib.Path:
    """The shared library of `source` (built with `cc -O2 -shared -fPIC`, cached by hash)."""
    cc = compiler()
    key = hashlib.sha256((source.text + "\0" + " ".join(cc + list(CFLAGS))).encode())
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    lib = directory / f"bpf_{key.hexdigest()[:32]}.so"
    if lib.exists():
        return lib
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        c_file = pathlib.Path(tmp) / "prog.c"
        c_file.write_text(source.text)
        out = pathlib.Path(tmp) / "prog.so"
        proc = subprocess.run(cc + list(CFLAGS) + ["-o", str(out), str(c_file)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["no message"])[0]
            raise BpfcheckError(f"the C compiler failed on the AOT translation: {first}")
        os.replace(out, lib)
    return lib


class _Env(ctypes.Structure):
    _fields_ = [(name, ctypes.c_void_p) for name in (
        "entry", "stack_top", "error", "may_goto", "tail_call", "ld_packet", "callx_helper",
        "callx_cell", "lddw", "helpers", "args")]


# void * arguments: ctypes converts them several times faster than c_uint64 ones
_ENTRY_SIGNATURE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p,
                                    ctypes.c_void_p)
_ENTER_SIGNATURE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)


class AotProgram:
    """A compiled program bound to one machine's links; call it with (r1, r2), or `enter()`
    on the r1, r2 at `links.args_cell`. `entry_address` is the address of its `bpf_aot_env`
    (what tail calls continue with)."""

    def __init__(self, source: AotSource, links, directory: pathlib.Path | None = None) -> None:
        self.source = source
        self.path = build(source, directory)
        self.lib = ctypes.CDLL(str(self.path))
        entry = ctypes.cast(getattr(self.lib, source.entry), ctypes.c_void_p).value
        self._helpers = (ctypes.c_void_p * max(1, len(source.helpers)))(
            *[links.helper(n) for n in source.helpers])
        self._lddw = (ctypes.c_uint64 * max(1, len(source.lddw)))(
            *[links.lddw(insn) & M64 for insn in source.lddw])
        self.env = _Env(entry, links.stack_top, links.error_flag, links.may_goto_counter,
                        links.tail_call, links.ld_packet, links.callx_helper, links.callx_cell,
                        ctypes.addressof(self._lddw), ctypes.addressof(self._helpers),
                        links.args_cell)
        self.entry_address = ctypes.addressof(self.env)
        self._fn = _ENTRY_SIGNATURE(entry)
        self.enter = None
        if links.args_cell:
            enter = ctypes.cast(getattr(self.lib, source.entry + "_enter"), ctypes.c_void_p)
            self.enter = functools.partial(_ENTER_SIGNATURE(enter.value), self.entry_address)

    def __call__(self, r1: int = 0, r2: int = 0) -> int:
        return self._fn(r1 & M64, r2 & M64, self.entry_address)


def compile_program(program: Program, links, directory: pathlib.Path | None = None) -> AotProgram:
    """Translate, build (cached) and load `program` with a machine's `JitLinks`."""
    return AotProgram(translate(program, links.tail_call_helper), links, directory)


class AotMachine(NativeMachine):
    """A `Machine` running the program as compiled C (same call shape and Result as the
    native JIT, whose stack, cells, callbacks and contexts it shares)."""

    @staticmethod
    def available() -> tuple[bool, str]:
        return available()

    def _native_for(self, program: Program) -> AotProgram:
        key = id(program)
        if key not in self._natives:
            self._natives[key] = compile_program(program, self._links())
        return self._natives[key]

    def run(self, context=None, budget: int = 10_000_000, trace=None) -> Result:
        """Run the compiled program once (`budget` is not enforced, as for the JIT)."""
        if trace is not None:
            raise BpfcheckError("the AOT engine cannot trace instructions; use the interpreter")
        return super().run(context, budget)


def run(program: Program, **kwargs) -> Result:
    """Run `program` once as compiled C; the keyword arguments are those of `runtime.vm.run`."""
    from runtime import vm

    return vm.run(program, engine=AotMachine, **kwargs)
