"""The reference interpreter: the whole ISA of RFC 9669 (with v4) over `runtime.memory`.

Each instruction is pre-decoded once into a closure that updates the register list and returns
the next pc; the run loop is `pc = ops[pc]()`, with no per-instruction parsing. Memory accesses
keep a one-entry cache of the last region they used (checked against the region's current
bounds), and fall back to a bisect over the region table; every access is bounds-checked.
Rare events (exit of the entry frame, tail calls, ld_abs failure) are exceptions.
"""
from __future__ import annotations

import ctypes
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from cfg import isa
from cfg.errors import BpfcheckError
from cfg.program import Program

from runtime import context as ctxmod
from runtime.maps import ArrayMap, MapSet
from runtime.memory import M64, PACK, UNPACK, Region, VmError

M32 = 0xFFFFFFFF
STACK_SIZE = 512
MAX_FRAMES = 8
MAX_TAIL_CALLS = 33
MAY_GOTO_LIMIT = 8 * 1024 * 1024
# What the interpreter traps on only when it runs it, in its words. The compiled engines
# (native JIT, AOT) trap through the pseudo-helper TRAP_HELPER (no real helper has its number
# on either platform; r1 = pc, r2 = the trap's index here, r3 and r4 fill in the text), so every
# engine's error reads the same.
TRAP_HELPER = 0xFA110FF
TRAPS = ("fell off the end of the program",
         "jump to {0} outside the program [0, {1})",
         "r10 is read-only")
FELL_OFF, JUMP_OUTSIDE, R10_WRITE = range(len(TRAPS))
# the instruction kinds that write their dst register (r10 is read-only)
WRITES_DST = frozenset({"alu", "mov", "neg", "movsx", "end", "bswap", "ldx", "ldxsx", "lddw"})
_JUMPS = ("ja", "jcond", "may_goto")


def run_time_trap(program: Program, pc: int, insn: isa.Insn) -> tuple[int, tuple] | None:
    """What the interpreter traps on at `pc` only when it runs it, for the compiled engines:
    (index in TRAPS, the values of its text), or None."""
    kind = insn.spec.kind
    if insn.dst == 10 and kind in WRITES_DST:
        return R10_WRITE, ()
    if kind in _JUMPS:
        dest = pc + 1 + insn.jump_offset
        if not 0 <= dest < program.end_pc:   # taken or not
            return JUMP_OUTSIDE, (dest, program.end_pc)
    return None


def runs_past_end(end: int, code: list[tuple[int, isa.Insn]]) -> bool:
    """Whether control can run past the last instruction of a function's `code` (ending at
    pc `end`): it does not end in exit or ja, or a jump in it goes to `end`."""
    if not code or code[-1][1].spec.kind not in ("exit", "ja"):
        return True
    return any(insn.spec.kind in _JUMPS and pc + 1 + insn.jump_offset == end
               for pc, insn in code)

Trace = Callable[[int, list, Any], None]


@dataclass(frozen=True)
class Result:
    """The outcome of one run. r0 is unsigned 64-bit; `error` is None on a normal exit."""

    r0: int
    error: str | None
    steps: int
    packet: bytes | None
    mem: bytes | None
    maps: MapSet
    trace_output: list[str] = field(default_factory=list)
    pc: int | None = None


_RESULT_FIELDS = dict.fromkeys(("r0", "error", "steps", "packet", "mem", "maps",
                                 "trace_output", "pc"))
_new_object = object.__new__


def make_result(r0: int, error: str | None, steps: int, packet: bytes | None,
                mem: bytes | None, maps: MapSet, trace_output: list[str],
                pc: int | None) -> Result:
    """`Result(...)` at a third of the cost of the frozen dataclass __init__ (a setattr call
    per field): every engine builds one per run, so this is per-call overhead."""
    r = _new_object(Result)
    d = r.__dict__
    d.update(_RESULT_FIELDS)   # every field, in the dataclass's order, in one call
    d["r0"], d["error"], d["steps"], d["packet"] = r0, error, steps, packet
    d["mem"], d["maps"], d["trace_output"], d["pc"] = mem, maps, trace_output, pc
    return r


