"""z3 cross-checks of the verifier: concrete witnesses for its alarms, and a proof that its
invariants hold on every path of loop-free programs.

`explain(report)` searches, for each reported error, a path to the error's pc (bounded symbolic
execution, `verifier.symexec`) and inputs on which the property fails there; a `Witness` holds
the packet (or raw context) bytes, the map contents and the trace, and `replay(program, w)` runs
it on the checked interpreter to confirm the violation concretely (a trap at the pc, r0 outside
the return range, the instruction budget exhausted, or an uninitialised register / stack byte
read, which the interpreter itself cannot see: a shadow of writes tells). `check_invariants`
proves with z3 that every state of every path lies in the verifier's invariant at block entries.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import z3

from verifier import types as T
from verifier.difftest import ShadowState, entry_registers
from verifier.symexec import V, DeadPath, Explorer, SymState, bv

MEMORY_KINDS = {"packet-bounds", "stack-bounds", "map-value-bounds", "ctx-access", "null-deref",
                "invalid-memory"}
READ_ARGS = {"ptr_to_map_key", "ptr_to_map_value", "ptr_to_readable_mem",
             "ptr_to_readable_mem_or_null"}
MEM_ARGS = READ_ARGS | {"ptr_to_uninit_map_value", "ptr_to_writable_mem",
                        "ptr_to_writable_mem_or_null", "ptr_to_long", "ptr_to_int"}
UNROLL = 8
REPLAY_BUDGET = 1_000_000


@dataclass(frozen=True)
class Witness:
    """Inputs that drive the program to an error's pc and violate its property there."""

    pc: int
    kind: str
    packet: bytes | None          # the file for `bpfcheck run --packet`
    ctx: bytes | None             # the file for `bpfcheck run --ctx` (non-packet types)
    maps: dict                    # the JSON for `bpfcheck run --maps` (may be empty)
    trace: tuple[int, ...]
    choices: tuple[str, ...] = ()  # map lookup outcomes and helper results on the path

    def describe(self) -> str:
        lines = []
        if self.packet is not None:
            text = self.packet[:96].hex() + ("..." if len(self.packet) > 96 else "")
            lines.append(f"packet ({len(self.packet)} bytes): {text or '(empty)'}")
        if self.ctx is not None:
            used = self.ctx.rstrip(b"\0")
            lines.append(f"context ({len(self.ctx)} bytes): {used[:96].hex() or 'all zero'}"
                         + (" then zeros" if used and len(used) < len(self.ctx) else ""))
        if self.maps:
            lines.append(f"maps: {json.dumps(self.maps, sort_keys=True)}")
        seen = []
        for c in self.choices:
            if c not in seen:
                seen.append(c)
        lines.extend(f"{c} (x{self.choices.count(c)})" if self.choices.count(c) > 1 else c
                     for c in seen)
        t = list(self.trace)
        shown = " ".join(map(str, t if len(t) <= 40 else t[:20] + ["..."] + t[-19:]))
        lines.append(f"trace ({len(t)} instructions): {shown}")
        return "\n".join(lines)


@dataclass
class Explanation:
    """The outcome for one error: a witness (and whether replay confirmed it) or not found."""

    error: Any
    witness: Witness | None
    confirmed: bool = False
    observation: str = ""
    bounded: bool = False         # the search hit its bounds (paths / unrolling)

    @property
    def verdict(self) -> str:
        if self.witness is None:
            return "no witness within the bound: may be a false positive"
        return "confirmed" if self.confirmed else "witness not confirmed by replay"


# ---- the property at the error's pc ------------------------------------------------------------
def _reads(insn, spec) -> list[int]:
    """Registers the instruction reads."""
    k = spec.kind
    out = []
    if spec.uses_src_reg and k not in ("ldx", "ldxsx", "lddw", "call", "exit", "ja"):
        out.append(insn.src)
    if k in ("ldx", "ldxsx"):
        out.append(insn.src)
    if k in ("alu", "neg", "end", "bswap", "st", "stx", "atomic", "jcond") and \
            not (k == "alu" and spec.op == "mov"):
        out.append(insn.dst)
    if k == "exit":
        out.append(0)
    if k == "callx":
        out.append(insn.dst)
    return out


