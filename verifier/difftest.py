"""Invariant soundness on concrete runs: every state the interpreter reaches must lie inside the
invariant the verifier computed for that pc, and an accepted program never traps.

`Monitor(report)` wraps a verified program; `monitor.run(inputs)` runs the checked interpreter
with a trace callback that, before each instruction, *concretises* the machine state into the
verifier's variables and checks it against `report.state_at(pc)`:

- types: a register (or a tracked stack cell) the verifier types must hold a value of one of its
  types (the type comes from the kind of region the value points into: ctx, packet, stack,
  map value / global / ring buffer record -> shared, map object -> map_fd, code -> func);
- numbers: `svalue` / `uvalue` of numbers, `packet_offset` (address - data), `packet_size`
  (data_end - data), `meta_offset`, `stack_offset` (the verifier's absolute convention: frame 0's
  r10 is `stack_top`, each call frame `stack_size` lower), `ctx_offset`, `shared_offset` and
  `shared_region_size`, `map_fd` (the map's index) must satisfy the numeric invariant: the domain
  projected on those variables (`forget` of the rest) must `contains` the concrete point;
- stack bytes the verifier believes initialised must have been written on this run, and
  registers it types as never uninitialised must have been written: a `ShadowState` tracks
  both (the interpreter cannot see them). `verifier.crosscheck` uses the same `ShadowState` to
  confirm uninitialised reads when it replays witnesses.

What is NOT concretised (projected away, counted in `stats["skipped"]`): loop counters
`pc[...]`, `zext`, `stack_numeric_size`, saved caller registers `fN.rK`, the `svalue` of
function pointers, shared regions that are not exactly one map value, values of a pointer type
whose region cannot be told apart, and everything after a tail call (another program's pcs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from verifier import types as T

M64 = (1 << 64) - 1
WINDOW = 1 << 17        # a pointer may stray this far from its region and still be recognised
SHARED_KINDS = ("map_value", "global", "ringbuf")
WRITE_ARGS = {"ptr_to_uninit_map_value", "ptr_to_writable_mem", "ptr_to_writable_mem_or_null",
              "ptr_to_long", "ptr_to_int"}
SIZE_ARGS = {"const_size", "const_size_or_zero", "const_alloc_size_or_zero"}
ENTRY_REGISTERS = (1 << 1) | (1 << 10)   # written at entry: r1 (the context) and r10


@dataclass(frozen=True)
class Escape:
    """A concrete state outside the verifier's invariant: a soundness bug."""

    program: str
    input: str          # a printable description of the input (packet hex, ctx, maps)
    pc: int
    what: str           # "type", "value", "relation", "stack-init", "trap", "budget"
    variable: str
    value: Any
    invariant: str

    def __str__(self) -> str:
        return (f"{self.program}: pc {self.pc}: {self.what} escape: {self.variable} = "
                f"{self.value!r} not in the invariant [{self.invariant[:300]}] on input "
                f"{self.input[:200]}")


@dataclass
class Stats:
    """What one monitor has checked so far."""

    runs: int = 0
    instructions: int = 0
    checked_states: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, what: str) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + 1


@dataclass(frozen=True)
class Input:
    """One concrete input: the runtime Context and initial map contents (JSON-able dict)."""

    context: Any
    maps: dict | None = None

    def describe(self) -> str:
        c = self.context
        text = f"{c.kind} data={c.data.hex()}"
        if c.fields:
            text += f" fields={dict(c.fields)}"
        if self.maps:
            text += f" maps={self.maps}"
        return text


def _signed(x: int) -> int:
    return x - (1 << 64) if x >> 63 else x


def entry_registers(context) -> int:
    """The registers written at a program's entry on `context` (bit i for ri): r1 and r10, and
    r2 (the length) for a memory context."""
    return ENTRY_REGISTERS | ((1 << 2) if context.kind == "mem" else 0)


def frame_top(options, frame: int) -> int:
    """The verifier's absolute stack offset of call frame `frame`'s r10 (frame 0's is
    `stack_top`, each deeper frame `stack_size` lower)."""
    return options.stack_top - options.stack_size * frame


@lru_cache(maxsize=1)
def _linux_helpers():
    from verifier.platform import get_platform
    return get_platform("linux").helpers


