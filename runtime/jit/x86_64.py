"""Translate an eBPF `Program` into native x86-64 code.

Register mapping (as the Linux JIT does, so helper calls need no argument shuffling under the
System V ABI): r0=rax, r1=rdi, r2=rsi, r3=rdx, r4=rcx, r5=r8, r6=rbx, r7=r13, r8=r14, r9=r15,
r10=rbp. r9, r10 and r11 of the host are scratch.

Each eBPF function becomes a native function with its own 512-byte frame below rbp; r6-r9 and
r10 are callee-saved, so bpf-to-bpf calls are plain native calls. A function saves only the
callee-saved registers it names (and rbp only when it uses its frame or calls), and keeps rsp
16-byte aligned at every call it makes; the entry function also saves r12 (the host rsp for
the bail-out path) when something can fail. Helpers are called through native function
pointers that the caller supplies (`JitLinks`), so this module knows nothing of maps or helpers.

The code is written into anonymous memory while it is read-write, then switched to read-execute
with mprotect; it is never writable and executable at once, and is unmapped when the
`NativeProgram` is dropped.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import weakref
from dataclasses import dataclass
from typing import Callable

from cfg import isa
from cfg.errors import ProgramError
from cfg.graph import functions
from cfg.program import Program
from runtime.vm import FELL_OFF, TRAP_HELPER, run_time_trap, runs_past_end
from runtime.jit.x86_encoder import (
    CC_A, CC_AE, CC_B, CC_BE, CC_E, CC_G, CC_GE, CC_L, CC_LE, CC_NE, OP_ADD, OP_AND, OP_CMP,
    OP_OR, OP_SUB, OP_XOR, R8, R9, R10, R11, R12, R13, R14, R15, RAX, RBP, RBX, RCX, RDI, RDX,
    RSI, RSP, Assembler, Label,
)

REG = (RAX, RDI, RSI, RDX, RCX, R8, RBX, R13, R14, R15, RBP)
STACK_SIZE = 512

_ALU_GROUP1 = {"add": OP_ADD, "sub": OP_SUB, "or": OP_OR, "and": OP_AND, "xor": OP_XOR}
_SHIFT_DIGIT = {"lsh": 4, "rsh": 5, "arsh": 7}
_JCC = {"jeq": CC_E, "jne": CC_NE, "jgt": CC_A, "jge": CC_AE, "jlt": CC_B, "jle": CC_BE,
        "jsgt": CC_G, "jsge": CC_GE, "jslt": CC_L, "jsle": CC_LE, "jset": CC_NE}
_ATOMIC_GROUP1 = {"add": OP_ADD, "or": OP_OR, "and": OP_AND, "xor": OP_XOR}


@dataclass(frozen=True)
class _Frame:
    """What a function's prologue saves (pushed in this order) and whether it pads rsp to keep
    calls 16-byte aligned."""

    saved: tuple[int, ...]
    pad: bool


@dataclass
class JitLinks:
    """What the translated code calls or loads, all as native addresses/values.

    helper(id) -> function pointer `u64 f(u64, u64, u64, u64, u64)`;
    lddw(insn) -> the 64-bit value a pseudo lddw (map reference) loads;
    tail_call: `u64 f(ctx, map, index)` returning the entry address of the target or 0;
    ld_packet: `u64 f(ctx, offset, size)` for ld_abs/ld_ind, setting *error_flag on failure;
    stack_top: top of frame 0 in a region of 8 * 512 bytes the caller owns;
    error_flag: a byte the callbacks set when they fail (the code then returns at once);
    may_goto_counter: the address of a u64 budget for may_goto;
    args_cell: the address of two u64, r1 and r2 for `NativeProgram.enter()` (0: no such entry).
    """

    helper: Callable[[int], int]
    lddw: Callable[[isa.Insn], int]
    stack_top: int
    tail_call: int = 0
    ld_packet: int = 0
    error_flag: int = 0
    may_goto_counter: int = 0
    callx_helper: int = 0   # u64 f(r1..r5) calling the helper whose number is in *callx_cell
    callx_cell: int = 0
    tail_call_helper: int = 12  # the helper number of tail_call in the machine's table
    args_cell: int = 0


class _Libc:
    lib = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    lib.mmap.restype = ctypes.c_void_p
    lib.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                         ctypes.c_int, ctypes.c_long)
    lib.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    lib.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)


def _unmap(address: int, size: int) -> None:
    _Libc.lib.munmap(address, size)


class NativeProgram:
    """Machine code for one program; call it with (r1, r2) to run the entry function, or
    `enter()` to run it on the r1 and r2 stored at `JitLinks.args_cell` (the cheapest call
    ctypes makes: no argument to convert)."""

    # void * arguments: ctypes converts them several times faster than c_uint64 ones
    _SIGNATURE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p)
    _ENTER = ctypes.CFUNCTYPE(ctypes.c_uint64)

    def __init__(self, asm: Assembler, entry: Label, functions: dict[int, Label],
                 enter: Label | None = None) -> None:
        size = max(asm.layout(), 1)
        self.size = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
        addr = _Libc.lib.mmap(None, self.size, mmap.PROT_READ | mmap.PROT_WRITE,
                              mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise MemoryError("mmap failed for JIT code")
        self.address = addr
        self._finalizer = weakref.finalize(self, _unmap, addr, self.size)
        code = asm.link(addr)
        ctypes.memmove(addr, code, len(code))
        if _Libc.lib.mprotect(addr, self.size, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
            raise OSError(ctypes.get_errno(), "mprotect failed for JIT code")
        self.code_size = len(code)
        self.entry_address = addr + entry.position
        self.function_addresses = {pc: addr + lab.position for pc, lab in functions.items()}
        self._fn = self._SIGNATURE(self.entry_address)
        self.enter = self._ENTER(addr + enter.position) if enter is not None else None

    def __call__(self, r1: int = 0, r2: int = 0) -> int:
        return self._fn(r1 & 0xFFFFFFFFFFFFFFFF, r2 & 0xFFFFFFFFFFFFFFFF)

    def release(self) -> None:
        self._finalizer()


class _Translator:
    def __init__(self, program: Program, links: JitLinks) -> None:
        self.p = program
        self.links = links
        self.a = Assembler()
        self.labels = {pc: Label() for pc in program.pcs}
        self.functions = functions(program)
        self.func_labels = {fn.start: Label() for fn in self.functions}
        self.exit = Label()   # the epilogue of the function being translated
        self.in_main = True
        self.bail = Label()
        self.bail_used = False
        self.code_start, self.code_end = Label(), Label()

    # -- prologues and epilogues --------------------------------------------------------------
    def frame(self, insns: list[isa.Insn], is_main: bool, runs_on: bool, traps: bool) -> _Frame:
        """The registers a function's code can change, from the registers it names: r6-r9,
        rbp when it names r10 or calls another function (callees find their frame from it;
        running on into the next function is such a call), and in the entry function r12 when
        anything in the program can fail. A trap is a helper call."""
        named = {r for insn in insns for r in (insn.dst, insn.src)}
        if is_main:   # the entry zeroes r6-r9 for the whole program (see zero_registers)
            named |= self.program_named & {6, 7, 8, 9}
        kinds = {(insn.spec.kind, insn.spec.op) for insn in insns}
        calls_code = (runs_on or ("call", "local") in kinds
                      or any(k == "callx" for k, _ in kinds))
        calls = calls_code or traps or any(k in ("call", "ldabs", "ldind") for k, _ in kinds)
        saved = [RBP] if 10 in named or calls_code else []
        saved += [REG[r] for r in (6, 7, 8, 9) if r in named]
        if is_main and self.may_fail:
            saved.append(R12)
        # the return address and the pushes: rsp is 16-byte aligned after an odd number
        return _Frame(tuple(saved), calls and len(saved) % 2 == 0)

    def prologue(self, frame: _Frame, is_main: bool) -> None:
        """Save what the function changes and point r10 at this frame's top.

        The eBPF frames live in the caller-supplied stack region (so helpers can resolve
        pointers into them), frame k's top at `stack_top - 512 * k`; the host stack only holds
        saved registers and return addresses."""
        a = self.a
        for r in frame.saved:
            a.push(r)
        if frame.pad:
            a.alu_ri(OP_SUB, RSP, 8)
        if R12 in frame.saved:
            a.mov_rr(R12, RSP)
        if RBP in frame.saved:
            if is_main:
                a.mov_ri(RBP, self.links.stack_top)
            else:
                a.alu_ri(OP_SUB, RBP, STACK_SIZE)
        if is_main:
            self.zero_registers()

    def zero_registers(self) -> None:
        """r0 and r3-r9 start at 0, as on the interpreter, rather than holding host values
        (the verifier refuses reading them before writing; an --unverified run would otherwise
        see host addresses)."""
        for r in (0, 3, 4, 5, 6, 7, 8, 9):
            if r in self.program_named:
                self.a.zero(REG[r])

    def epilogue(self, exit: Label, frame: _Frame) -> None:
        self.a.bind(exit)
        self._unwind(frame)
        self.a.ret()

    def bail_path(self) -> None:
        """A helper reported an error: return straight to the host, whatever the depth (the
        engine reads the error; r12 holds the host rsp of the entry frame). Only emitted when
        some code jumps to it."""
        if not self.bail_used:
            return
        a = self.a
        a.bind(self.bail)
        a.mov_rr(RSP, R12)
        self._unwind(self.main_frame)
        a.ret()

    def _unwind(self, frame: _Frame) -> None:
        a = self.a
        if frame.pad:
            a.alu_ri(OP_ADD, RSP, 8)
        for r in reversed(frame.saved):
            a.pop(r)

    # -- driver ---------------------------------------------------------------------------------
    def translate(self) -> NativeProgram:
        main_fn, last_fn = self.functions[0], self.functions[-1]
        items = list(self.p.items())
        codes, i = [], 0
        for fn in self.functions:
            first = i
            while i < len(items) and items[i][0] < fn.end:
                i += 1
            codes.append(items[first:i])
        self.program_named = {r for _, insn in items for r in (insn.dst, insn.src)}
        past = [runs_past_end(fn.end, code) for fn, code in zip(self.functions, codes)]
        traps = [any(run_time_trap(self.p, pc, insn) for pc, insn in code) for code in codes]
        self.may_fail = past[-1] or any(traps) or any(
            insn.spec.kind in ("call", "callx", "ldabs", "ldind") and insn.spec.op != "local"
            for _, insn in items)
        frames = {fn.start: self.frame([insn for _, insn in code], fn is main_fn,
                                       runs_past and fn is not last_fn, trap or
                                       (runs_past and fn is last_fn))
                  for fn, code, runs_past, trap in zip(self.functions, codes, past, traps)}
        self.main_frame = frames[main_fn.start]
        self.a.bind(self.code_start)
        for n, (fn, code) in enumerate(zip(self.functions, codes)):
            self.fn, self.in_main, self.exit, self.past_end = fn, fn is main_fn, Label(), Label()
            # calls enter before the prologue; jumps to the first instruction after it
            self.a.bind(self.func_labels[fn.start])
            self.prologue(frames[fn.start], self.in_main)
            for pc, insn in code:
                self.a.bind(self.labels[pc])
                self.insn(pc, insn)
            if past[n]:
                self.a.bind(self.past_end)
                if fn is last_fn:
                    self.trap(fn.end, FELL_OFF)
                else:
                    self.run_on_into(self.functions[n + 1], frames)
            # the epilogue follows the code, so that the last exit jumps nowhere
            self.epilogue(self.exit, frames[fn.start])
        self.bail_path()
        self.a.bind(self.code_end)
        enter = self.enter_stub(self.func_labels[main_fn.start])
        return NativeProgram(self.a, self.func_labels[main_fn.start], self.func_labels, enter)

    def run_on_into(self, following, frames: dict[int, _Frame]) -> None:
        """Past a function's end control runs on into the next function in the same frame,
        as on the interpreter: called with rbp one frame up when it takes a frame of its own
        (this function saved rbp, its epilogue restores it), its r0 returned."""
        if RBP in frames[following.start].saved:
            self.a.alu_ri(OP_ADD, RBP, STACK_SIZE)
        self.a.call(self.func_labels[following.start])

    def trap(self, pc: int, number: int, *values: int) -> None:
        """Fail the run here with the interpreter's TRAPS[number], through the engine's
        TRAP_HELPER, and return to the host."""
        a = self.a
        for reg, value in zip((RDI, RSI, RDX, RCX), (pc, number, *values)):
            a.mov_ri(reg, value)
        a.mov_ri(R11, self.links.helper(TRAP_HELPER))
        a.call_reg(R11)
        a.jmp(self.bail)
        self.bail_used = True

    def enter_stub(self, main: Label) -> Label | None:
        """An entry without arguments: r1, r2 from `links.args_cell`, then the entry function
        (jumped to, so it returns straight to the host)."""
        if not self.links.args_cell:
            return None
        a, stub = self.a, Label()
        a.bind(stub)
        a.mov_ri(R11, self.links.args_cell)
        a.load(RDI, R11, 0, 8)
        a.load(RSI, R11, 8, 8)
        a.jmp(main)
        return stub

    def target(self, pc: int, insn: isa.Insn) -> Label:
        dest = pc + 1 + insn.jump_offset
        if dest == self.fn.end:   # runs on past the end (run_on_into or a trap)
            return self.past_end
        if not self.fn.start <= dest < self.fn.end or dest not in self.labels:
            raise ProgramError(f"jump to {dest}, which is no instruction of this function", pc)
        return self.labels[dest]

    # -- one instruction ------------------------------------------------------------------------
    def insn(self, pc: int, insn: isa.Insn) -> None:
        trap = run_time_trap(self.p, pc, insn)
        if trap is not None:
            self.trap(pc, trap[0], *trap[1])
            return
        spec = insn.spec
        handler = getattr(self, "k_" + spec.kind)
        handler(pc, insn, spec)

    def _src_into(self, insn: isa.Insn, spec: isa.Spec, scratch: int, w: bool) -> int:
        """The source operand in a register (the insn's src, or the imm loaded in scratch)."""
        if spec.uses_src_reg:
            return REG[insn.src]
        self.a.mov_ri(scratch, insn.imm, w)
        return scratch

    def k_alu(self, pc, insn, spec) -> None:
        a, w, dst = self.a, spec.width == 64, REG[insn.dst]
        op = spec.op
        if op in _ALU_GROUP1:
            if spec.uses_src_reg:
                a.alu_rr(_ALU_GROUP1[op], dst, REG[insn.src], w)
            else:
                # a non-negative mask clears the upper half anyway: the 32-bit form is shorter
                narrow = op == "and" and insn.imm >= 0
                a.alu_ri(_ALU_GROUP1[op], dst, insn.imm, w and not narrow)
        elif op == "mul":
            if spec.uses_src_reg:
                a.imul_rr(dst, REG[insn.src], w)
            else:
                a.imul_ri(dst, insn.imm, w)
        elif op in _SHIFT_DIGIT:
            digit = _SHIFT_DIGIT[op]
            if not spec.uses_src_reg:
                a.shift_ri(digit, dst, insn.imm & (63 if w else 31), w)
                if not w and not insn.imm & 31:
                    a.mov_rr(dst, dst, False)  # a zero shift still zero-extends
            else:
                self._shift_reg(digit, dst, REG[insn.src], w)
        else:
            self._divmod(insn, spec, dst, w)

    def _shift_reg(self, digit: int, dst: int, src: int, w: bool) -> None:
        a = self.a
        if src == RCX and dst != RCX:
            a.shift_cl(digit, dst, w)
            return
        a.mov_rr(R11, RCX)           # save r4
        a.mov_rr(RCX, src)
        if dst == RCX:
            a.shift_cl(digit, R11, w)
            a.mov_rr(RCX, R11)
        else:
            a.shift_cl(digit, dst, w)
            a.mov_rr(RCX, R11)

    def _divmod(self, insn, spec, dst: int, w: bool) -> None:
        """eBPF division: x / 0 = 0, x % 0 = x, INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0.

        By an immediate these cases are known at translation time: 0 and (signed) -1 need no
        division at all, any other immediate no check."""
        a, op = self.a, spec.op
        signed = op in ("sdiv", "smod")
        is_div = op in ("div", "sdiv")
        if not spec.uses_src_reg:
            if insn.imm == 0:
                self._by_zero(dst, w, is_div)
            elif signed and insn.imm == -1:
                self._by_minus_one(dst, w, is_div)
            else:
                a.mov_ri(R11, insn.imm, w)  # sign-extended to 64 bits, or the 32 bits
                self._divide(dst, w, signed, is_div)
            return
        done, nonzero = Label(), Label()
        a.mov_rr(R11, REG[insn.src])
        a.test_rr(R11, R11, w)
        a.jcc(CC_NE, nonzero)
        self._by_zero(dst, w, is_div)
        a.jmp(done)
        a.bind(nonzero)
        if signed:
            regular = Label()
            a.alu_ri(OP_CMP, R11, -1, w)
            a.jcc(CC_NE, regular)
            self._by_minus_one(dst, w, is_div)
            a.jmp(done)
            a.bind(regular)
        self._divide(dst, w, signed, is_div)
        a.bind(done)

    def _by_zero(self, dst: int, w: bool, is_div: bool) -> None:
        if is_div:
            self.a.zero(dst)
        elif not w:
            self.a.mov_rr(dst, dst, False)   # the 32-bit x % 0 = x, zero-extended

    def _by_minus_one(self, dst: int, w: bool, is_div: bool) -> None:
        if is_div:
            self.a.unary(3, dst, w)          # neg: wraps INT_MIN to itself
        else:
            self.a.zero(dst)

    def _divide(self, dst: int, w: bool, signed: bool, is_div: bool) -> None:
        """dst = dst / r11 or dst % r11 with div/idiv, which need rax and rdx: those of them
        that are not dst are saved around it."""
        a = self.a
        saved = [r for r in (RAX, RDX) if r != dst]
        for r in saved:
            a.push(r)
        if dst != RAX:
            a.mov_rr(RAX, dst, w)
        if signed:
            a.cqo() if w else a.cdq()
        else:
            a.zero(RDX)
        a.unary(7 if signed else 6, R11, w)
        result = RAX if is_div else RDX
        if dst != result:
            a.mov_rr(dst, result, w)          # before the pops: they restore only others
        for r in reversed(saved):
            a.pop(r)

    def k_neg(self, pc, insn, spec) -> None:
        self.a.unary(3, REG[insn.dst], spec.width == 64)

    def k_mov(self, pc, insn, spec) -> None:
        w = spec.width == 64
        if spec.uses_src_reg:
            self.a.mov_rr(REG[insn.dst], REG[insn.src], w)
        elif insn.imm == 0:
            self.a.zero(REG[insn.dst])   # flags are dead between eBPF instructions
        else:
            self.a.mov_ri(REG[insn.dst], insn.imm, w)

    def k_movsx(self, pc, insn, spec) -> None:
        self.a.movsx_rr(REG[insn.dst], REG[insn.src], spec.size * 8, spec.width == 64)

    def k_end(self, pc, insn, spec) -> None:
        a, dst, bits = self.a, REG[insn.dst], spec.size * 8
        if spec.op == "le":
            if bits == 16:
                a.movzx_rr(dst, dst, 16)
            elif bits == 32:
                a.mov_rr(dst, dst, False)
            return
        self.k_bswap(pc, insn, spec)

    def k_bswap(self, pc, insn, spec) -> None:
        a, dst, bits = self.a, REG[insn.dst], spec.size * 8
        if bits == 16:
            a.ror16_8(dst)
            a.movzx_rr(dst, dst, 16)
        else:
            a.bswap(dst, bits == 64)

    def k_ldx(self, pc, insn, spec) -> None:
        self.a.load(REG[insn.dst], REG[insn.src], insn.off, spec.size)

    def k_ldxsx(self, pc, insn, spec) -> None:
        self.a.load(REG[insn.dst], REG[insn.src], insn.off, spec.size, signed=True)

    def k_st(self, pc, insn, spec) -> None:
        self.a.store_imm(REG[insn.dst], insn.off, insn.imm, spec.size)

    def k_stx(self, pc, insn, spec) -> None:
        self.a.store(REG[insn.dst], insn.off, REG[insn.src], spec.size)

    def k_atomic(self, pc, insn, spec) -> None:
        a, w = self.a, spec.size == 8
        base, src, off, op = REG[insn.dst], REG[insn.src], insn.off, spec.op
        if op in _ATOMIC_GROUP1:
            a.lock_alu_mem(_ATOMIC_GROUP1[op], base, off, src, w)
        elif op == "fetch_add":
            a.lock_xadd(base, off, src, w)
        elif op == "xchg":
            a.xchg_mem(base, off, src, w)
        elif op == "cmpxchg":
            a.lock_cmpxchg(base, off, src, w)
            if not w:
                a.mov_rr(RAX, RAX, False)  # r0 gets the zero-extended old value
        else:  # fetch_or / fetch_and / fetch_xor: a compare-and-swap loop
            group = _ATOMIC_GROUP1[op[len("fetch_"):]]
            retry = Label()
            a.push(RAX)
            a.lea(R9, base, off)
            a.mov_rr(R10, src)
            a.bind(retry)
            a.load(RAX, R9, 0, 8 if w else 4)
            a.mov_rr(R11, RAX)
            a.alu_rr(group, R11, R10, w)
            a.lock_cmpxchg(R9, 0, R11, w)
            a.jcc(CC_NE, retry)
            a.mov_rr(R10, RAX, w)
            a.pop(RAX)
            a.mov_rr(src, R10)

    def k_lddw(self, pc, insn, spec) -> None:
        dst = REG[insn.dst]
        if insn.src == isa.LDDW_IMM64:
            if insn.imm64 & 0xFFFFFFFFFFFFFFFF == 0:
                self.a.zero(dst)
            else:
                self.a.mov_ri(dst, _signed64(insn.imm64))
        elif insn.src == isa.LDDW_CODE:
            target = pc + 1 + insn.imm
            if target not in self.func_labels:
                raise ProgramError(f"lddw code address {target} is not a function", pc)
            self.a.mov_label_address(dst, self.func_labels[target])
        else:
            self.a.mov_ri(dst, _signed64(self.links.lddw(insn)))

    def _ld_packet(self, insn, spec) -> None:
        a = self.a
        a.mov_rr(RDI, RBX)                     # r6 holds the context
        if spec.kind == "ldind":
            a.mov_rr(RSI, REG[insn.src], False)
            a.alu_ri(OP_ADD, RSI, insn.imm, False)
        else:
            a.mov_ri(RSI, insn.imm, False)
        a.mov_ri(RDX, spec.size, False)
        a.mov_ri(R11, self.links.ld_packet)
        a.call_reg(R11)
        self._check_error_flag()  # out of the packet: the engine ends the run with r0 = 0

    def k_ldabs(self, pc, insn, spec) -> None:
        self._ld_packet(insn, spec)

    def k_ldind(self, pc, insn, spec) -> None:
        self._ld_packet(insn, spec)

    def k_ja(self, pc, insn, spec) -> None:
        self.a.jmp(self.target(pc, insn))

    def k_may_goto(self, pc, insn, spec) -> None:
        a = self.a
        a.mov_ri(R11, self.links.may_goto_counter)
        a.load(R10, R11, 0, 8)
        a.test_rr(R10, R10)
        a.jcc(CC_E, self.target(pc, insn))
        a.alu_ri(OP_SUB, R10, 1)
        a.store(R11, 0, R10, 8)

    def k_jcond(self, pc, insn, spec) -> None:
        a, w = self.a, spec.width == 64
        dst = REG[insn.dst]
        if spec.op == "jset":
            if spec.uses_src_reg:
                a.test_rr(dst, REG[insn.src], w)
            elif 0 <= insn.imm <= 0xFF:
                a.test_ri8(dst, insn.imm)        # only ZF is used: the low byte decides
            else:
                a.test_ri(dst, insn.imm, w and insn.imm < 0)
        elif spec.uses_src_reg:
            a.alu_rr(OP_CMP, dst, REG[insn.src], w)
        elif insn.imm == 0:
            a.test_rr(dst, dst, w)               # the same flags as cmp dst, 0
        else:
            a.alu_ri(OP_CMP, dst, insn.imm, w)
        a.jcc(_JCC[spec.op], self.target(pc, insn))

    def k_call(self, pc, insn, spec) -> None:
        a = self.a
        if spec.op == "local":
            target = pc + 1 + insn.imm
            if target not in self.func_labels:
                raise ProgramError(f"call to {target}, which is not a function", pc)
            a.call(self.func_labels[target])
            return
        if spec.op == "kfunc":
            raise ProgramError("kfunc calls cannot be compiled", pc)
        if insn.imm == self.links.tail_call_helper and self.links.tail_call:  # bpf_tail_call
            self._tail_call()
            return
        a.mov_ri(R11, self.links.helper(insn.imm))
        a.call_reg(R11)
        self._check_error_flag()

    def _check_error_flag(self) -> None:
        if not self.links.error_flag:
            return
        a = self.a
        a.mov_ri(R11, self.links.error_flag)
        a.load(R11, R11, 0, 1)
        a.test_rr(R11, R11, False)
        a.jcc(CC_NE, self.bail)
        self.bail_used = True

    def _tail_call(self) -> None:
        a = self.a
        cont = Label()
        a.push(RDI)
        a.alu_ri(OP_SUB, RSP, 8)
        a.mov_ri(R11, self.links.tail_call)
        a.call_reg(R11)
        a.alu_ri(OP_ADD, RSP, 8)
        a.pop(RDI)
        self._check_error_flag()
        a.test_rr(RAX, RAX)
        a.jcc(CC_E, cont)
        if self.in_main:
            # unwind the entry frame and jump to the target program's entry with r1 = ctx
            a.mov_rr(R11, RAX)
            self._unwind(self.main_frame)
            a.jmp_reg(R11)
        a.bind(cont)
        a.mov_ri(RAX, -2)  # -ENOENT-like failure value; eBPF leaves r0 unspecified

    def k_callx(self, pc, insn, spec) -> None:
        """callx: a function of this program when the register holds one of its addresses,
        otherwise a helper by number (uBPF's convention) through the engine's dispatcher."""
        a = self.a
        helper_path, done = Label(), Label()
        a.mov_rr(R11, REG[insn.dst])
        a.mov_label_address(R10, self.code_start)
        a.alu_rr(OP_CMP, R11, R10)
        a.jcc(CC_B, helper_path)
        a.mov_label_address(R10, self.code_end)
        a.alu_rr(OP_CMP, R11, R10)
        a.jcc(CC_AE, helper_path)
        a.call_reg(R11)
        a.jmp(done)
        a.bind(helper_path)
        if self.links.callx_helper:
            a.mov_ri(R10, self.links.callx_cell)
            a.store(R10, 0, R11, 8)
            a.mov_ri(R11, self.links.callx_helper)
            a.call_reg(R11)
            self._check_error_flag()
        else:
            a.jmp(self.bail)
            self.bail_used = True
        a.bind(done)

    def k_exit(self, pc, insn, spec) -> None:
        self.a.jmp(self.exit)


def _signed64(value: int) -> int:
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= 1 << 63 else value


def compile_native(program: Program, links: JitLinks) -> NativeProgram:
    """Translate `program` into x86-64 machine code placed in executable memory."""
    if not program.insns:
        raise ProgramError("empty program")
    return _Translator(program, links).translate()