def violation(ex: Explorer, st: SymState, insn, kind: str):
    """The z3 condition, on this path, that the property `kind` fails at this instruction
    (None: this instruction cannot violate it)."""
    spec = insn.spec
    k = spec.kind
    regs = st.regs
    if kind == "uninit-register":
        reads = _reads(insn, spec)
        if k == "call" and spec.op == "helper":
            proto = ex.platform.helpers.get(insn.imm)
            reads = list(range(1, 1 + len(proto.args))) if proto else []
        return z3.BoolVal(any(regs[r] is None for r in reads))
    if kind in MEMORY_KINDS and k in ("ldx", "ldxsx", "st", "stx", "atomic"):
        base = regs[insn.src] if k in ("ldx", "ldxsx") else regs[insn.dst]
        if base is not None and base.kind == "num" and kind == "null-deref":
            return base.x == 0
        ok, _ = ex.access_ok(st, base, insn.off, spec.size, k not in ("ldx", "ldxsx"))
        return z3.Not(ok)
    if kind == "uninit-stack":
        if k in ("ldx", "ldxsx"):
            base = regs[insn.src]
            if base is None or base.kind != "stack":
                return None
            init, _ = ex.stack_bytes(st, V("stack", base.x + insn.off, base.region), spec.size)
            return z3.BoolVal(not init)
        if k == "call" and spec.op == "helper":
            return _helper_violation(ex, st, insn, uninit_only=True)
        return None
    if kind == "helper-arg" and k == "call":
        return _helper_violation(ex, st, insn)
    if kind == "exit-value" and k == "exit":
        if st.frames:
            return None
        r0 = regs[0]
        if r0 is None or r0.kind != "num":
            return z3.BoolVal(True)
        rng = getattr(ex.ptype, "return_range", None)
        if rng is None:
            return None
        return z3.Or(r0.x < rng[0], r0.x > rng[1])
    if kind == "pointer-arith" and k in ("alu", "neg", "end", "bswap"):
        ops = [regs[insn.dst]] + ([regs[insn.src]] if spec.uses_src_reg else [])
        ptr = any(v is not None and v.kind != "num" for v in ops)
        null = any(v is not None and v.null for v in ops)
        simple = spec.width == 64 and spec.op in ("add", "sub")
        return z3.BoolVal(null or (ptr and not simple))
    if kind == "pointer-leak" and k in ("stx", "atomic"):
        v, base = regs[insn.src], regs[insn.dst]
        return z3.BoolVal(v is not None and v.kind != "num" and
                          (base is None or base.kind != "stack" or spec.size != 8))
    if kind == "division-by-zero" and k == "alu" and spec.op in ("div", "mod", "sdiv", "smod"):
        if not spec.uses_src_reg:
            return z3.BoolVal(insn.imm == 0)
        s = regs[insn.src]
        return None if s is None or s.kind != "num" else (
            s.x == 0 if spec.width == 64 else z3.Extract(31, 0, s.x) == 0)
    if kind == "pointer-compare" and k == "jcond":
        a = regs[insn.dst]
        b = regs[insn.src] if spec.uses_src_reg else V("num", bv(insn.imm))
        if a is None or b is None:
            return None
        if (a.kind == "num") != (b.kind == "num"):
            n = a if a.kind == "num" else b
            return n.x != 0
        return z3.BoolVal(a.kind != "num" and (a.kind != b.kind or a.region != b.region))
    if kind in ("invalid-memory", "unknown-helper", "invalid-call", "ctx-access"):
        return z3.BoolVal(True)          # reaching the instruction is the violation
    return None