_NO_CACHE = (1, 0, None, 0)  # matches no address
_NONE_CONTEXT = ctxmod.Context("none")
_PACKET_KINDS = frozenset({"xdp", "skb"})


class _Exit(Exception):
    pass


class _Abort(Exception):
    """Terminates the run with r0 = 0 (ld_abs / ld_ind out of the packet, as the kernel)."""


class _Switch(Exception):
    """Continue in another compiled program (tail call, or return across one)."""

    def __init__(self, ops: list, pc: int, program: Program | None = None) -> None:
        self.ops, self.pc, self.program = ops, pc, program


# --- ALU and jump templates: one generated factory per (op, width, source form) -------------
_ALU64 = {
    "add": "(A + B) & M64", "sub": "(A - B) & M64", "mul": "(A * B) & M64", "or": "A | B",
    "and": "A & B", "xor": "A ^ B", "lsh": "(A << (B & 63)) & M64", "rsh": "A >> (B & 63)",
    "arsh": "((A - ((A >> 63) << 64)) >> (B & 63)) & M64",
    "div": "A // B if B else 0", "mod": "A % B if B else A",
    "sdiv": "_sdiv(A, B, 64)", "smod": "_smod(A, B, 64)", "mov": "B",
}
_ALU32 = {
    "add": "(A + B) & M32", "sub": "(A - B) & M32", "mul": "(A * B) & M32", "or": "A | B",
    "and": "A & B", "xor": "A ^ B", "lsh": "(A << (B & 31)) & M32", "rsh": "A >> (B & 31)",
    "arsh": "(((A ^ 0x80000000) - 0x80000000) >> (B & 31)) & M32",
    "div": "A // B if B else 0", "mod": "A % B if B else A",
    "sdiv": "_sdiv(A, B, 32)", "smod": "_smod(A, B, 32)", "mov": "B",
}
_JMP = {"jeq": "A == B", "jne": "A != B", "jgt": "A > B", "jge": "A >= B", "jlt": "A < B",
        "jle": "A <= B", "jset": "A & B", "jsgt": "A > B", "jsge": "A >= B", "jslt": "A < B",
        "jsle": "A <= B"}


def _signed(v: int, bits: int) -> int:
    sign = 1 << (bits - 1)
    return (v ^ sign) - sign


def _sdiv(a: int, b: int, bits: int) -> int:
    a, b = _signed(a, bits), _signed(b, bits)
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return (-q if (a < 0) != (b < 0) else q) & ((1 << bits) - 1)


def _smod(a: int, b: int, bits: int) -> int:
    sa, sb = _signed(a, bits), _signed(b, bits)
    if sb == 0:
        return a
    r = abs(sa) % abs(sb)
    return (-r if sa < 0 else r) & ((1 << bits) - 1)


def _gen(name: str, src: str) -> Callable:
    env = {"M64": M64, "M32": M32, "_sdiv": _sdiv, "_smod": _smod}
    exec(src, env)  # noqa: S102 - generated from the fixed templates above
    return env[name]


def _alu_factory(expr: str, width: int, reg: bool) -> Callable:
    mask = "" if width == 64 else " & M32"
    b = f"(regs[s]{mask})" if reg else "k"
    a = f"(regs[d]{mask})"
    setup = []
    for name, value in (("A", a), ("B", b)):
        if expr.count(name) == 1 or value == "k":
            expr = expr.replace(name, value)   # inline operands used once
        elif expr.count(name) > 1:
            setup.append(f"{name} = {value}")
    src = (f"def make(regs, d, s, k, nxt):\n"
           f"    def op():\n"
           + (f"        {'; '.join(setup)}\n" if setup else "") +
           f"        regs[d] = {expr}\n"
           f"        return nxt\n"
           f"    return op\n")
    return _gen("make", src)


