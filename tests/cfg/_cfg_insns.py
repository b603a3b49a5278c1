"""Tiny instruction builders for the CFG tests (independent of the assembler)."""
from __future__ import annotations

from cfg import isa
from cfg.isa import Insn
from cfg.program import Function, LineInfo, Program

JOPS = {"jeq": isa.JMP_JEQ, "jne": isa.JMP_JNE, "jgt": isa.JMP_JGT, "jge": isa.JMP_JGE,
        "jlt": isa.JMP_JLT, "jle": isa.JMP_JLE, "jsgt": isa.JMP_JSGT, "jsge": isa.JMP_JSGE,
        "jslt": isa.JMP_JSLT, "jsle": isa.JMP_JSLE, "jset": isa.JMP_JSET}


def mov(dst: int, imm: int) -> Insn:
    return Insn(isa.CLS_ALU64 | isa.ALU_MOV | isa.SRC_K, dst, 0, 0, imm)


def add(dst: int, imm: int) -> Insn:
    return Insn(isa.CLS_ALU64 | isa.ALU_ADD | isa.SRC_K, dst, 0, 0, imm)


def jcond(op: str, dst: int, right: int, off: int, reg: bool = False, w32: bool = False) -> Insn:
    cls = isa.CLS_JMP32 if w32 else isa.CLS_JMP
    if reg:
        return Insn(cls | JOPS[op] | isa.SRC_X, dst, right, off, 0)
    return Insn(cls | JOPS[op] | isa.SRC_K, dst, 0, off, right)


def ja(off: int) -> Insn:
    return Insn(isa.CLS_JMP | isa.JMP_JA, 0, 0, off, 0)


def gotol(off: int) -> Insn:
    return Insn(isa.CLS_JMP32 | isa.JMP_JA, 0, 0, 0, off)


def may_goto(off: int) -> Insn:
    return Insn(isa.CLS_JMP | isa.JMP_JCOND, 0, 0, off, 0)


def exit_() -> Insn:
    return Insn(isa.CLS_JMP | isa.JMP_EXIT)


def call(helper: int) -> Insn:
    return Insn(isa.CLS_JMP | isa.JMP_CALL, 0, isa.CALL_HELPER, 0, helper)


def kfunc(btf_id: int) -> Insn:
    return Insn(isa.CLS_JMP | isa.JMP_CALL, 0, isa.CALL_KFUNC, 0, btf_id)


def call_local(off: int) -> Insn:
    return Insn(isa.CLS_JMP | isa.JMP_CALL, 0, isa.CALL_LOCAL, 0, off)


def callx(reg: int) -> Insn:
    return Insn(isa.CLS_JMP | isa.SRC_X | isa.JMP_CALL, reg, 0, 0, 0)


def lddw(dst: int, value: int, src: int = isa.LDDW_IMM64) -> Insn:
    return isa.lddw(dst, value, src)


def prog(*insns: Insn, functions=(), line_info=None, name: str = "prog") -> Program:
    """A Program from instructions; functions as (name, start, end) triples."""
    fns = tuple(Function(n, s, e) for n, s, e in functions)
    lines = {pc: LineInfo("t.c", line) for pc, line in (line_info or {}).items()}
    return Program(list(insns), name=name, functions=fns, line_info=lines)


class shallow_stack:
    """Lower the recursion limit to `extra` frames above the caller's depth, so that code that
    recurses once per node (instead of using an explicit stack) fails on a modest input."""

    def __init__(self, extra: int = 80) -> None:
        self.extra = extra

    def __enter__(self):
        import inspect
        import sys

        self.saved = sys.getrecursionlimit()
        sys.setrecursionlimit(len(inspect.stack(0)) + self.extra)
        return self

    def __exit__(self, *exc):
        import sys

        sys.setrecursionlimit(self.saved)
        return False