def _helper_violation(ex: Explorer, st: SymState, insn, uninit_only: bool = False):
    proto = ex.platform.helpers.get(insn.imm)
    if proto is None:
        return z3.BoolVal(not uninit_only)
    regs = st.regs
    bad = []
    mp = None
    if regs[1] is not None and regs[1].kind == "mapfd" and \
            regs[1].region < len(ex.program.maps):
        mp = ex.program.maps[regs[1].region]
    for i, a in enumerate(proto.args):
        v = regs[i + 1]
        if v is None:
            if not uninit_only:
                bad.append(z3.BoolVal(True))
            continue
        if a in MEM_ARGS:
            if a in ("ptr_to_map_key",):
                n = mp.key_size if mp else 1
            elif a in ("ptr_to_map_value", "ptr_to_uninit_map_value"):
                n = mp.value_size if mp else 1
            elif a in ("ptr_to_long", "ptr_to_int"):
                n = 8 if a == "ptr_to_long" else 4
            else:
                s = regs[i + 2] if i + 2 <= 5 else None
                c = z3.simplify(s.x) if s is not None and s.kind == "num" else None
                n = c.as_long() if c is not None and z3.is_bv_value(c) else 1
            if v.kind == "num" and a.endswith("_or_null"):
                continue
            if uninit_only:
                if a in READ_ARGS and v.kind == "stack" and n > 0:
                    init, _ = ex.stack_bytes(st, v, n)
                    bad.append(z3.BoolVal(not init))
                continue
            if v.kind not in ("stack", "packet", "shared"):
                bad.append(z3.BoolVal(True))
            elif n > 0:
                bad.append(z3.Not(ex.access_ok(st, v, 0, n, a not in READ_ARGS)[0]))
        elif uninit_only:
            continue
        elif a == "ptr_to_ctx":
            bad.append(z3.BoolVal(v.kind != "ctx"))
        elif a in ("ptr_to_map", "ptr_to_map_of_programs"):
            bad.append(z3.BoolVal(v.kind != "mapfd"))
        elif a in ("const_size",) and v.kind == "num":
            bad.append(v.x == 0)
    return z3.Or(*bad) if bad else z3.BoolVal(False)


# ---- searching ---------------------------------------------------------------------------------
def _ptype(report):
    from verifier.platform import get_platform
    plat = get_platform("linux")
    p = report.program
    try:
        return plat.program_type(report.program_type or p.type or "xdp")
    except Exception:
        return plat.program_type_for(p.type, p.section)


def find_witness(report, error, *, unroll: int = UNROLL, max_paths: int = 3000,
                 timeout_ms: int = 20000) -> tuple[Witness | None, bool]:
    """(a witness for `error` or None, whether the search was cut by its bounds)."""
    termination = error.kind == "termination"
    ex = Explorer(report.program, _ptype(report), max_visits=unroll + 1 if termination
                  else unroll, max_paths=max_paths, timeout_ms=timeout_ms)
    found: list[Witness] = []

    def visit(st: SymState, pc: int, insn) -> bool:
        if found:
            return True
        if pc != error.pc:
            return False
        if termination:
            if st.visits.get(pc, 0) <= unroll:
                return False
            c = z3.BoolVal(True)
        else:
            try:
                c = violation(ex, st, insn, error.kind)
            except DeadPath:
                return False
            if c is None:
                return False
        conds = st.cond + [c]
        model = _model(ex, conds, maximize=termination)
        if model is None:
            return False
        found.append(_witness(ex, st, model, error))
        return True

    try:
        ex.explore(visit)
    except z3.Z3Exception:
        pass
    return (found[0] if found else None), ex.truncated


