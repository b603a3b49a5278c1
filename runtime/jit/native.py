"""The native JIT engine: `Machine`'s memory, maps, contexts and helpers, run as x86-64 code.

It shares everything with the interpreter except execution: helpers are the same Python
functions, reached through ctypes callbacks; the eBPF stack frames are one registered region so
that helpers resolve stack pointers as they do for the interpreter; packet buffers are placed
below 4 GiB so that the 32-bit `data`/`data_end` context fields hold real addresses, as a JIT
without the kernel's context rewriting needs.
"""
from __future__ import annotations

import ctypes
import mmap
import platform
import weakref
from typing import Callable

from cfg import isa
from cfg.core import CORE_POISON_HELPER
from cfg.errors import BpfcheckError
from cfg.program import Program

from runtime import context as ctxmod
from runtime.maps import ArrayMap, MapSet
from runtime.memory import GUARD, M64, PACK, Region, VmError
from runtime.vm import MAX_FRAMES, MAY_GOTO_LIMIT, STACK_SIZE, TRAP_HELPER, TRAPS, Machine, Result
from runtime.jit.x86_64 import JitLinks, NativeProgram, _Libc, compile_native

HELPER_SIGNATURE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64,
                                    ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64)
TAIL_SIGNATURE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64,
                                  ctypes.c_uint64)
MAP_32BIT = 0x40


def available() -> tuple[bool, str]:
    """Whether this host can run the native JIT (x86-64 Linux)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return False, f"the native JIT emits x86-64 code; this host is {platform.machine()}"
    if platform.system() != "Linux":
        return False, "the native JIT needs Linux (mmap/mprotect)"
    return True, ""


def _poisoned(machine, r1, r2, r3, r4, r5) -> int:
    """The helper a poisoned CO-RE instruction calls: reaching it fails the run."""
    raise VmError("call to helper 0xbad2310: a CO-RE relocation failed here (see the "
                  "verifier's error at this pc)")


def _run_time_trap(machine, pc, number, a, b, _unused) -> int:
    """TRAP_HELPER: fail the run with the interpreter's error TRAPS[number] at `pc`."""
    raise VmError(TRAPS[number].format(_signed(a), _signed(b)), pc)


def _signed(value: int) -> int:
    return value - (1 << 64) if value >> 63 else value