def _jmp_factory(expr: str, width: int, signed: bool, reg: bool) -> Callable:
    if width == 64:
        a = "((regs[d] ^ 0x8000000000000000) - 0x8000000000000000)" if signed else "regs[d]"
        b = ("((regs[s] ^ 0x8000000000000000) - 0x8000000000000000)" if signed else "regs[s]")
    else:
        a = "(((regs[d] & M32) ^ 0x80000000) - 0x80000000)" if signed else "(regs[d] & M32)"
        b = "(((regs[s] & M32) ^ 0x80000000) - 0x80000000)" if signed else "(regs[s] & M32)"
    if not reg:
        b = "k"
    expr = expr.replace("A", a).replace("B", b)  # each operand is used once
    src = (f"def make(regs, d, s, k, tgt, nxt):\n"
           f"    def op():\n"
           f"        return tgt if {expr} else nxt\n"
           f"    return op\n")
    return _gen("make", src)


ALU_FACTORIES = {(op, w, reg): _alu_factory(expr, w, reg)
                 for w, table in ((64, _ALU64), (32, _ALU32)) for op, expr in table.items()
                 for reg in (False, True)}
JMP_FACTORIES = {(op, w, reg): _jmp_factory(expr, w, op.startswith("js") and op != "jset", reg)
                 for op, expr in _JMP.items() for w in (64, 32) for reg in (False, True)}


def _alu_imm(op: str, width: int, imm: int) -> int:
    """The B operand of an ALU instruction with an immediate, as the RFC defines it."""
    if width == 32:
        return imm & M32
    return imm & M64


def _jmp_imm(op: str, width: int, imm: int) -> int:
    signed = op.startswith("js") and op != "jset"
    if signed:
        return imm  # already the signed 32-bit value (sign-extended for 64-bit compares)
    return imm & (M64 if width == 64 else M32)