def _model(ex: Explorer, conds: list, maximize: bool = False):
    if not maximize:
        s = ex.solver
        for extra in ([z3.ULE(ex.inp.plen, 64)], [z3.ULE(ex.inp.plen, 256)], []):
            r = s.check(*(conds + extra))   # small packets first: shorter witnesses
            if r == z3.sat:
                return s.model()
            if not extra and r != z3.sat:
                return None
        return None
    # termination: push the inputs the path depends on to their largest values, so that the
    # loop runs as long as the input allows (a replay then exhausts the instruction budget)
    opt = z3.Optimize()
    opt.set("timeout", 20000)
    opt.add(*conds)
    terms = set()
    for c in conds:
        terms |= _selects(c)
    for t in sorted(terms, key=str):
        opt.maximize(z3.ZeroExt(56, t) if t.size() == 8 else t)
    if opt.check() != z3.sat:
        return None
    return opt.model()


def _selects(e) -> set:
    out, todo, seen = set(), [e], set()
    while todo:
        x = todo.pop()
        if x.get_id() in seen:
            continue
        seen.add(x.get_id())
        if z3.is_select(x):
            out.add(x)
        todo.extend(x.children())
    return out


def _byte(model, e) -> int:
    return model.eval(e, model_completion=True).as_long()


def _witness(ex: Explorer, st: SymState, model, error) -> Witness:
    inp = ex.inp
    n = _byte(model, inp.plen)
    packet = ctx = None
    if inp.kind in ("xdp", "skb"):
        body = bytes(_byte(model, z3.Select(inp.pkt, bv(i))) for i in range(n))
        if inp.kind == "skb" and not inp.l2:
            p = _byte(model, inp.proto)
            body = bytes(12) + bytes([p & 0xFF, p >> 8]) + body
        packet = body
    else:
        ctx = bytes(_byte(model, z3.Select(inp.ctx, bv(i))) for i in range(inp.ctx_size))
    maps: dict = {}
    choices = []
    for ev in st.events:
        if ev.kind == "lookup":
            mp = ex.program.maps[ev.map_index]
            key = bytes(_byte(model, b) for b in ev.key) if ev.key else bytes(mp.key_size)
            if ev.found:
                arr = st.shared.get(ev.region, (None, 0))[0]
                val = bytes(_byte(model, z3.Select(z3.Array(f"value!{ev.region[1]}!"
                                                            f"{ev.region[2]}", z3.BitVecSort(64),
                                                            z3.BitVecSort(8)), bv(i)))
                            for i in range(mp.value_size)) if arr is not None else b""
                maps.setdefault(mp.name, {})[key.hex()] = val.hex()
                choices.append(f"pc {ev.pc}: map {mp.name} lookup of key {key.hex()} finds a value")
            else:
                choices.append(f"pc {ev.pc}: map {mp.name} lookup of key {key.hex()} returns NULL")
        elif ev.kind == "helper":
            choices.append(f"pc {ev.pc}: helper returns {_byte(model, ev.value)}")
    return Witness(error.pc, error.kind, packet, ctx, maps, tuple(st.trace), tuple(choices))


# ---- replay ------------------------------------------------------------------------------------
def replay(program, w: Witness, budget: int = REPLAY_BUDGET) -> tuple[bool, str]:
    """Run the witness on the checked interpreter: (the violation happened, what was seen)."""
    from runtime import context as C
    from runtime.maps import MapSet
    from runtime.vm import Machine
    maps = MapSet.for_program(program)
    if w.maps:
        maps.load(w.maps)
    machine = Machine(program, maps, checked=True)
    if w.packet is not None:
        ctx = C.for_program_type(program.type, w.packet)
    else:
        ctx = C.ctx_bytes(w.ctx or b"")
    shadow = ShadowState(program, live=entry_registers(ctx))
    state = {"seen": None, "visits": 0}

    def trace(pc: int, regs: list, memory) -> None:
        insn = program.at(pc)
        if pc == w.pc:
            state["visits"] += 1
            if state["seen"] is None:
                state["seen"] = _concrete(program, machine, insn, regs, w.kind, shadow)
        shadow.step(machine, pc, regs)

    res = machine.run(ctx, budget, trace)
    if w.kind == "termination":
        if res.error and "budget" in res.error:
            return True, (f"no exit within {budget} instructions (pc {w.pc} ran "
                          f"{state['visits']} times)")
        return False, f"the run ended after {res.steps} instructions"
    if res.error and res.pc == w.pc:
        return True, f"trap: {res.error}"
    if state["seen"]:
        return True, state["seen"]
    if w.kind == "exit-value" and not res.error and res.pc == w.pc:
        return False, f"r0 = {res.r0}"
    if state["visits"] == 0:
        return False, "the run did not reach pc " + str(w.pc) + (
            f" ({res.error})" if res.error else "")
    return False, f"reached pc {w.pc}; " + (res.error or f"r0 = {res.r0}")