class _LowBuffer:
    """Anonymous memory below 4 GiB (MAP_32BIT), freed when dropped."""

    def __init__(self, size: int) -> None:
        self.size = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
        addr = _Libc.lib.mmap(None, self.size, mmap.PROT_READ | mmap.PROT_WRITE,
                              mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_32BIT, -1, 0)
        if addr in (None, ctypes.c_void_p(-1).value) or addr >= 1 << 32:
            raise MemoryError("no memory below 4 GiB for the JIT's packet buffer")
        self.address = addr
        self.array = (ctypes.c_uint64 * (self.size // 8)).from_address(addr)
        weakref.finalize(self, _Libc.lib.munmap, addr, self.size)


class _TailSwitch(Exception):
    def __init__(self, program: Program) -> None:
        self.program = program


class NativeMachine(Machine):
    """A `Machine` whose `run()` executes native code (same call shape and Result)."""

    def __init__(self, program: Program, maps: MapSet | None = None,
                 helpers: dict[int, Callable] | None = None, checked: bool = True,
                 seed: int = 0) -> None:
        ok, why = self.available()
        if not ok:
            raise BpfcheckError(why)
        super().__init__(program, maps, helpers, checked, seed)
        # One contiguous stack: frame k occupies [top - 512 (k + 1), top - 512 k).
        self._jit_stack = self.memory.add("jit stack", "stack", STACK_SIZE * MAX_FRAMES + 16)
        self._jit_stack_top = self._jit_stack.start + STACK_SIZE * MAX_FRAMES
        stack = self._jit_stack
        self._jit_stack_span = (stack.view, slice(stack.start - stack.base,
                                                  stack.end - stack.base),
                                bytes(stack.end - stack.start))
        self._synced_epoch = -1   # memory epoch when the ctx pointer fields were last written
        # [0]: error flag byte, [1]: may_goto budget, [2]: helper number for callx,
        # [3], [4]: r1 and r2 of the entry (written when a context is newly installed)
        self._cells = (ctypes.c_uint64 * 5)()
        self._error: BaseException | None = None
        self._aborted = False
        self._callbacks: dict[int, object] = {}
        self._natives: dict[int, NativeProgram] = {}
        self._tail_cb = TAIL_SIGNATURE(self._tail_call_cb)
        self._ld_cb = TAIL_SIGNATURE(self._ld_packet_cb)
        self._callx_cb = HELPER_SIGNATURE(self._callx_helper_cb)
        self._low: _LowBuffer | None = None
        self.native = self._native_for(program)

    @staticmethod
    def available() -> tuple[bool, str]:
        """Whether this engine can run on this host (subclasses with other code differ)."""
        return available()

    # --- compilation -----------------------------------------------------------------------
    @property
    def tail_call_helper(self) -> int:
        """The number under which this machine's helper table holds tail_call (Linux: 12,
        eBPF for Windows: 5): compiled code calls it specially."""
        from runtime.helpers import HELPERS
        fn = HELPERS[12]
        return next((n for n, f in sorted(self.helpers.items()) if f is fn), 12)

    def _links(self) -> JitLinks:
        cells = ctypes.addressof(self._cells)
        return JitLinks(helper=self._helper_address, lddw=self._lddw_value,
                        tail_call_helper=self.tail_call_helper,
                        stack_top=self._jit_stack_top,
                        tail_call=ctypes.cast(self._tail_cb, ctypes.c_void_p).value,
                        ld_packet=ctypes.cast(self._ld_cb, ctypes.c_void_p).value,
                        error_flag=cells, may_goto_counter=cells + 8,
                        callx_helper=ctypes.cast(self._callx_cb, ctypes.c_void_p).value,
                        callx_cell=cells + 16, args_cell=cells + 24)

    def _native_for(self, program: Program) -> NativeProgram:
        key = id(program)
        if key not in self._natives:
            self._natives[key] = compile_native(program, self._links())
        return self._natives[key]

    def _lddw_value(self, insn: isa.Insn) -> int:
        if insn.src == isa.LDDW_VARIABLE:
            raise BpfcheckError("lddw of a kernel variable (BTF id) cannot be compiled")
        if not 0 <= insn.imm < len(self.maps):
            raise BpfcheckError(f"lddw refers to map {insn.imm}; the program has {len(self.maps)}")
        m = self.maps[insn.imm]
        if insn.src in (isa.LDDW_MAP_FD, isa.LDDW_MAP_IDX):
            return m.address
        if not isinstance(m, ArrayMap):
            raise BpfcheckError(f"map value address of non-array map {m.name}")
        return m.base + (insn.next_imm & 0xFFFFFFFF)

    def _helper_address(self, helper_id: int) -> int:
        if helper_id not in self._callbacks:
            fn = self.helpers.get(helper_id)
            if fn is None and helper_id == CORE_POISON_HELPER:
                fn = _poisoned  # libbpf's failed CO-RE relocation: fails only if reached
            if fn is None and helper_id == TRAP_HELPER:
                fn = _run_time_trap
            if fn is None:
                raise BpfcheckError(f"unknown helper {helper_id}")
            self._callbacks[helper_id] = HELPER_SIGNATURE(self._wrap_helper(fn))
        return ctypes.cast(self._callbacks[helper_id], ctypes.c_void_p).value

    def _fail(self, exc: BaseException) -> int:
        self._error = exc
        self._cells[0] = 1
        return 0

    def _wrap_helper(self, fn: Callable) -> Callable:
        def call(r1, r2, r3, r4, r5):
            try:
                r0 = fn(self, r1, r2, r3, r4, r5) & M64
            except BaseException as exc:  # never let an exception cross the native frames
                return self._fail(exc)
            if self.memory.epoch != self._synced_epoch:  # a region may have moved
                self._sync_ctx()
            return r0
        return call

    def _callx_helper_cb(self, r1, r2, r3, r4, r5):
        number = self._cells[2]
        fn = self.helpers.get(number)
        if fn is None:
            return self._fail(VmError(f"callx to {number:#x}: neither a function of the program "
                                      f"nor a helper id"))
        return self._wrap_helper(fn)(r1, r2, r3, r4, r5)

    def tail_call(self, program: Program) -> None:
        """Called by the tail_call helper: switch to `program` natively."""
        self.tail_calls += 1
        raise _TailSwitch(program)

    def _tail_call_cb(self, ctx, map_addr, index):
        try:
            self.helpers[self.tail_call_helper](self, ctx, map_addr, index, 0, 0)
            return 0  # the helper returned: no program at that index, or the limit reached
        except _TailSwitch as sw:
            try:
                return self._native_for(sw.program).entry_address
            except BaseException as exc:
                return self._fail(exc)
        except BaseException as exc:
            return self._fail(exc)

    def _ld_packet_cb(self, ctx, offset, size):
        pkt = self.ctx.packet if self.ctx is not None else None
        off = offset - (1 << 32) if offset >> 31 else offset
        if pkt is None or off < 0 or off + size > pkt.end - pkt.start:
            self._aborted = True
            self._cells[0] = 1
            return 0
        return int.from_bytes(ctypes.string_at(pkt.start + off, size), "big")

    # --- contexts ------------------------------------------------------------------------
    def _lower_packet(self, inst: ctxmod.Installed) -> None:
        """Move the packet buffer below 4 GiB (same layout), so 32-bit ctx fields hold it."""
        if (inst.packet is None or inst.ctx is None or not inst.pointer_fields
                or inst.pointer_size != 4):  # 8-byte pointer fields hold any address
            return
        old_packet, old_meta = inst.packet, inst.meta
        old_buf_start = inst.buffer_start - GUARD
        total = inst.buffer_end - inst.buffer_start + 2 * GUARD
        self._low = low = _LowBuffer(total)
        ctypes.memmove(low.address, old_buf_start, total)
        delta = low.address - old_buf_start
        for attr, old in (("packet", old_packet), ("meta", old_meta)):
            if old is None:
                continue
            new = Region(old.name, old.kind, low.array, old.start + delta, old.end - old.start)
            start, end = old.start + delta, old.end + delta
            self.memory.remove(old)
            new.start, new.end = start, end
            self.memory.add_region(new)
            setattr(inst, attr, new)
        inst.buffer_start += delta
        inst.buffer_end += delta

    def _sync_ctx(self) -> None:
        """Write the packet pointers into the ctx struct (after install, and after a helper
        when regions moved: the pointers follow region bounds, which only move with the
        memory epoch)."""
        inst = self.ctx
        self._synced_epoch = self.memory.epoch
        if inst is None or inst.ctx is None:
            return
        base = inst.ctx.start - inst.ctx.base
        width = inst.pointer_size
        for off, get in inst.pointer_fields.items():
            PACK[width](inst.ctx.buf, base + off, get() & ((1 << (8 * width)) - 1))

    # --- running -------------------------------------------------------------------------
    def context_installed(self, inst: ctxmod.Installed) -> None:
        """A newly placed context: packet below 4 GiB, pointer fields written (the saved
        bytes that later runs on an equal context restore include them)."""
        self._lower_packet(inst)
        self._sync_ctx()
        self._cells[3], self._cells[4] = inst.r1 & M64, inst.r2 & M64

    def run(self, context: ctxmod.Context | None = None, budget: int = 10_000_000,
            trace=None) -> Result:
        """Run natively once. `budget` is not enforced (native code is not counted: run only
        programs proven to terminate); `trace` is not supported."""
        if trace is not None:
            raise BpfcheckError("the native JIT cannot trace instructions; use the interpreter")
        self.install_context(context)
        view, span, zero = self._jit_stack_span
        view[span] = zero
        self.reset_run_state()
        cells = self._cells
        cells[1] = MAY_GOTO_LIMIT
        r0 = self.native.enter()   # on cells [3], [4]: the installed context's r1, r2
        if not cells[0]:           # no callback failed (the common case)
            return self.result(r0, None, -1, None)
        exc, aborted = self._error, self._aborted
        self._error, self._aborted, cells[0] = None, False, 0   # clean for the next run
        error = None
        if aborted:
            r0 = 0
        elif exc is not None:
            if isinstance(exc, VmError):
                error = f"pc {exc.pc}: {exc.detail}" if exc.pc is not None else exc.detail
            else:
                error = f"{type(exc).__name__}: {exc}"
        return self.result(r0, error, -1, None)


def run(program: Program, **kwargs) -> Result:
    """Run `program` once natively; the keyword arguments are those of `runtime.vm.run`."""
    from runtime import vm

    return vm.run(program, engine=NativeMachine, **kwargs)
