"""The portable JIT (engine `pyjit`): a `Program` compiled into one Python function, run by
CPython or, where numba is importable, compiled to native code by numba.

`runtime.jit.numba_codegen` writes the function (one codegen, two dialects). This module is
the driver: it enters the compiled function, and whenever the function hands an instruction
back (helpers in the numba dialect, atomics, legacy packet loads, callx, may_goto, context
fields, faults, the end of the step budget) it runs that one instruction with the
interpreter's own pre-decoded operation and re-enters. So helpers, faults and error messages
have one implementation, and results are the interpreter's.

Dialects (`dialect=` or the environment variable `BPFCHECK_PYJIT`): "cpython", "numba", or
"auto" (the default): start in CPython and compile a program with numba once it has run
`TIER_UP_STEPS` steps on this machine (at a loop head), unless numba is missing or the
program is too big for it (`numba_fits`: numba's compile time and memory grow much faster than
the function; docs/runtime.md has the figures).
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np

from cfg.errors import BpfcheckError
from cfg.program import Program

from runtime import context as ctxmod
from runtime.jit import numba_codegen as codegen
from runtime.maps import MapSet
from runtime.memory import VmError
from runtime.vm import MAX_FRAMES, Machine, Result, _Abort, _Exit, _Switch

DIALECTS = ("auto", "cpython", "numba")
TIER_UP_STEPS = 20_000
# auto: a numba unit that comes back to the driver (helpers, atomics, ...) more often than once
# per this many steps, over its first TIER_DOWN_ENTRIES entries, runs slower than CPython
# (whose helpers are inline calls) and goes back to it
MIN_STEPS_PER_ENTRY = 64
TIER_DOWN_ENTRIES = 256
NUMBA_MAX_BLOCKS = 64  # every corpus program but one fits (the largest has 47 blocks)
NUMBA_MAX_INSNS = 400  # the one: a 12,010-instruction block compiled for over 15 minutes


def numba_fits(program: Program) -> bool:
    """Whether the auto dialect may compile `program` with numba: few enough instructions and
    blocks in the numba dialect (where each checked memory access also ends a block)."""
    return (program.end_pc <= NUMBA_MAX_INSNS
            and len(codegen.leaders(program, True)) <= NUMBA_MAX_BLOCKS)


class _CPythonUnit:
    """A program in the CPython dialect. `enter(pc, steps, limit, budget)` is the generated
    function itself (the machine's registers, frames and stack views are its globals);
    `cold` is the steps left before the auto dialect compiles it with numba (-1: never)."""

    numba = False

    def __init__(self, machine: PyJitMachine, program: Program, pid: int, cold: int) -> None:
        gen = codegen.Codegen(machine, program, "cpython", pid)
        self.source = gen.source()
        env = gen.env
        exec(compile(self.source, f"<pyjit {program.name}>", "exec"), env)  # noqa: S102
        self.enter = env["program"]
        self.program = program
        self.cold = cold
        self.loops = bool(gen.loop_heads)


class _NumbaUnit:
    """A program in the numba dialect: registers, frames and state as numpy arrays."""

    numba = True
    cold = -1

    def __init__(self, machine: PyJitMachine, program: Program, pid: int) -> None:
        self.entries = self.ran = 0
        from runtime.jit import numba_support
        gen = codegen.Codegen(machine, program, "numba", pid)
        self.source = gen.source()
        self.fn = numba_support.compile_module(self.source)
        self.cache = np.zeros(gen.sites, np.int64)
        self.values = np.array(gen.values, np.uint64)
        self.program = program
        self.m = machine

    def enter(self, pc: int, steps: int, limit: int, budget: int) -> tuple[int, int, int]:
        m = self.m
        R, F, S = m._R, m._F, m._S
        R[:] = m.regs
        frames = m.frames
        for i, f in enumerate(frames):
            F[i, :6] = f[:6]
            F[i, 6] = m._pid_of_ops[id(f[6])]
        S[:] = (pc, steps, limit, len(frames), m.deepest)
        m.refresh_table()
        status = self.fn(R, F, S, m._LO, m._HI, m._FL, self.cache, m._TOPS, self.values)
        m.regs[:] = R.tolist()
        nf = int(S[3])
        if nf or frames:
            ops = m._ops_by_pid
            frames[:] = [(*row[:6], ops[row[6]]) for row in F[:nf].tolist()]
        m.deepest = int(S[4])
        self.entries += 1
        self.ran += int(S[1]) - steps
        return status, int(S[0]), int(S[1])

    def chatty(self) -> bool:
        """Whether it has returned to the driver too often to be worth its entry cost."""
        return (self.entries >= TIER_DOWN_ENTRIES
                and self.ran < self.entries * MIN_STEPS_PER_ENTRY)


def _dialect_from_env() -> str:
    value = os.environ.get("BPFCHECK_PYJIT", "auto").strip().lower() or "auto"
    if value not in DIALECTS:
        raise BpfcheckError(f"BPFCHECK_PYJIT={value!r}: expected one of {', '.join(DIALECTS)}")
    return value


class PyJitMachine(Machine):
    """A `Machine` whose `run()` executes the program compiled to Python (and numba)."""

    def __init__(self, program: Program, maps: MapSet | None = None,
                 helpers: dict[int, Callable] | None = None, checked: bool = True,
                 seed: int = 0, dialect: str | None = None) -> None:
        super().__init__(program, maps, helpers, checked, seed)
        self.dialect = dialect or _dialect_from_env()
        if self.dialect not in DIALECTS:
            raise BpfcheckError(f"unknown pyjit dialect {self.dialect!r} "
                                f"(known: {', '.join(DIALECTS)})")
        if self.dialect == "numba":
            from runtime.jit import numba_support
            ok, why = numba_support.available()
            if not ok:
                raise BpfcheckError(f"the numba dialect of pyjit is unavailable: {why}")
        tops = {r.end - r.base for r in self.stack}
        assert len(tops) == 1, "every frame is laid out alike"
        self._frame_top_index = tops.pop()
        self._frame_views = [tuple(r.views[n] for n in (1, 2, 4, 8)) for r in self.stack]
        self._pid_of_ops: dict[int, int] = {}
        self._ops_by_pid: list[list] = []
        self._units: dict[int, object] = {}      # pid -> the unit running it now
        self._cpython_units: dict[int, _CPythonUnit] = {}  # pid -> before its tier-up
        self._numba_units: list[_NumbaUnit] = []
        self._stamp = None
        self.jit_steps = self.jit_pc = 0
        self._unit_for(program)
        self._entry_pid = self._pid(program)

    # -- units --------------------------------------------------------------------------------
    def _pid(self, program: Program) -> int:
        ops = self.compile(program)
        if id(ops) not in self._pid_of_ops:
            self._pid_of_ops[id(ops)] = len(self._ops_by_pid)
            self._ops_by_pid.append(ops)
        return self._pid_of_ops[id(ops)]

    def _unit_for(self, program: Program):
        pid = self._pid(program)
        if pid not in self._units:
            if self.dialect == "numba":
                self._units[pid] = self._numba_unit(program, pid)
            else:
                unit = self._units[pid] = _CPythonUnit(self, program, pid, -1)
                # tier-up happens at a loop head: loop-free programs stay (and run cheaply)
                if self.dialect == "auto" and unit.loops and numba_fits(program):
                    unit.cold = TIER_UP_STEPS
        return self._units[pid]

    def _numba_unit(self, program: Program, pid: int) -> _NumbaUnit:
        if not self._numba_units:
            self._R = np.zeros(11, np.uint64)
            self._F = np.zeros((MAX_FRAMES, 7), np.uint64)
            self._S = np.zeros(5, np.int64)
            self._TOPS = np.array(self.stack_tops, np.uint64)
        unit = _NumbaUnit(self, program, pid)
        self._numba_units.append(unit)
        self._stamp = None
        return unit

    def _tier_up(self, pid: int):
        """Compile program `pid` with numba (auto dialect); keep CPython if that fails."""
        from runtime.jit import numba_support
        self._units[pid].cold = -1
        if not numba_support.available()[0]:
            return self._units[pid]
        self._cpython_units[pid] = self._units[pid]
        try:
            self._units[pid] = self._numba_unit(self._units[pid].program, pid)
        except Exception:  # noqa: BLE001 - a numba limitation must not stop the run
            pass
        return self._units[pid]

    def _tier_down(self, pid: int):
        """Back to the CPython unit of program `pid` for good (auto dialect, chatty numba)."""
        self._units[pid] = self._cpython_units[pid]
        return self._units[pid]

    def _unit_for_ops(self, ops: list):
        for entry in self._compiled.values():
            if entry[0] is ops:
                return self._unit_for(entry[2])
        raise BpfcheckError("pyjit: switched to a program it never compiled")  # pragma: no cover

    @property
    def source(self) -> str:
        """The generated source of the entry program (for reading and debugging)."""
        return self._units[self._pid(self.program)].source

    def refresh_table(self) -> None:
        """Rebuild the numba dialect's region table when regions moved, went or came."""
        regions = self.memory._regions
        stamp = (self.memory.epoch, len(regions))
        if stamp == self._stamp:
            return
        self._stamp = stamp
        # ctx fields are translated in Python; empty regions (packet meta) hold no access
        usable = [r for r in regions if r.kind != "ctx" and r.end > r.start]
        self._LO = np.array([0] + [r.start for r in usable], np.uint64)
        self._HI = np.array([0] + [r.end for r in usable], np.uint64)
        self._FL = np.array([0] + [int(r.readable) | (2 * int(r.writable)) for r in usable],
                            np.uint8)
        for unit in self._numba_units:
            unit.cache[:] = 0

    # -- slow memory paths of the CPython dialect: exact steps and r0 when they fault --------
    def jit_load(self, a: int, size: int, pc: int, cache: list, steps: int, r0: int) -> int:
        try:
            return self.slow_load(a, size, pc, cache)
        except VmError:
            self.jit_steps, self.jit_pc, self.regs[0] = steps, pc, r0
            raise

    def jit_store(self, a: int, size: int, value: int, pc: int, cache: list, steps: int,
                  r0: int) -> None:
        try:
            self.slow_store(a, size, value, pc, cache)
        except VmError:
            self.jit_steps, self.jit_pc, self.regs[0] = steps, pc, r0
            raise

    # -- running ------------------------------------------------------------------------------
    def run(self, context: ctxmod.Context | None = None, budget: int = 10_000_000,
            trace=None) -> Result:
        """Run once; the same result as the interpreter (`trace` is not supported)."""
        if trace is not None:
            raise BpfcheckError("the portable JIT cannot trace instructions; use the interpreter")
        self.install_context(context)
        self.clear_stack()
        ctx = self.ctx
        regs = self.regs
        regs[:] = (0, ctx.r1, ctx.r2, 0, 0, 0, 0, 0, 0, 0, self.stack_tops[0])
        self.reset_run_state()
        self.ops = self.program_ops
        pid = self._entry_pid
        unit = self._units[pid]
        pc = steps = 0
        error = err_pc = None
        while True:
            in_jit = True
            try:
                cold = unit.cold
                limit = budget if cold < 0 else min(budget, steps + cold)
                status, pc2, steps2 = unit.enter(pc, steps, limit, budget)
                if cold >= 0:
                    unit.cold = max(0, cold - (steps2 - steps))
                pc, steps = pc2, steps2
                if status == codegen.EXIT:
                    err_pc = pc
                    break
                if status == codegen.LIMIT and limit < budget:
                    unit = self._tier_up(pid)
                    continue
                if unit.numba and pid in self._cpython_units and unit.chatty():
                    unit = self._tier_down(pid)
                in_jit = False
                # one instruction on the interpreter (PY, or the last steps of the budget)
                if steps >= budget:
                    error, err_pc = f"instruction budget of {budget} exhausted", pc
                    break
                steps += 1
                pc = self.ops[pc]()
            except _Exit:
                err_pc = pc
                break
            except _Abort:
                regs[0], err_pc = 0, pc
                break
            except _Switch as sw:
                if in_jit:
                    steps, pc = self.jit_steps, self.jit_pc
                self.ops, pc = sw.ops, sw.pc
                if sw.program is not None:
                    regs[1] = self.ctx.r1
                unit = self._unit_for_ops(sw.ops)
                pid = self._pid_of_ops[id(sw.ops)]
            except VmError as exc:
                if in_jit:
                    steps, pc = self.jit_steps, self.jit_pc
                err_pc = exc.pc if exc.pc is not None else pc
                error = f"pc {err_pc}: {exc.detail}"
                break
        return self.result(regs[0], error, steps, err_pc)