# Properties a memory trap cannot show; `monitor` checks them on every executed instruction.
MONITORED_KINDS = ("uninit-register", "uninit-stack", "pointer-leak", "helper-arg",
                   "exit-value")


def monitor(program, machine, kinds=MONITORED_KINDS, flagged: dict | None = None):
    """A trace hook for the checked interpreter that records, at the first pc where the run
    shows it, a violation that memory traps cannot catch (uninitialised register or stack
    reads, pointers stored outside the stack, helper memory arguments outside readable or
    writable regions, exit values out of the program type's range) and, at the pcs in
    `flagged` (pc -> error kinds the verifier reported there), those kinds too (e.g.
    arithmetic on a NULL pointer). Returns (hook, findings): (pc, kind, description)."""
    shadow: ShadowState | None = None
    findings: list[tuple[int, str, str]] = []
    flagged = flagged or {}

    def trace(pc: int, regs: list, memory) -> None:
        nonlocal shadow
        if shadow is None:          # the run has begun: its context says which registers are set
            shadow = ShadowState(program, live=entry_registers(machine.ctx.context))
        insn = program.at(pc)
        if not findings:
            for kind in (*kinds, *flagged.get(pc, ())):
                seen = _concrete(program, machine, insn, regs, kind, shadow)
                if seen:
                    findings.append((pc, kind, seen))
                    break
        shadow.step(machine, pc, regs)
    return trace, findings