def _bswap(v: int, nbytes: int) -> int:
    return int.from_bytes((v & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"), "big")


class Machine:
    """One program with its maps, helpers, stack and compiled code; `run()` many times."""

    def __init__(self, program: Program, maps: MapSet | None = None,
                 helpers: dict[int, Callable] | None = None, checked: bool = True,
                 seed: int = 0) -> None:
        from runtime.helpers import HELPERS
        self.program = program
        self.maps = maps if maps is not None else MapSet.for_program(program)
        self.memory = self.maps.memory
        self.helpers = dict(HELPERS)
        if helpers:
            self.helpers.update(helpers)
        self.checked = checked
        self.seed = seed
        self.regs = [0] * 11
        self.frames: list[tuple] = []
        self.stack = [self.memory.add(f"stack frame {i}", "stack", STACK_SIZE)
                      for i in range(MAX_FRAMES)]
        self.stack_tops = [r.end for r in self.stack]
        self.deepest = MAX_FRAMES - 1  # deepest frame used since the stack was last zeroed
        self._frame_spans = [(r.view, slice(r.start - r.base, r.end - r.base))
                             for r in self.stack]
        self._zero_frame = bytes(STACK_SIZE)
        self._snapshot: ctxmod.Snapshot | None = None
        self._compiled: dict[int, tuple[list, Region]] = {}
        self._caches: list[list] = []
        self._epoch = self.memory.epoch
        self.ops: list = []
        self.ctx: ctxmod.Installed | None = None
        self.trace_output: list[str] = []
        self.rng = random.Random(seed)
        self.clock_ns = 0
        self.tail_calls = 0
        self.may_goto_left = MAY_GOTO_LIMIT
        self.pid_tgid = (4242 << 32) | 4243
        self.uid_gid = (1000 << 32) | 1000
        self.redirect: tuple[int, int] | None = None
        self.program_ops = self.compile(program)

    # --- compilation ----------------------------------------------------------------------
    def compile(self, program: Program) -> list:
        """The closures of `program` (cached per program object)."""
        key = id(program)
        if key not in self._compiled:
            code = self.memory.add(f"code of {program.name}", "code", max(8, program.end_pc * 8),
                                   readable=False, writable=False)
            ops: list = [None] * (program.end_pc + 1)
            self._compiled[key] = (ops, code, program)
            for pc, insn in program.items():
                ops[pc] = self._compile_one(program, pc, insn, code)
                if insn.slots == 2:
                    ops[pc + 1] = self._trap(pc + 1, "jump into the middle of an lddw")
            ops[program.end_pc] = self._trap(program.end_pc, TRAPS[FELL_OFF])
        return self._compiled[key][0]

    def _trap(self, pc: int, message: str) -> Callable:
        def op():
            raise VmError(message, pc)
        return op

    def _target(self, program: Program, pc: int, rel: int) -> int:
        t = pc + 1 + rel
        if not 0 <= t < program.end_pc:
            raise VmError(TRAPS[JUMP_OUTSIDE].format(t, program.end_pc), pc)
        return t

    def _compile_one(self, program: Program, pc: int, insn: isa.Insn, code: Region) -> Callable:
        try:
            spec = isa.check(insn)
        except BpfcheckError as exc:
            return self._trap(pc, str(exc))
        regs, d, s, nxt = self.regs, insn.dst, insn.src, pc + insn.slots
        kind = spec.kind
        if kind in ("alu", "mov"):
            if d == 10:
                return self._trap(pc, TRAPS[R10_WRITE])
            op = spec.op
            k = 0 if spec.uses_src_reg else _alu_imm(op, spec.width, insn.imm)
            return ALU_FACTORIES[(op, spec.width, spec.uses_src_reg)](regs, d, s, k, nxt)
        if kind == "jcond":
            try:
                tgt = self._target(program, pc, insn.off)
            except VmError as exc:
                return self._trap(pc, exc.detail)
            k = 0 if spec.uses_src_reg else _jmp_imm(spec.op, spec.width, insn.imm)
            return JMP_FACTORIES[(spec.op, spec.width, spec.uses_src_reg)](regs, d, s, k, tgt,
                                                                            nxt)
        if kind == "ja":
            try:
                tgt = self._target(program, pc, insn.jump_offset)
            except VmError as exc:
                return self._trap(pc, exc.detail)
            return lambda: tgt
        if d == 10 and kind in WRITES_DST:
            return self._trap(pc, TRAPS[R10_WRITE])
        maker = getattr(self, f"_op_{kind}")
        return maker(program, pc, insn, spec, nxt, code)

    # ALU extras ---------------------------------------------------------------------------
    def _op_neg(self, program, pc, insn, spec, nxt, code):
        regs, d = self.regs, insn.dst
        mask = M64 if spec.width == 64 else M32

        def op():
            regs[d] = -regs[d] & mask
            return nxt
        return op

    def _op_movsx(self, program, pc, insn, spec, nxt, code):
        regs, d, s = self.regs, insn.dst, insn.src
        bits = spec.size * 8
        sign, low = 1 << (bits - 1), (1 << bits) - 1
        mask = M64 if spec.width == 64 else M32

        def op():
            regs[d] = (((regs[s] & low) ^ sign) - sign) & mask
            return nxt
        return op

    def _op_end(self, program, pc, insn, spec, nxt, code):
        regs, d, n = self.regs, insn.dst, spec.size
        low = (1 << (8 * n)) - 1
        if spec.op == "le":
            def op():
                regs[d] &= low
                return nxt
            return op
        return self._op_bswap(program, pc, insn, spec, nxt, code)

    def _op_bswap(self, program, pc, insn, spec, nxt, code):
        regs, d, n = self.regs, insn.dst, spec.size
        low = (1 << (8 * n)) - 1
        frm = int.from_bytes

        def op():
            regs[d] = frm((regs[d] & low).to_bytes(n, "little"), "big")
            return nxt
        return op

    # memory -------------------------------------------------------------------------------
    # Each load/store instruction keeps a one-element list holding a tuple
    # (lowest address, highest address, buffer view, buffer base) of the last region it used,
    # valid for its access size. `invalidate()` resets every cache when the memory epoch moves.
    def _cache(self) -> list:
        cache = [_NO_CACHE]
        self._caches.append(cache)
        return cache

    def invalidate(self) -> None:
        """Forget every cached region (a region was moved or removed)."""
        for cache in self._caches:
            cache[0] = _NO_CACHE
        self._epoch = self.memory.epoch

    def slow_load(self, a: int, size: int, pc: int, cache: list) -> int:
        """Resolve a load outside the cached region (ctx fields, faults, cache refill)."""
        r = self.memory.find(a, size)
        if r is None or a < r.start or not size:
            raise self.memory.fault(a, size, False, pc, self.checked)
        if r.kind == "ctx":
            v = self.ctx.load(a - r.start, size) if self.ctx is not None else None
            if v is None:
                raise self.memory.fault(a, size, False, pc, self.checked,
                                        f"invalid {r.name} access at offset {a - r.start}")
            return v
        if not r.readable:
            raise self.memory.fault(a, size, False, pc, self.checked, f"{r.name} not readable")
        cache[0] = (r.start, r.end - size, r.views[size], r.base)
        return UNPACK[size](r.view, a - r.base)[0]

    def slow_store(self, a: int, size: int, value: int, pc: int, cache: list) -> None:
        """Resolve a store outside the cached region."""
        r = self.memory.find(a, size)
        if r is None or a < r.start:
            raise self.memory.fault(a, size, True, pc, self.checked)
        if r.kind == "ctx":
            if self.ctx is None or not self.ctx.store(a - r.start, size, value):
                raise self.memory.fault(a, size, True, pc, self.checked,
                                        f"{r.name} field at offset {a - r.start} is read-only")
            return
        if not r.writable:
            raise self.memory.fault(a, size, True, pc, self.checked, f"{r.name} is read-only")
        cache[0] = (r.start, r.end - size, r.views[size], r.base)
        PACK[size](r.view, a - r.base, value & ((1 << (8 * size)) - 1))

    def _op_ldx(self, program, pc, insn, spec, nxt, code):
        regs, d, s, off, size = self.regs, insn.dst, insn.src, insn.off, spec.size
        slow, cache = self.slow_load, self._cache()
        align, shift = size - 1, size.bit_length() - 1

        def op():
            a = regs[s] + off
            lo, hi, view, base = cache[0]
            if lo <= a <= hi and not a & align:
                regs[d] = view[(a - base) >> shift]
            else:
                regs[d] = slow(a, size, pc, cache)
            return nxt
        return op

    def _op_ldxsx(self, program, pc, insn, spec, nxt, code):
        regs, d, s, off, size = self.regs, insn.dst, insn.src, insn.off, spec.size
        slow, cache = self.slow_load, self._cache()
        sign = 1 << (8 * size - 1)
        align, shift = size - 1, size.bit_length() - 1

        def op():
            a = regs[s] + off
            lo, hi, view, base = cache[0]
            if lo <= a <= hi and not a & align:
                v = view[(a - base) >> shift]
            else:
                v = slow(a, size, pc, cache)
            regs[d] = ((v ^ sign) - sign) & M64
            return nxt
        return op

    def _op_st(self, program, pc, insn, spec, nxt, code):
        return self._store(pc, insn.dst, insn.off, spec.size, nxt, imm=insn.imm)

    def _op_stx(self, program, pc, insn, spec, nxt, code):
        return self._store(pc, insn.dst, insn.off, spec.size, nxt, src=insn.src)

    def _store(self, pc, d, off, size, nxt, imm=None, src=None):
        regs, slow, cache = self.regs, self.slow_store, self._cache()
        mask = (1 << (8 * size)) - 1
        align, shift = size - 1, size.bit_length() - 1
        if imm is not None:
            k = imm & mask

            def op():
                a = regs[d] + off
                lo, hi, view, base = cache[0]
                if lo <= a <= hi and not a & align:
                    view[(a - base) >> shift] = k
                else:
                    slow(a, size, k, pc, cache)
                return nxt
            return op

        def op():
            a = regs[d] + off
            lo, hi, view, base = cache[0]
            if lo <= a <= hi and not a & align:
                view[(a - base) >> shift] = regs[src] & mask
            else:
                slow(a, size, regs[src] & mask, pc, cache)
            return nxt
        return op

    def _op_atomic(self, program, pc, insn, spec, nxt, code):
        regs, d, s, off, size = self.regs, insn.dst, insn.src, insn.off, spec.size
        unpack, pack, mem = UNPACK[size], PACK[size], self.memory
        mask = (1 << (8 * size)) - 1
        name = spec.op
        fetch = name.startswith("fetch_") or name in ("xchg", "cmpxchg")
        base_op = name.replace("fetch_", "")
        fn = {"add": lambda o, v: (o + v) & mask, "or": lambda o, v: o | v,
              "and": lambda o, v: o & v, "xor": lambda o, v: o ^ v,
              "xchg": lambda o, v: v}.get(base_op)
        checked = self.checked
        cache = self._cache()

        def op():
            a = regs[d] + off
            lo, hi, view, base = cache[0]
            if not lo <= a <= hi:
                r = mem.find(a, size)
                if r is None or a < r.start or r.kind == "ctx" or not r.writable:
                    why = "atomic on ctx" if r is not None and r.kind == "ctx" else ""
                    raise mem.fault(a, size, True, pc, checked, why)
                lo, hi, view, base = cache[0] = (r.start, r.end - size, r.view, r.base)
            o = a - base
            old = unpack(view, o)[0]
            if fn is None:  # cmpxchg
                if (regs[0] & mask) == old:
                    pack(view, o, regs[s] & mask)
                regs[0] = old
            else:
                pack(view, o, fn(old, regs[s] & mask))
                if fetch:
                    regs[s] = old
            return nxt
        return op

    def _op_lddw(self, program, pc, insn, spec, nxt, code):
        regs, d = self.regs, insn.dst
        form = insn.src
        if form == isa.LDDW_IMM64:
            value = insn.imm64
        elif form in (isa.LDDW_MAP_FD, isa.LDDW_MAP_IDX, isa.LDDW_MAP_VALUE,
                      isa.LDDW_MAP_IDX_VALUE):
            if not 0 <= insn.imm < len(self.maps):
                return self._trap(pc, f"lddw refers to map {insn.imm}, the program has "
                                      f"{len(self.maps)}")
            m = self.maps[insn.imm]
            if form in (isa.LDDW_MAP_FD, isa.LDDW_MAP_IDX):
                value = m.address
            else:
                if not isinstance(m, ArrayMap):
                    return self._trap(pc, f"map value address of non-array map {m.name}")
                value = m.base + (insn.next_imm & M32)
        elif form == isa.LDDW_CODE:
            target = pc + 1 + insn.imm
            if not 0 <= target < program.end_pc:
                return self._trap(pc, f"code address {target} outside the program")
            value = code.start + 8 * target
        else:
            return self._trap(pc, "lddw of a kernel variable (BTF id) is not supported")

        def op():
            regs[d] = value
            return nxt
        return op

    def _op_ldabs(self, program, pc, insn, spec, nxt, code):
        return self._ld_packet(pc, insn.imm, None, spec.size, nxt)

    def _op_ldind(self, program, pc, insn, spec, nxt, code):
        return self._ld_packet(pc, insn.imm, insn.src, spec.size, nxt)

    def _ld_packet(self, pc, imm, src, size, nxt):
        regs, m = self.regs, self

        def op():
            off = imm if src is None else _signed((regs[src] + imm) & M32, 32)
            pkt = m.ctx.packet if m.ctx is not None else None
            if pkt is None:
                raise VmError("ld_abs/ld_ind without a packet", pc)
            if off < 0 or off + size > pkt.end - pkt.start:
                raise _Abort()
            regs[0] = int.from_bytes(ctypes.string_at(pkt.start + off, size), "big")
            return nxt
        return op

    # control ------------------------------------------------------------------------------
    def _op_may_goto(self, program, pc, insn, spec, nxt, code):
        try:
            tgt = self._target(program, pc, insn.off)
        except VmError as exc:
            return self._trap(pc, exc.detail)
        m = self

        def op():
            if m.may_goto_left <= 0:
                return tgt
            m.may_goto_left -= 1
            return nxt
        return op

    def _op_exit(self, program, pc, insn, spec, nxt, code):
        regs, frames, m = self.regs, self.frames, self

        def op():
            if not frames:
                raise _Exit()
            ret, regs[6], regs[7], regs[8], regs[9], regs[10], ops = frames.pop()
            if ops is not m.ops:
                raise _Switch(ops, ret)
            return ret
        return op

    def _local_call(self, pc: int, target: int, nxt: int) -> Callable:
        regs, frames, tops, m = self.regs, self.frames, self.stack_tops, self

        def op():
            depth = len(frames) + 1
            if depth >= MAX_FRAMES:
                raise VmError(f"call depth exceeds {MAX_FRAMES} frames", pc)
            frames.append((nxt, regs[6], regs[7], regs[8], regs[9], regs[10], m.ops))
            regs[10] = tops[depth]
            if depth > m.deepest:
                m.deepest = depth
            return target
        return op

    def _op_call(self, program, pc, insn, spec, nxt, code):
        regs = self.regs
        if spec.op == "local":
            try:
                tgt = self._target(program, pc, insn.imm)
            except VmError as exc:
                return self._trap(pc, exc.detail)
            return self._local_call(pc, tgt, nxt)
        if spec.op == "kfunc":
            return self._trap(pc, f"kfunc call (BTF id {insn.imm}) is not supported")
        fn = self.helpers.get(insn.imm)
        if fn is None:
            return self._trap(pc, f"unknown helper {insn.imm}")
        m = self

        mem = self.memory

        def op():
            regs[0] = fn(m, regs[1], regs[2], regs[3], regs[4], regs[5]) & M64
            if mem.epoch != m._epoch:
                m.invalidate()
            return nxt
        return op

    def _op_callx(self, program, pc, insn, spec, nxt, code):
        regs, d, m = self.regs, insn.dst, self
        calls: dict[int, Callable] = {}

        def op():
            v = regs[d]
            if code.start <= v < code.end:
                t = (v - code.start) // 8
                if (v - code.start) % 8 or program.index_of(t) is None:
                    raise VmError(f"callx to {v:#x}: not an instruction", pc)
                if t not in calls:
                    calls[t] = m._local_call(pc, t, nxt)
                return calls[t]()
            fn = m.helpers.get(v)
            if fn is None:
                raise VmError(f"callx to {v:#x}: neither a function of the program nor a "
                              f"helper id", pc)
            regs[0] = fn(m, regs[1], regs[2], regs[3], regs[4], regs[5]) & M64
            if m.memory.epoch != m._epoch:
                m.invalidate()
            return nxt
        return op

    # tail calls (used by the tail_call helper) ---------------------------------------------
    def tail_call(self, program: Program) -> None:
        """Switch to `program` (raises the internal switch; the caller checked the limit)."""
        self.tail_calls += 1
        raise _Switch(self.compile(program), 0, program)

    def close(self) -> None:
        """Unregister this machine's regions (stack, code, context) from the shared memory;
        the maps stay. Call it when a MapSet outlives many machines."""
        regions = list(self.stack) + [entry[1] for entry in self._compiled.values()]
        if self.ctx is not None:
            regions += [self.ctx.ctx, self.ctx.packet, self.ctx.meta, self.ctx.mem]
        for r in {id(r): r for r in regions if r is not None}.values():
            if r.end:
                self.memory.remove(r)
        self.ctx = None
        self._snapshot = None

    # --- running -----------------------------------------------------------------------
    # Per-run set-up and the result, shared by every engine built on this machine.
    def context_regions(self) -> list[Region]:
        """The distinct regions of the installed context (packet and meta share a buffer)."""
        return self.ctx.regions()

    def install_context(self, context: ctxmod.Context | None) -> None:
        """Install `context` for the next run. Running again on an equal context restores the
        bytes and bounds saved right after it was installed (what run after run on one input
        costs); any other context replaces the previous run's regions."""
        context = context or _NONE_CONTEXT
        snapshot = self._snapshot
        if snapshot is not None and snapshot.installed is self.ctx and (
                snapshot.context is context or snapshot.context == context):
            snapshot.restore(self.memory)
            if self.memory.epoch != self._epoch:  # a helper moved a region: bounds changed
                self.invalidate()
            return
        if self.ctx is not None:
            for r in self.context_regions():
                self.memory.remove(r)
        self.ctx = ctxmod.install(context, self.memory)
        self.context_installed(self.ctx)
        self.invalidate()
        self._snapshot = ctxmod.Snapshot(self.ctx, self.memory)

    def context_installed(self, inst: ctxmod.Installed) -> None:
        """Called once a context is newly placed, before its bytes are saved for later runs
        (the native engines move packets below 4 GiB and write pointer fields here)."""

    def clear_stack(self) -> None:
        """Zero the stack frames used since the last clear: every run starts on a zero stack."""
        zero = self._zero_frame
        for view, span in self._frame_spans[:self.deepest + 1]:
            view[span] = zero
        self.deepest = 0

    def reset_run_state(self) -> None:
        """Forget what the previous run left: frames, output, tail calls, budgets."""
        self.frames.clear()
        self.trace_output = []
        self.tail_calls = 0
        self.may_goto_left = MAY_GOTO_LIMIT
        self.redirect = None

    def result(self, r0: int, error: str | None, steps: int, pc: int | None) -> Result:
        """The Result of a run that ended with these values. It takes the run's output list
        itself: `reset_run_state` starts the next run on a new one."""
        inst = self.ctx
        packet = inst.packet if inst.context.kind in _PACKET_KINDS else None
        mem = inst.mem
        return make_result(r0 & M64, error, steps, None if packet is None else packet.bytes(),
                           None if mem is None else mem.bytes(), self.maps, self.trace_output,
                           pc)

    def run(self, context: ctxmod.Context | None = None, budget: int = 10_000_000,
            trace: Trace | None = None) -> Result:
        """Run the program once on `context` (a fresh stack; maps persist across runs)."""
        memory = self.memory
        self.install_context(context)
        self.clear_stack()
        regs = self.regs
        regs[:] = [0] * 11
        regs[1], regs[2] = self.ctx.r1, self.ctx.r2
        regs[10] = self.stack_tops[0]
        self.reset_run_state()
        ops = self.ops = self.program_ops
        pc, done, error, err_pc = 0, 0, None, None
        while True:
            i = done
            try:
                if trace is None:
                    for i in range(done, budget):
                        pc = ops[pc]()
                else:
                    for i in range(done, budget):
                        trace(pc, regs, memory)
                        pc = ops[pc]()
                error, err_pc, done = f"instruction budget of {budget} exhausted", pc, budget
                break
            except _Exit:
                done = i + 1
                err_pc = pc
                break
            except _Abort:
                regs[0] = 0
                done = i + 1
                err_pc = pc
                break
            except _Switch as sw:
                done = i + 1
                ops = self.ops = sw.ops
                pc = sw.pc
                if sw.program is not None:
                    regs[1] = self.ctx.r1
            except VmError as exc:
                done = i + 1
                err_pc = exc.pc if exc.pc is not None else pc
                error = f"pc {err_pc}: {exc.detail}"
                break
        return self.result(regs[0], error, done, err_pc)


def make_context(ctx: bytes | ctxmod.Context | None = None, mem: bytes | None = None,
                 packet: bytes | None = None, program_type: str | None = None) -> ctxmod.Context:
    """The Context for `run()`'s keyword arguments."""
    if isinstance(ctx, ctxmod.Context):
        return ctx
    if packet is not None:
        return ctxmod.for_program_type(program_type, packet)
    if mem is not None:
        return ctxmod.raw_memory(mem)
    if ctx is not None:
        return ctxmod.ctx_bytes(ctx)
    return ctxmod.Context("none")


def run(program: Program, *, ctx: bytes | ctxmod.Context | None = None,
        mem: bytes | None = None, packet: bytes | None = None, maps: MapSet | None = None,
        helpers: dict[int, Callable] | None = None, budget: int = 10_000_000,
        checked: bool = True, trace: Trace | None = None, seed: int = 0,
        program_type: str | None = None, engine: Callable | None = None) -> Result:
    """Run `program` once on the interpreter, or on `engine` (a Machine subclass such as the
    JITs; see the module docstring)."""
    ptype = program_type or program.type
    context = make_context(ctx, mem, packet, ptype)
    machine = (engine or Machine)(program, maps, helpers, checked, seed)
    try:
        return machine.run(context, budget, trace)
    finally:
        machine.close()  # the caller's MapSet may serve many runs