class ShadowState:
    """What one concrete run has written so far, which the interpreter itself cannot tell: the
    stack bytes (`stack`, a bit set over the verifier's absolute stack offsets, see `frame_top`)
    and the registers (`live`, bit i for ri).

    One per run: before an instruction ask `written` / `unwritten` (or read the bit sets), then
    call `step` with the registers it ran on. Stores, atomics and helpers' writes through their
    memory arguments mark stack bytes; a local call forgets its callee frame's bytes and r0,
    r6-r9 (restored with the caller's r6-r9 at the callee's exit); helper calls clobber r1-r5."""

    def __init__(self, program, options=None, live: int = ENTRY_REGISTERS) -> None:
        from verifier.options import Options
        self.program = program
        self.options = options or Options()
        self.stack = 0
        self.live = live
        self._saved: list[int] = []              # the callers' `live` across local calls

    # ---- questions ----------------------------------------------------------------------
    def written(self, reg: int) -> bool:
        """Whether register `reg` has been written on this run."""
        return bool(self.live >> reg & 1)

    def locate(self, machine, addr: int) -> tuple[int, int] | None:
        """(call frame, absolute verifier offset) of a concrete address on one of the machine's
        stack frames; None when it is on none."""
        for i, reg in enumerate(machine.stack):
            if reg.start <= addr < reg.end:
                return i, frame_top(self.options, i) - (machine.stack_tops[i] - addr)
        return None

    def unwritten(self, machine, addr: int, size: int) -> int | None:
        """The first of the `size` bytes at `addr` not written on this run, as an offset from
        its frame's r10; None when all were written or `addr` is on no stack frame."""
        where = self.locate(machine, addr)
        if where is None:
            return None
        i, o = where
        for j in range(size):
            if not self.stack >> (o + j) & 1:
                return o + j - frame_top(self.options, i)
        return None

    # ---- effects ------------------------------------------------------------------------
    def step(self, machine, pc: int, regs: list) -> None:
        """Record what the instruction at `pc` writes (`regs`: the registers it runs on)."""
        insn = self.program.at(pc)
        try:
            spec = insn.spec
        except KeyError:
            return
        self._stack_effects(machine, insn, spec, regs)
        self._register_effects(insn, spec)

    def mark(self, machine, addr: int, size: int) -> None:
        """Record `size` bytes written at concrete address `addr` (nothing off the stack)."""
        where = self.locate(machine, addr)
        if where is not None:
            self.stack |= ((1 << size) - 1) << where[1]

    def _stack_effects(self, machine, insn, spec, regs: list) -> None:
        kind = spec.kind
        if kind in ("st", "stx", "atomic"):
            self.mark(machine, (regs[insn.dst] + insn.off) & M64, spec.size)
        elif kind == "call" and spec.op == "local":
            lo = frame_top(self.options, len(machine.frames) + 2)
            self.stack &= ~(((1 << self.options.stack_size) - 1) << lo)
        elif kind == "call" and spec.op == "helper":
            proto = _linux_helpers().get(insn.imm)
            if proto is None:
                return
            for i, a in enumerate(proto.args):
                if a not in WRITE_ARGS:
                    continue
                if a == "ptr_to_long":
                    size = 8
                elif a == "ptr_to_int":
                    size = 4
                elif i + 1 < len(proto.args) and proto.args[i + 1] in SIZE_ARGS:
                    size = regs[i + 2]
                elif a == "ptr_to_uninit_map_value":
                    m = machine.maps.by_address(regs[1])
                    size = m.value_size if m is not None else 0
                else:
                    size = 1
                if 0 < size <= 4096:
                    self.mark(machine, regs[i + 1], size)

    def _register_effects(self, insn, spec) -> None:
        kind, live = spec.kind, self.live
        if kind in ("alu", "neg", "mov", "movsx", "end", "bswap", "ldx", "ldxsx", "lddw"):
            live |= 1 << insn.dst
        elif kind == "atomic" and (spec.op.startswith("fetch") or spec.op == "xchg"):
            live |= 1 << insn.src
        elif kind == "atomic" and spec.op == "cmpxchg":
            live |= 1
        elif kind in ("ldabs", "ldind") or (kind == "call" and spec.op != "local"):
            live = (live & ~0b111110) | 1
        elif kind == "call" and spec.op == "local":
            self._saved.append(live)
            live &= ~0b1111000001                   # r0 and r6-r9 undefined in the callee
        elif kind == "exit" and self._saved:
            live = (self._saved.pop() & 0b11111000000) | 1   # r6-r10 restored, r0 returned
        self.live = live