def _concrete(program, machine, insn, regs, kind: str, shadow: ShadowState) -> str | None:
    """A description of the violation when it shows in the concrete state at the pc (`shadow`:
    what the run has written before it)."""
    spec = insn.spec
    mem = machine.memory
    if kind == "uninit-register":
        reads = _reads(insn, spec)
        if spec.kind == "call" and spec.op == "helper":
            from verifier.platform import get_platform
            proto = get_platform("linux").helpers.get(insn.imm)
            reads = list(range(1, 1 + len(proto.args))) if proto else []
        bad = [r for r in reads if not shadow.written(r)]
        return f"r{bad[0]} read before any write on this run" if bad else None
    if kind == "uninit-stack":
        if spec.kind in ("ldx", "ldxsx"):
            spans = [((regs[insn.src] + insn.off) & ((1 << 64) - 1), spec.size)]
        else:
            spans = _helper_spans(program, machine, insn, regs, reads_only=True)
        for addr, n in spans:
            off = shadow.unwritten(machine, addr, n)
            if off is not None:
                return f"stack bytes at offset {off} from r10 read before any write on this run"
        return None
    if kind in MEMORY_KINDS and spec.kind in ("ldx", "ldxsx", "st", "stx", "atomic"):
        base = regs[insn.src] if spec.kind in ("ldx", "ldxsx") else regs[insn.dst]
        home = mem.find(base, 0)
        addr = (base + insn.off) & ((1 << 64) - 1)
        there = mem.find(addr, spec.size)
        if home is not None and there is not None and there is not home and \
                not (home.kind == "packet" and there is machine.ctx.packet):
            return f"{spec.size}-byte access at r{insn.src if spec.kind.startswith('ldx') else insn.dst}" \
                   f"{insn.off:+d} leaves {home.name} into {there.name} (the interpreter " \
                   f"does not trap: the regions touch)"
        return None
    if kind == "exit-value" and spec.kind == "exit" and not machine.frames:
        r0 = regs[0]
        r = mem.find(r0, 0)
        if r is not None:
            return f"returns a pointer into {r.name} (r0 = {r0:#x})"
        from verifier.platform import get_platform
        rng = None
        try:
            rng = get_platform("linux").program_type(program.type).return_range
        except Exception:
            pass
        s = r0 - (1 << 64) if r0 >> 63 else r0
        if rng is not None and not rng[0] <= s <= rng[1]:
            return f"returns r0 = {s}, outside [{rng[0]}, {rng[1]}]"
        return None
    if kind == "pointer-leak" and spec.kind in ("stx", "atomic"):
        v = regs[insn.src]
        r = mem.find(v, 0)
        dst = mem.find(regs[insn.dst] + insn.off, 1)
        if r is not None and (dst is None or dst.kind != "stack" or spec.size != 8):
            return f"stores a pointer into {r.name} (r{insn.src} = {v:#x}) into " \
                   f"{dst.name if dst else 'memory'}"
        return None
    if kind == "helper-arg" and spec.kind == "call":
        for addr, n in _helper_spans(program, machine, insn, regs, reads_only=False):
            r = mem.find(addr, max(n, 1))
            if r is None or r.kind not in ("stack", "packet", "map_value", "global", "ringbuf"):
                near = mem.find(addr, 0)
                return f"passes {n} bytes at {addr:#x} " + (
                    f"inside {near.name} ({near.kind})" if near else "outside every region")
        return None
    if kind == "pointer-arith":
        vals = [regs[insn.dst]] + ([regs[insn.src]] if spec.uses_src_reg else [])
        for v in vals:
            r = mem.find(v, 0)
            if v == 0 or r is not None:
                return f"{spec.name} on " + (f"a pointer into {r.name}" if r else "NULL")
        return None
    if kind == "pointer-compare":
        return "compares a pointer with a number"
    return None


def _helper_spans(program, machine, insn, regs, reads_only: bool) -> list[tuple[int, int]]:
    from verifier.platform import get_platform
    proto = get_platform("linux").helpers.get(insn.imm)
    if proto is None:
        return []
    mp = machine.maps.by_address(regs[1])
    out = []
    for i, a in enumerate(proto.args):
        if a not in MEM_ARGS or (reads_only and a not in READ_ARGS):
            continue
        if a == "ptr_to_map_key":
            n = mp.key_size if mp else 1
        elif a in ("ptr_to_map_value", "ptr_to_uninit_map_value"):
            n = mp.value_size if mp else 1
        elif a in ("ptr_to_long", "ptr_to_int"):
            n = 8 if a == "ptr_to_long" else 4
        else:
            n = regs[i + 2] if i + 2 <= 5 else 1
        if a.endswith("_or_null") and regs[i + 1] == 0:
            continue
        out.append((regs[i + 1], min(n, 1 << 16)))
    return out


def memory_witnesses(report, *, unroll: int = 2, max_paths: int = 500,
                     timeout_ms: int = 5000) -> tuple[list[Witness], bool]:
    """One exploration checking every memory access on every path (loops unrolled `unroll`
    times): witnesses of accesses that can fault (none for a safe program), and whether the
    search was complete."""
    ex = Explorer(report.program, _ptype(report), max_visits=unroll, max_paths=max_paths,
                  timeout_ms=timeout_ms)
    found: dict[int, Witness] = {}

    def visit(st: SymState, pc: int, insn) -> bool:
        k = insn.spec.kind
        if pc in found or k not in ("ldx", "ldxsx", "st", "stx", "atomic"):
            return False
        base = st.regs[insn.src] if k in ("ldx", "ldxsx") else st.regs[insn.dst]
        ok, what = ex.access_ok(st, base, insn.off, insn.spec.size, k not in ("ldx", "ldxsx"))
        model = _model(ex, st.cond + [z3.Not(ok)])
        if model is not None:
            found[pc] = _witness(ex, st, model, Error(pc, what or "invalid-memory"))
        return False

    try:
        ex.explore(visit)
    except z3.Z3Exception:
        return list(found.values()), False
    return list(found.values()), not ex.truncated


