"""Bounded symbolic execution of eBPF programs in z3 bit-vector logic (for `verifier.crosscheck`).

Each path of the program (loops unrolled up to `max_visits` visits of a pc, at most
`max_paths` paths and `max_steps` instructions a path) is executed on a symbolic state:
registers are 64-bit bit-vectors tagged with the region they point into (`num`, `ctx`,
`packet`, `stack`, `shared`, `mapfd`, `func`); the inputs are the packet bytes (an array of
BV8 indexed by BV64) and its length `plen`, the raw context bytes of non-packet program types,
the contents of map values, and helper results (fresh values). A map lookup forks the path into
"NULL" and "a value"; branches fork when both sides are feasible. Along a path every memory
access is assumed valid (as the verifier assumes its assertions), except at the pc under
examination, where `Explorer` asks a callback for the violation condition.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import z3

from cfg import isa

BV64 = z3.BitVecSort(64)
BV8 = z3.BitVecSort(8)
MAX_PACKET = 1500
STACK = 512


def bv(x: int) -> z3.BitVecRef:
    return z3.BitVecVal(x & ((1 << 64) - 1), 64)


@dataclass(frozen=True)
class V:
    """A symbolic value: `x` is the number (kind num) or the offset in the region."""

    kind: str                 # num ctx packet stack shared mapfd func, opaque (not modelled)
    x: Any
    region: Any = None        # stack: frame index; shared: region key; mapfd: map index
    null: bool = False        # the NULL of a failed map lookup (kind num, x = 0)


@dataclass
class Event:
    """A choice made on the path: a map lookup outcome or a helper result."""

    pc: int
    kind: str                 # "lookup" or "helper"
    map_index: int = -1
    key: tuple = ()           # key bytes (BV8 expressions)
    found: bool = False
    region: Any = None
    value: Any = None         # helper result expression


@dataclass
class SymState:
    regs: list
    stack: dict               # (frame, offset) -> BV8
    spills: dict              # (frame, offset) -> V (an 8-byte pointer spill)
    pkt: Any
    shared: dict              # region key -> (array, size)
    frames: list              # (return pc, saved r6-r9)
    cond: list
    trace: list
    events: list
    visits: dict
    depth: int = 0

    def fork(self) -> "SymState":
        return SymState(list(self.regs), dict(self.stack), dict(self.spills), self.pkt,
                        dict(self.shared), list(self.frames), list(self.cond), list(self.trace),
                        list(self.events), dict(self.visits), self.depth)


@dataclass
class Inputs:
    """The symbolic inputs of one exploration."""

    pkt: Any
    plen: Any
    ctx: Any                  # raw ctx bytes (non-packet types) or None
    proto: Any                # the 16-bit Ethernet type field (skb.protocol)
    l2: bool
    kind: str                 # "xdp", "skb" or "bytes"
    ctx_size: int
    fresh: list = field(default_factory=list)


def _load_le(arr, off, size: int):
    parts = [z3.Select(arr, off + i) for i in range(size)]
    return z3.Concat(*reversed(parts)) if size > 1 else parts[0]


def _zx(e, bits: int = 64):
    w = e.size()
    return e if w == bits else (z3.ZeroExt(bits - w, e) if w < bits else z3.Extract(bits - 1, 0, e))


def _sx(e, bits: int = 64):
    w = e.size()
    return e if w == bits else z3.SignExt(bits - w, e)


class Explorer:
    """Enumerates the feasible paths of one program (see the module docstring)."""

    def __init__(self, program, ptype, *, max_visits: int = 8, max_paths: int = 4000,
                 max_steps: int = 4000, timeout_ms: int = 20000) -> None:
        from verifier.platform import get_platform
        self.program = program
        self.ptype = ptype
        self.platform = get_platform("linux")
        self.max_visits = max_visits
        self.max_paths = max_paths
        self.max_steps = max_steps
        self.solver = z3.Solver()
        self.solver.set("timeout", timeout_ms)
        self.paths = 0
        self.truncated = False
        self._n = 0
        name = getattr(ptype, "name", "xdp")
        from runtime.context import L2_PROGRAM_TYPES, SKB_PROGRAM_TYPES
        if name.split("/")[0] in SKB_PROGRAM_TYPES:
            kind = "skb"
        elif name.startswith("xdp"):
            kind = "xdp"
        else:
            kind = "bytes"
        l2 = kind != "skb" or name in L2_PROGRAM_TYPES
        size = ptype.context.size if ptype is not None else 0
        self.inp = Inputs(z3.Array("pkt", BV64, BV8), z3.BitVec("plen", 64),
                          z3.Array("ctx", BV64, BV8) if kind == "bytes" else None,
                          z3.BitVec("eth_proto", 16), l2, kind, size)
        self.base = [z3.ULE(self.inp.plen, MAX_PACKET - (0 if l2 else 14))]
        self._skb_defaults = self._defaults() if kind == "skb" else {}

    def _defaults(self) -> dict[int, int]:
        """Concrete __sk_buff fields the runtime installs (those not derived below)."""
        from runtime import context as C
        return {off: (name, size) for name, (off, size) in C.SKB_FIELDS.items()}

    def fresh(self, name: str, bits: int = 64):
        self._n += 1
        v = z3.BitVec(f"{name}!{self._n}", bits)
        self.inp.fresh.append(v)
        return v

    # ---- driving ------------------------------------------------------------------------
    def initial(self) -> SymState:
        regs = [None] * 11
        regs[1] = V("ctx", bv(0))
        regs[10] = V("stack", bv(STACK), 0)
        return SymState(regs, {}, {}, self.inp.pkt, {}, [], list(self.base), [], [], {})

    def explore(self, visit: Callable[[SymState, int, Any], bool]) -> None:
        """Call `visit(state, pc, insn)` before each instruction of each path; a True return
        ends that path (the caller found what it wanted there)."""
        work = [(self.initial(), 0)]
        while work:
            if self.paths >= self.max_paths:
                self.truncated = True
                return
            st, pc = work.pop()
            self._run(st, pc, visit, work)

    def feasible(self, conds: list) -> bool:
        r = self.solver.check(*conds)
        return r != z3.unsat

    def _run(self, st: SymState, pc: int, visit, work: list) -> None:
        prog = self.program
        while True:
            if len(st.trace) >= self.max_steps:
                self.truncated = True
                self.paths += 1
                return
            n = st.visits.get(pc, 0) + 1
            st.visits[pc] = n
            if n > self.max_visits:
                self.truncated = True
                self.paths += 1
                return
            insn = prog.at(pc)
            if insn is None:
                self.paths += 1
                return
            st.trace.append(pc)
            if visit(st, pc, insn):
                self.paths += 1
                return
            try:
                nxt = self.step(st, pc, insn, work)
            except _Dead:
                self.paths += 1
                return
            if nxt is None:
                self.paths += 1
                return
            pc = nxt

    # ---- the instruction semantics -------------------------------------------------------
    def step(self, st: SymState, pc: int, insn, work: list) -> int | None:
        spec = insn.spec
        kind = spec.kind
        nxt = pc + insn.slots
        if kind in ("alu", "mov", "neg"):
            self._alu(st, insn, spec)
            return nxt
        if kind == "movsx":
            s = self._num(st, insn.src)
            r = _sx(z3.Extract(spec.size * 8 - 1, 0, s))
            st.regs[insn.dst] = V("num", r if spec.width == 64 else _zx(z3.Extract(31, 0, r)))
            return nxt
        if kind in ("end", "bswap"):
            x = self._num(st, insn.dst)
            bits = spec.size * 8
            low = z3.Extract(bits - 1, 0, x)
            if spec.op == "le":
                r = low
            else:
                r = z3.Concat(*[z3.Extract(i * 8 + 7, i * 8, low) for i in range(bits // 8)]) \
                    if bits > 8 else low
            st.regs[insn.dst] = V("num", _zx(r))
            return nxt
        if kind == "lddw":
            self._lddw(st, insn, pc)
            return nxt
        if kind in ("ldx", "ldxsx"):
            v = self.load(st, st.regs[insn.src], insn.off, spec.size)
            if kind == "ldxsx" and v.kind == "num":
                v = V("num", _sx(z3.Extract(spec.size * 8 - 1, 0, v.x)))
            st.regs[insn.dst] = v
            return nxt
        if kind in ("st", "stx"):
            val = V("num", bv(insn.imm)) if kind == "st" else st.regs[insn.src]
            self.store(st, st.regs[insn.dst], insn.off, spec.size, val)
            return nxt
        if kind == "atomic":
            base = st.regs[insn.dst]
            old = self.load(st, base, insn.off, spec.size)
            src = st.regs[insn.src] or V("num", bv(0))
            sx = src.x if src.kind == "num" else self.fresh("ptr")
            mask = (1 << spec.size * 8) - 1
            ox = old.x if old.kind == "num" else self.fresh("ptr")
            op = spec.op.replace("fetch_", "")
            new = {"add": ox + sx, "or": ox | sx, "and": ox & sx, "xor": ox ^ sx,
                   "xchg": sx}.get(op)
            if spec.op == "cmpxchg":
                r0 = self._num(st, 0)
                new = z3.If((r0 & mask) == ox, sx, ox)
                st.regs[0] = V("num", ox)
            elif spec.op.startswith("fetch") or spec.op == "xchg":
                st.regs[insn.src] = V("num", ox)
            self.store(st, base, insn.off, spec.size, V("num", new & mask))
            return nxt
        if kind in ("ldabs", "ldind"):
            off = bv(insn.imm)
            if kind == "ldind":
                off = _sx(z3.Extract(31, 0, self._num(st, insn.src) + off))
            ok = z3.And(off >= 0, off + spec.size <= self.inp.plen)
            if not self._assume(st, ok):
                return None  # the program returns 0 (not a fault)
            parts = [z3.Select(st.pkt, off + i) for i in range(spec.size)]
            st.regs[0] = V("num", _zx(z3.Concat(*parts) if spec.size > 1 else parts[0]))
            for r in range(1, 6):
                st.regs[r] = None
            return nxt
        if kind == "ja":
            return pc + 1 + insn.jump_offset
        if kind == "may_goto":
            return nxt
        if kind == "jcond":
            return self._branch(st, pc, insn, spec, work)
        if kind == "call":
            return self._call(st, pc, insn, spec, work)
        if kind == "callx":
            raise _Dead()
        if kind == "exit":
            if not st.frames:
                return None
            ret, saved = st.frames.pop()
            st.regs[6:10] = saved
            st.regs[10] = V("stack", bv(STACK), len(st.frames))
            for r in range(1, 6):
                st.regs[r] = None
            depth = len(st.frames) + 1
            for k in [k for k in st.stack if k[0] == depth]:
                del st.stack[k]
            for k in [k for k in st.spills if k[0] == depth]:
                del st.spills[k]
            return ret
        raise _Dead()

    def _num(self, st: SymState, reg: int):
        v = st.regs[reg]
        if v is None:
            return self.fresh(f"uninit_r{reg}")
        if v.kind == "num":
            return v.x
        return self.fresh(f"ptr_r{reg}")      # a pointer used as a number: its address is unknown

    def _alu(self, st: SymState, insn, spec) -> None:
        op = spec.op
        d = st.regs[insn.dst]
        s = st.regs[insn.src] if spec.uses_src_reg else V("num", bv(insn.imm if spec.width == 64
                                                                     else insn.imm & 0xFFFFFFFF))
        if spec.kind == "neg":
            op, s = "neg", V("num", bv(0))
        if op == "mov":
            if spec.width == 64:
                st.regs[insn.dst] = s
            else:
                x = s.x if s is not None and s.kind == "num" else self.fresh("ptr")
                st.regs[insn.dst] = V("num", _zx(z3.Extract(31, 0, x)))
            return
        if spec.width == 64 and d is not None and s is not None and op in ("add", "sub"):
            if d.kind != "num" and s.kind == "num":
                st.regs[insn.dst] = V(d.kind, d.x + s.x if op == "add" else d.x - s.x, d.region)
                return
            if d.kind == "num" and s.kind != "num" and op == "add":
                st.regs[insn.dst] = V(s.kind, s.x + d.x, s.region)
                return
            if op == "sub" and d.kind == s.kind and d.kind != "num" and d.region == s.region:
                st.regs[insn.dst] = V("num", d.x - s.x)
                return
        a = self._num(st, insn.dst) if d is None or d.kind == "num" else self.fresh("ptr")
        b = s.x if s is not None and s.kind == "num" else self.fresh("ptr")
        if spec.width == 32:
            a, b = z3.Extract(31, 0, a), z3.Extract(31, 0, b)
        w = spec.width
        zero = z3.BitVecVal(0, w)
        sh = b & (w - 1)
        r = {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
             "or": lambda: a | b, "and": lambda: a & b, "xor": lambda: a ^ b,
             "lsh": lambda: a << sh, "rsh": lambda: z3.LShR(a, sh), "arsh": lambda: a >> sh,
             "div": lambda: z3.If(b == 0, zero, z3.UDiv(a, b)),
             "mod": lambda: z3.If(b == 0, a, z3.URem(a, b)),
             "sdiv": lambda: z3.If(b == 0, zero, a / b),
             "smod": lambda: z3.If(b == 0, a, z3.SRem(a, b)),
             "neg": lambda: -a}[op]()
        st.regs[insn.dst] = V("num", _zx(r) if w == 32 else r)

    def _lddw(self, st: SymState, insn, pc: int) -> None:
        form = insn.src
        if form == isa.LDDW_IMM64:
            st.regs[insn.dst] = V("num", bv(insn.imm64))
        elif form in (isa.LDDW_MAP_FD, isa.LDDW_MAP_IDX):
            st.regs[insn.dst] = V("mapfd", bv(0), insn.imm)
        elif form in (isa.LDDW_MAP_VALUE, isa.LDDW_MAP_IDX_VALUE):
            key = ("global", insn.imm)
            if key not in st.shared:
                mp = self.program.maps[insn.imm]
                arr = z3.K(BV64, z3.BitVecVal(0, 8))
                for i, b in enumerate((mp.initial_value or b"")[:mp.value_size]):
                    if b:
                        arr = z3.Store(arr, bv(i), z3.BitVecVal(b, 8))
                st.shared[key] = (arr, mp.value_size)
            st.regs[insn.dst] = V("shared", bv(insn.next_imm), key)
        elif form == isa.LDDW_CODE:
            st.regs[insn.dst] = V("func", bv(pc + 1 + insn.imm))
        else:
            st.regs[insn.dst] = V("num", self.fresh("kvar"))

    # ---- memory -------------------------------------------------------------------------
    def access_ok(self, st: SymState, base: V | None, off: int, size: int, write: bool):
        """(z3 condition that the access is valid, what the fault would be)."""
        if base is None:
            return z3.BoolVal(False), "uninit-register"
        o = base.x + off
        if base.kind == "num":
            return z3.BoolVal(False), "null-deref" if base.null else "invalid-memory"
        if base.kind == "opaque":
            return z3.BoolVal(True), ""
        if base.kind == "packet":
            return z3.And(o >= 0, o <= (1 << 20), o + size <= self.inp.plen), "packet-bounds"
        if base.kind == "stack":
            return z3.And(o >= 0, o + size <= STACK), "stack-bounds"
        if base.kind == "shared":
            size_r = st.shared.get(base.region, (None, 0))[1]
            return z3.And(o >= 0, o <= (1 << 20), o + size <= size_r), "map-value-bounds"
        if base.kind == "ctx":
            c = z3.simplify(o)
            if not z3.is_bv_value(c):
                return z3.BoolVal(False), "ctx-access"
            layout = getattr(self.ptype, "context", None)
            k = c.as_long()
            fld = layout.field_at(k, size, write) if layout is not None and k < 1 << 20 else None
            if fld is not None and hasattr(layout, "explain") and layout.explain(k, size, write):
                fld = None
            return z3.BoolVal(fld is not None), "ctx-access"
        return z3.BoolVal(False), "invalid-memory"

    def _assume(self, st: SymState, c) -> bool:
        c = z3.simplify(c)
        if z3.is_true(c):
            return True
        if z3.is_false(c):
            return False
        st.cond.append(c)
        return self.feasible(st.cond)

    def load(self, st: SymState, base: V | None, off: int, size: int) -> V:
        ok, _ = self.access_ok(st, base, off, size, False)
        if not self._assume(st, ok):
            raise _Dead()
        o = base.x + off
        if base.kind == "packet":
            return V("num", _zx(_load_le(st.pkt, o, size)))
        if base.kind == "shared":
            arr = st.shared[base.region][0]
            return V("num", _zx(_load_le(arr, o, size)))
        if base.kind == "stack":
            c = z3.simplify(o)
            if not z3.is_bv_value(c):
                return V("num", self.fresh("stack"))
            k = (base.region, c.as_long())
            if size == 8 and k in st.spills:
                return st.spills[k]
            parts = []
            for i in range(size):
                b = st.stack.get((base.region, k[1] + i))
                parts.append(b if b is not None else z3.BitVecVal(0, 8))  # zeroed, as the vm
            return V("num", _zx(z3.Concat(*reversed(parts)) if size > 1 else parts[0]))
        if base.kind == "ctx":
            return self._ctx_load(st, z3.simplify(o).as_long(), size)
        return V("num", _zx(self.fresh("opaque_load", size * 8)))

    def _ctx_load(self, st: SymState, k: int, size: int) -> V:
        inp = self.inp
        if inp.kind == "xdp":
            if k == 0:
                return V("packet", bv(0))
            if k == 4:
                return V("packet", inp.plen)
            if k == 8:
                return V("packet", bv(0))
            return V("num", bv(0))
        if inp.kind == "skb":
            if k in (76, 80, 140):
                return V("packet", inp.plen if k == 80 else bv(0))
            if k == 0:
                return V("num", inp.plen)
            if k == 160:
                return V("num", inp.plen + (0 if inp.l2 else 14))
            if k == 16:
                if inp.l2:
                    le = z3.Concat(z3.Select(st.pkt, bv(13)), z3.Select(st.pkt, bv(12)))
                    return V("num", z3.If(z3.UGE(inp.plen, 14), _zx(le), bv(0)))
                return V("num", _zx(inp.proto))
            if k in (36, 40, 164):
                return V("num", bv(1))
            if k == 4:
                return V("num", self.fresh("pkt_type"))
            return V("num", bv(0))
        return V("num", _zx(_load_le(inp.ctx, bv(k), size)))

    def store(self, st: SymState, base: V | None, off: int, size: int, val: V | None) -> None:
        ok, _ = self.access_ok(st, base, off, size, True)
        if not self._assume(st, ok):
            raise _Dead()
        o = base.x + off
        if val is None:
            val = V("num", self.fresh("uninit"))
        if base.kind == "stack":
            c = z3.simplify(o)
            if not z3.is_bv_value(c):
                return
            k = c.as_long()
            for i in range(size):
                st.spills.pop((base.region, k + i), None)
                st.stack.pop((base.region, k + i), None)
            if val.kind != "num":
                if size == 8:
                    st.spills[(base.region, k)] = val
                x = self.fresh("ptrbits")
            else:
                x = val.x
            for i in range(size):
                st.stack[(base.region, k + i)] = z3.Extract(8 * i + 7, 8 * i, x)
            return
        x = val.x if val.kind == "num" else self.fresh("ptrbits")
        if base.kind == "packet":
            for i in range(size):
                st.pkt = z3.Store(st.pkt, o + i, z3.Extract(8 * i + 7, 8 * i, x))
        elif base.kind == "shared":
            arr, n = st.shared[base.region]
            for i in range(size):
                arr = z3.Store(arr, o + i, z3.Extract(8 * i + 7, 8 * i, x))
            st.shared[base.region] = (arr, n)

    def stack_bytes(self, st: SymState, base: V, size: int) -> tuple[bool, list]:
        """(all initialised, bytes) of `size` stack bytes at a stack pointer (concrete offset)."""
        c = z3.simplify(base.x)
        if not z3.is_bv_value(c):
            return True, []
        k = c.as_long()
        got = [st.stack.get((base.region, k + i)) for i in range(size)]
        return all(b is not None for b in got), [b if b is not None else z3.BitVecVal(0, 8)
                                                   for b in got]

    # ---- control ------------------------------------------------------------------------
    def branch_condition(self, st: SymState, insn, spec):
        """The z3 condition of the jump being taken (None: unknown, both sides explored)."""
        a = st.regs[insn.dst]
        b = st.regs[insn.src] if spec.uses_src_reg else V("num", bv(insn.imm))
        if a is None or b is None or a.kind == "opaque" or b.kind == "opaque":
            return None
        w = spec.width
        if a.kind == "num" and b.kind == "num":
            x, y = a.x, b.x
        elif a.kind == b.kind and a.region == b.region:
            x, y = a.x, b.x
        elif b.kind == "num" and z3.is_bv_value(z3.simplify(b.x)) and \
                z3.simplify(b.x).as_long() == 0 and spec.op in ("jeq", "jne"):
            return z3.BoolVal(spec.op == "jne")       # a pointer is never NULL
        else:
            return None
        if w == 32:
            x, y = z3.Extract(31, 0, x), z3.Extract(31, 0, y)
        op = spec.op
        return {"jeq": lambda: x == y, "jne": lambda: x != y, "jgt": lambda: z3.UGT(x, y),
                "jge": lambda: z3.UGE(x, y), "jlt": lambda: z3.ULT(x, y),
                "jle": lambda: z3.ULE(x, y), "jsgt": lambda: x > y, "jsge": lambda: x >= y,
                "jslt": lambda: x < y, "jsle": lambda: x <= y,
                "jset": lambda: (x & y) != 0}[op]()

    def _branch(self, st: SymState, pc: int, insn, spec, work: list) -> int | None:
        taken_pc = pc + 1 + insn.off
        nxt = pc + 1
        c = self.branch_condition(st, insn, spec)
        if c is None:
            other = st.fork()
            work.append((other, taken_pc))
            return nxt
        c = z3.simplify(c)
        if z3.is_true(c):
            return taken_pc
        if z3.is_false(c):
            return nxt
        can_take = self.feasible(st.cond + [c])
        can_fall = self.feasible(st.cond + [z3.Not(c)])
        if can_take and can_fall:
            other = st.fork()
            other.cond.append(c)
            work.append((other, taken_pc))
            st.cond.append(z3.Not(c))
            return nxt
        if can_take:
            st.cond.append(c)
            return taken_pc
        if can_fall:
            st.cond.append(z3.Not(c))
            return nxt
        raise _Dead()

    def _call(self, st: SymState, pc: int, insn, spec, work: list) -> int | None:
        if spec.op == "local":
            if len(st.frames) >= 7:
                raise _Dead()
            st.frames.append((pc + 1, st.regs[6:10]))
            st.regs[10] = V("stack", bv(STACK), len(st.frames))
            st.regs[0] = None
            st.regs[6:10] = [None] * 4
            return pc + 1 + insn.imm
        if spec.op != "helper":
            raise _Dead()
        proto = self.platform.helpers.get(insn.imm)
        if proto is None:
            raise _Dead()
        name = proto.name
        # memory the helper writes becomes initialised (with unknown bytes)
        for i, a in enumerate(proto.args):
            if a in ("ptr_to_writable_mem", "ptr_to_uninit_map_value", "ptr_to_long",
                     "ptr_to_int", "ptr_to_writable_mem_or_null"):
                p = st.regs[i + 1]
                if p is None or p.kind != "stack":
                    continue
                if a == "ptr_to_long" or a == "ptr_to_int":
                    n = 8 if a == "ptr_to_long" else 4
                else:
                    s = st.regs[i + 2]
                    c = z3.simplify(s.x) if s is not None and s.kind == "num" else None
                    n = c.as_long() if c is not None and z3.is_bv_value(c) else 0
                c = z3.simplify(p.x)
                if z3.is_bv_value(c) and 0 < n <= STACK:
                    k = c.as_long()
                    for j in range(n):
                        st.stack[(p.region, k + j)] = self.fresh("hw", 8)
        ret = proto.ret
        if ret in ("map_value_or_null", "map_value") and name.endswith("lookup_elem") and \
                st.regs[1] is not None and st.regs[1].kind == "mapfd":
            idx = st.regs[1].region
            mp = self.program.maps[idx] if idx < len(self.program.maps) else None
            key_reg = st.regs[2]
            key: tuple = ()
            if mp is not None and key_reg is not None and key_reg.kind == "stack":
                _, key = self.stack_bytes(st, key_reg, mp.key_size)
            for r in range(1, 6):
                st.regs[r] = None
            if mp is None or mp.inner is not None or mp.type_name in (
                    "array_of_maps", "hash_of_maps", "prog_array"):
                st.regs[0] = V("opaque", self.fresh("r0"))
                return pc + 1
            region = ("lookup", pc, len(st.events))
            if mp.type_name in ("array", "percpu_array") and len(key) == 4:
                k = z3.Concat(*reversed(key))
                hit = z3.ULT(k, mp.max_entries)
            else:
                hit = None
            found = st.fork()
            if hit is not None:
                found.cond.append(hit)
                st.cond.append(z3.Not(hit))
                if not self.feasible(found.cond):
                    found = None
            if found is not None:
                found.shared[region] = (z3.Array(f"value!{pc}!{len(st.events)}", BV64, BV8),
                                        mp.value_size)
                found.regs[0] = V("shared", bv(0), region)
                found.events.append(Event(pc, "lookup", idx, tuple(key), True, region))
                work.append((found, pc + 1))
            if hit is not None and not self.feasible(st.cond):
                raise _Dead()
            st.regs[0] = V("num", bv(0), null=True)
            st.events.append(Event(pc, "lookup", idx, tuple(key), False))
            return pc + 1
        if name == "tail_call":
            for r in range(1, 6):
                st.regs[r] = None
            st.regs[0] = V("num", self.fresh("r0"))
            return pc + 1
        for r in range(1, 6):
            st.regs[r] = None
        if ret not in ("integer", "void"):
            st.regs[0] = V("opaque", self.fresh(f"ret_{name}"))
            return pc + 1
        v = self.fresh(f"ret_{name}")
        st.events.append(Event(pc, "helper", value=v))
        st.regs[0] = V("num", v)
        return pc + 1


class _Dead(Exception):
    """The path cannot continue (infeasible, or an instruction we do not model)."""


DeadPath = _Dead   # the public name, for hooks of `Explorer.explore` (verifier.crosscheck)