class Monitor:
    """Checks concrete runs of one verified program against its report's invariants."""

    def __init__(self, report, options=None) -> None:
        from verifier.options import Options
        self.report = report
        self.program = report.program
        self.options = options or Options()
        self.stats = Stats()
        self.escapes: list[Escape] = []
        self._all: dict[int, Any] | None = None
        self._projected: dict[tuple, Any] = {}

    # ---- invariants ---------------------------------------------------------------------
    def state(self, pc: int):
        """The verifier's state just before `pc` (joined over call frames)."""
        if self._all is None:
            self._all = self.report.pc_states()
        return self._all.get(pc)

    # ---- running ------------------------------------------------------------------------
    def run(self, inp: Input, budget: int = 1_000_000) -> list[Escape]:
        """Run once on `inp`, checking every executed instruction; the escapes found."""
        from runtime.maps import MapSet
        from runtime.vm import Machine
        maps = MapSet.for_program(self.program)
        if inp.maps:
            maps.load(inp.maps)
        machine = Machine(self.program, maps, checked=True)
        found: list[Escape] = []
        shadow = ShadowState(self.program, self.options, entry_registers(inp.context))
        desc = inp.describe

        def trace(pc: int, regs: list, memory) -> None:
            if machine.ops is not machine.program_ops:
                self.stats.skip("after tail call")
                return
            self.stats.instructions += 1
            st = self.state(pc)
            if st is None or st.is_bottom():
                found.append(Escape(self.program.name, desc(), pc, "reach", "pc", pc,
                                    "_|_ (the verifier says this pc is unreachable)"))
                raise _Stop()
            esc = self._check(machine, pc, regs, st, shadow.stack, shadow.live)
            if esc is not None:
                what, variable, value = esc
                found.append(Escape(self.program.name, desc(), pc, what, variable, value,
                                    str(st)))
                raise _Stop()
            shadow.step(machine, pc, regs)

        self.stats.runs += 1
        try:
            result = machine.run(inp.context, budget, trace)
        except _Stop:
            result = None
        if result is not None and result.error:
            what = "budget" if "budget" in result.error else "trap"
            found.append(Escape(self.program.name, desc(), result.pc or 0, what, "error",
                                result.error, "the verifier accepted the program"))
        self.escapes.extend(found)
        return found

    # ---- concretisation -----------------------------------------------------------------
    def _frame_of(self, offset: int) -> int:
        return (self.options.stack_top - 1 - offset) // self.options.stack_size

    def _stack_addr(self, machine, offset: int) -> int:
        i = self._frame_of(offset)
        return machine.stack_tops[i] - (frame_top(self.options, i) - offset)

    def _classify(self, machine, x: int, mask: int) -> tuple[int, dict[str, int]] | None:
        """(type bit, concrete fields) of the 64-bit value x read as one of the types of mask;
        None when it cannot be told (the value is skipped)."""
        ptrs = mask & ~T.NUMBER & ~T.UNINIT
        if not ptrs:
            return T.NUMBER, {"svalue": _signed(x), "uvalue": x}
        mem = machine.memory
        ctx = machine.ctx
        r = mem.find(x, 0)
        bit = self._region_type(machine, r) if r is not None else 0
        if bit and bit & mask:
            return bit, self._fields(machine, bit, x, r)
        if mask & T.NUMBER and x < 0x10000:
            return T.NUMBER, {"svalue": _signed(x), "uvalue": x}
        # a packet pointer may stray out of the packet (data + 14 before the bounds check)
        if ptrs & T.PACKET and ctx is not None and ctx.packet is not None and \
                abs(x - ctx.packet.start) < WINDOW:
            return T.PACKET, self._fields(machine, T.PACKET, x, ctx.packet)
        if bit:
            return bit, {}                              # inside a region of another type
        if ptrs & T.CTX and ctx is not None and ctx.ctx is not None and \
                abs(x - ctx.ctx.start) < WINDOW:
            return T.CTX, self._fields(machine, T.CTX, x, ctx.ctx)
        if ptrs & T.STACK:
            for reg in machine.stack:
                if reg.start - WINDOW < x < reg.end + WINDOW:
                    return T.STACK, self._fields(machine, T.STACK, x, reg)
        if ptrs & T.SHARED:
            near = mem.nearest(x)
            if near is not None and near.kind in SHARED_KINDS and \
                    abs(x - near.start) < WINDOW and (T.is_single(ptrs) or r is None):
                return T.SHARED, self._fields(machine, T.SHARED, x, near)
        if mask & T.NUMBER:
            return T.NUMBER, {"svalue": _signed(x), "uvalue": x}
        return None

    def _region_type(self, machine, r) -> int:
        kind = r.kind
        if kind == "ctx" or (kind == "mem" and machine.ctx is not None and
                             machine.ctx.context.kind == "bytes" and r is machine.ctx.mem):
            return T.CTX
        if kind == "packet":
            return T.PACKET
        if kind == "stack":
            return T.STACK
        if kind in SHARED_KINDS:
            return T.SHARED
        if kind == "map_object":
            return T.MAP_FD | T.MAP_FD_PROGRAMS
        if kind == "code":
            return T.FUNC
        return 0

    def _fields(self, machine, bit: int, x: int, r) -> dict[str, int]:
        ctx = machine.ctx
        if bit == T.PACKET:
            return {"packet_offset": x - ctx.packet.start}
        if bit == T.CTX:
            return {"ctx_offset": x - r.start}
        if bit == T.STACK:
            i = machine.stack.index(r)
            return {"stack_offset": frame_top(self.options, i) - (machine.stack_tops[i] - x)}
        if bit == T.SHARED:
            owner = r.owner
            size = getattr(owner, "value_size", None)
            if r.kind == "ringbuf" or (size is not None and r.end - r.start == size):
                return {"shared_offset": x - r.start, "shared_region_size": r.end - r.start}
            self.stats.skip("shared region of several values")
            return {}
        if bit & (T.MAP_FD | T.MAP_FD_PROGRAMS):
            for i, m in enumerate(machine.maps):
                if i < len(self.program.maps) and m.handle is r:
                    return {"map_fd": i}
            return {}
        return {}

    def _check(self, machine, pc: int, regs: list, st, shadow: int, live: int):
        """None when the concrete state lies in `st`; else (what, variable, value)."""
        env: dict[str, int] = {}
        sig = []
        for v, mask in st.types.items():
            if v.startswith("f"):
                continue                                # saved caller registers: skipped
            if not v.startswith("s["):
                if not live >> int(v[1:]) & 1:
                    if not mask & T.UNINIT:
                        return "uninit", f"{v}.type", f"never written on this run (verifier: " \
                                                      f"{T.name(mask)})"
                    continue
                mask &= ~T.UNINIT
            if v.startswith("s["):
                a, _, b = v[2:-1].partition("...")
                lo, hi = int(a), int(b or a) + 1
                if self._frame_of(lo) > len(machine.frames):
                    continue
                raw = machine.memory.read(self._stack_addr(machine, lo), hi - lo)
                x = int.from_bytes(raw, "little")
            else:
                x = regs[int(v[1:])]
            got = self._classify(machine, x, mask)
            if got is None:
                self.stats.skip("ambiguous pointer")
                continue
            bit, fields = got
            if not bit & mask:
                if mask & T.UNINIT:
                    continue
                return "type", f"{v}.type", f"{T.name(bit)} (verifier: {T.name(mask)})"
            bit &= mask
            sig.append((v, bit))
            for f, val in fields.items():
                env[f"{v}.{f}"] = val
        ctx = machine.ctx
        if ctx is not None and ctx.packet is not None and ctx.context.kind in ("xdp", "skb"):
            env["packet_size"] = ctx.packet.end - ctx.packet.start
            env["meta_offset"] = ctx.meta.start - ctx.packet.start
        key = (pc, tuple(sig), frozenset(env))
        cached = self._projected.get(key)
        if cached is None:
            num = st.num.copy()
            names = num.variables()
            num.forget([x for x in names if x not in env])
            cached = self._projected[key] = (num, sorted(num.variables()))
        num, names = cached
        self.stats.checked_states += 1
        if not num.contains({k: env[k] for k in names}):
            for k in sorted(env):
                iv = num.interval(k)
                if not iv.contains(env[k]):
                    return "value", k, env[k]
            return "relation", ", ".join(f"{k}={env[k]}" for k in names), "(several)"
        missing = st.stack.init & ~shadow
        if missing:
            depth = len(machine.frames)
            lo_valid = frame_top(self.options, depth + 1)
            missing &= ~((1 << lo_valid) - 1)
            if missing:
                o = (missing & -missing).bit_length() - 1
                return "stack-init", f"stack byte {o}", "never written on this run"
        return None


class _Stop(Exception):
    """Ends a run at the first escape."""


def monitor_program(program, inputs: Iterable[Input], report=None,
                    budget: int = 1_000_000) -> Monitor:
    """Verify `program` (unless `report` is given) and check every input's run against it."""
    from verifier.analyze import Options, analyze
    if report is None:
        report = analyze(program, Options(termination=True))
    mon = Monitor(report)
    if not report.ok:
        return mon
    for inp in inputs:
        mon.run(inp, budget)
    return mon