@dataclass(frozen=True)
class Error:
    """The part of `verifier.analyze.Error` a witness needs (pc and kind)."""

    pc: int
    kind: str


def explain(report, **bounds) -> list[Explanation]:
    """A witness (replayed) or "may be a false positive" for every error of `report`."""
    out = []
    for err in report.errors:
        w, cut = find_witness(report, err, **bounds)
        if w is None:
            out.append(Explanation(err, None, bounded=cut))
            continue
        ok, seen = replay(report.program, w)
        out.append(Explanation(err, w, ok, seen, cut))
    return out


def write_witness(w: Witness, stem: str) -> list[str]:
    """Write the witness's input files (`stem.packet` / `stem.ctx`, `stem.maps.json`)."""
    files = []
    if w.packet is not None:
        with open(stem + ".packet", "wb") as f:
            f.write(w.packet)
        files.append(stem + ".packet")
    if w.ctx is not None:
        with open(stem + ".ctx", "wb") as f:
            f.write(w.ctx)
        files.append(stem + ".ctx")
    if w.maps:
        with open(stem + ".maps.json", "w", encoding="utf-8") as f:
            json.dump(w.maps, f)
        files.append(stem + ".maps.json")
    return files


def run_command(program, w: Witness, stem: str) -> str:
    """The `bpfcheck run` command line that replays a witness written with `write_witness`."""
    parts = ["bpfcheck", "run", program.file or "FILE.o"]
    if program.section:
        parts += ["--section", program.section]
    if program.name:
        parts += ["--function", program.name]
    if w.packet is not None:
        parts += ["--packet", stem + ".packet"]
    else:
        parts += ["--ctx", stem + ".ctx"]
    if w.maps:
        parts += ["--maps", stem + ".maps.json"]
    if w.kind == "termination":  # the run exhausts this budget instead of exiting
        parts += ["--budget", "100000"]
    parts += ["--checked"]  # --checked alone picks the interpreter and its safety monitor
    return " ".join(parts)


# ---- invariants on every path (loop-free programs) ----------------------------------------------
@dataclass
class InvariantCheck:
    """The outcome of `check_invariants`: paths and states checked, violations found."""

    paths: int = 0
    states: int = 0
    violations: list[str] = field(default_factory=list)
    complete: bool = True


def _int(x, signed: bool):
    return z3.BV2Int(x, is_signed=signed)


def _env(st: SymState, ex: Explorer, value: str, v: V, field_: str):
    if field_ == "svalue" and v.kind == "num":
        return _int(v.x, True)
    if field_ == "uvalue" and v.kind == "num":
        return _int(v.x, False)
    if field_ == "packet_offset" and v.kind == "packet":
        return _int(v.x, True)
    if field_ == "ctx_offset" and v.kind == "ctx":
        return _int(v.x, True)
    if field_ == "stack_offset" and v.kind == "stack":
        return 4096 - 512 * (v.region + 1) + _int(v.x, True)
    if field_ == "shared_offset" and v.kind == "shared":
        return _int(v.x, True)
    if field_ == "shared_region_size" and v.kind == "shared":
        return z3.IntVal(st.shared.get(v.region, (None, 0))[1])
    if field_ == "map_fd" and v.kind == "mapfd":
        return z3.IntVal(v.region)
    return None


KIND_BITS = {"num": T.NUMBER, "ctx": T.CTX, "packet": T.PACKET, "stack": T.STACK,
             "shared": T.SHARED, "mapfd": T.MAP_FD | T.MAP_FD_PROGRAMS, "func": T.FUNC}


def check_invariants(report, *, max_paths: int = 2000, timeout_ms: int = 3000) -> InvariantCheck:
    """Prove with z3 that on every path (a loop-free program; loops are cut at one visit) each
    concrete state at a block entry satisfies the verifier's invariant there: register types,
    and every bound and difference of the concretisable variables."""
    from domains.linear import LinearExpression as E
    out = InvariantCheck()
    states = report.block_states()
    ex = Explorer(report.program, _ptype(report), max_visits=1, max_paths=max_paths,
                  timeout_ms=timeout_ms)
    cache: dict[int, list] = {}

    def facts(pc: int):
        if pc not in cache:
            st = states[pc]
            names = sorted(x for x in st.num.variables()
                           if x.startswith("r") or x in ("packet_size", "meta_offset"))
            bounds = [(x, st.num.interval(x)) for x in names]
            diffs = []
            for i, x in enumerate(names):
                for y in names[i + 1:]:
                    iv = st.num.interval(E.var(y) - E.var(x))
                    if iv.is_bottom() or iv.is_top():
                        continue
                    bx, by = st.num.interval(x), st.num.interval(y)
                    implied = (by - bx)
                    if implied.leq(iv):
                        continue
                    diffs.append((x, y, iv))
            cache[pc] = [st, bounds, diffs]
        return cache[pc]

    def visit(sst: SymState, pc: int, insn) -> bool:
        if pc not in states:
            return False
        st, bounds, diffs = facts(pc)
        out.states += 1
        env: dict[str, Any] = {"packet_size": _int(ex.inp.plen, False),
                               "meta_offset": z3.IntVal(0)}
        for v, mask in st.types.items():
            if not v.startswith("r"):
                continue
            sv = sst.regs[int(v[1:])]
            if sv is None:
                if not mask & T.UNINIT:
                    out.violations.append(f"pc {pc}: {v} is uninitialised on a path, the "
                                          f"verifier says {T.name(mask)}")
                continue
            if sv.kind == "opaque":
                continue
            bit = KIND_BITS[sv.kind]
            if sv.null:
                bit = T.NUMBER
            if not bit & mask:
                out.violations.append(f"pc {pc}: {v} is {T.name(bit)} on a path, the verifier "
                                      f"says {T.name(mask)}")
                continue
            for f in T.fields(bit & mask):
                e = _env(sst, ex, v, sv, f)
                if e is not None:
                    env[f"{v}.{f}"] = e
        claims = []
        for x, iv in bounds:
            if x not in env:
                continue
            if isinstance(iv.lo, int):
                claims.append((f"{x} >= {iv.lo}", env[x] >= iv.lo))
            if isinstance(iv.hi, int):
                claims.append((f"{x} <= {iv.hi}", env[x] <= iv.hi))
        for x, y, iv in diffs:
            if x not in env or y not in env:
                continue
            if isinstance(iv.lo, int):
                claims.append((f"{y} - {x} >= {iv.lo}", env[y] - env[x] >= iv.lo))
            if isinstance(iv.hi, int):
                claims.append((f"{y} - {x} <= {iv.hi}", env[y] - env[x] <= iv.hi))
        if not claims:
            return False
        s = ex.solver
        r = s.check(*(sst.cond + [z3.Not(z3.And(*[c for _, c in claims]))]))
        if r == z3.unknown:
            out.complete = False
        if r == z3.sat:
            m = s.model()
            for text, c in claims:
                if z3.is_false(m.eval(c, model_completion=True)):
                    out.violations.append(f"pc {pc}: `{text}` fails on a path")
                    break
        return False

    try:
        ex.explore(visit)
    except z3.Z3Exception as exc:
        out.complete = False
        out.violations.append(f"z3: {exc}")
    out.paths = ex.paths
    out.complete = out.complete and not ex.truncated
    return out


def files_stem(directory: str, program, error) -> str:
    """A file-name stem for a witness of `error` in `directory`."""
    base = os.path.splitext(os.path.basename(program.file or program.name))[0]
    return os.path.join(directory, f"{base}.{program.name}.pc{error.pc}")
