"""The portable JIT's code generator: a `Program` into one Python function, in two dialects.

* "cpython": registers are Python ints masked to 64 bits; memory goes through the
  interpreter's region caches and slow paths; helpers are called inline. Runs everywhere.
* "numba": registers are np.uint64 (never a bare int literal, so no int64/uint64 mix turns into
  float64); memory is raw loads and stores checked against a region table (a per-site cache of
  the last region's index); stack slots at constant in-frame offsets are not checked. Anything
  that needs Python (helpers, callx, atomics, ld_abs, may_goto, context fields, faults) returns
  to the driver, which runs that one instruction on the interpreter and re-enters.

Both dialects share one calling convention: run from `pc` with `steps` executed so far until
the program exits (EXIT), an instruction needs the interpreter (PY: `pc` is that instruction,
`steps` does not count it), or the step limit would be passed (LIMIT, at a block start).
Basic blocks add their length to `steps` on entry. The numba dialect checks the limit before
every block. The CPython dialect checks only at checkpoints (loop heads, function entries,
return points) and on entry, each time for the longest run of steps that can follow before the
next checkpoint (`reach`), so it never passes the limit either: when that run might pass it,
the driver executes the remaining steps on the interpreter, which ends exactly where the
interpreter alone ends.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cfg import isa
from cfg.errors import BpfcheckError
from cfg.program import Program

from runtime.memory import M64, VmError
from runtime.vm import (_ALU32, _ALU64, _JMP, MAX_FRAMES, STACK_SIZE, _alu_imm, _jmp_imm,
                        _sdiv, _smod)

if TYPE_CHECKING:
    from runtime.jit.python import PyJitMachine

M32 = 0xFFFFFFFF
EXIT, PY, LIMIT = 0, 1, 2
_TO_PYTHON = ("atomic", "ldabs", "ldind", "callx", "may_goto")
_WRITES_DST = ("alu", "mov", "neg", "movsx", "end", "bswap", "ldx", "ldxsx", "lddw")
REGS = ", ".join(f"r{i}" for i in range(11))

# numba: operands are np.uint64; A and B are already masked to 32 bits for the 32-bit forms
_N64 = {"add": "A + B", "sub": "A - B", "mul": "A * B", "or": "A | B", "and": "A & B",
        "xor": "A ^ B", "lsh": "A << (B & K63)", "rsh": "A >> (B & K63)",
        "arsh": "u64(i64(A) >> i64(B & K63))", "div": "udiv(A, B)", "mod": "umod(A, B)",
        "sdiv": "sdiv64(A, B)", "smod": "smod64(A, B)", "mov": "B"}
_N32 = {"add": "(A + B) & M32", "sub": "(A - B) & M32", "mul": "(A * B) & M32",
        "or": "A | B", "and": "A & B", "xor": "A ^ B", "lsh": "(A << (B & K31)) & M32",
        "rsh": "A >> (B & K31)", "arsh": "u64(i64(i32(A)) >> i64(B & K31)) & M32",
        "div": "udiv(A, B)", "mod": "umod(A, B)", "sdiv": "sdiv32(A, B)",
        "smod": "smod32(A, B)", "mov": "B"}
_SIGNED_CAST = {1: "i8", 2: "i16", 4: "i32"}


def _subst(expr: str, a: str, b: str) -> str:
    return re.sub(r"\bB\b", b, re.sub(r"\bA\b", a, expr))


def _spec(insn: isa.Insn):
    try:
        return isa.check(insn)
    except BpfcheckError:
        return None


def leaders(program: Program, numba: bool) -> list[int]:
    """Block starts: the entry, jump targets, instructions after jumps, calls, exits and
    everything that may return to Python; in the numba dialect also after each checked memory
    access (where the driver resumes after running a slow access on the interpreter)."""
    starts = {0}
    for pc, insn in program.items():
        spec = _spec(insn)
        nxt = pc + insn.slots
        if spec is None:
            starts.add(nxt)
            continue
        kind = spec.kind
        if (kind in _WRITES_DST and insn.dst == 10) or (kind == "lddw"
                                                         and insn.src != isa.LDDW_IMM64):
            starts.add(nxt)  # may be a trap, which ends its block
        if kind in ("ja", "jcond", "may_goto"):
            starts.update((pc + 1 + insn.jump_offset, nxt))
        elif kind == "call" and insn.src == isa.CALL_LOCAL:
            starts.update((pc + 1 + insn.imm, nxt))
        elif kind in ("exit", "callx", "call", "ldabs", "ldind", "atomic"):
            starts.add(nxt)
        elif kind == "lddw" and insn.src == isa.LDDW_CODE:
            starts.add(pc + 1 + insn.imm)
        elif numba and kind in ("ldx", "ldxsx", "st", "stx") and not _in_frame(insn, spec):
            starts.add(nxt)
    return sorted(s for s in starts if program.index_of(s) is not None)


def _in_frame(insn: isa.Insn, spec) -> bool:
    """An access `[r10 + off]` lying inside the current 512-byte frame (r10 is read-only)."""
    base = insn.src if spec.kind in ("ldx", "ldxsx") else insn.dst
    return base == 10 and -STACK_SIZE <= insn.off <= -spec.size


def checkpoints(program: Program) -> tuple[set[int], set[int]]:
    """(loop heads, other checkpoints): the targets of backward jumps, and the entries of and
    return points from bpf-to-bpf calls. Every cycle of the control flow, calls included,
    passes one of them, so the code between checkpoints runs a bounded number of steps."""
    heads, others = set(), set()
    for pc, insn in program.items():
        spec = _spec(insn)
        if spec is None:
            continue
        if spec.kind in ("ja", "jcond", "may_goto") and insn.jump_offset < 0:
            heads.add(pc + 1 + insn.jump_offset)
        elif spec.kind == "call" and insn.src == isa.CALL_LOCAL:
            others.update((pc + 1 + insn.imm, pc + 1))
    return heads, others - heads


def reach(program: Program, starts: list[int], stops: set[int]) -> dict[int, int]:
    """For each block start, the most steps that can run from it before control reaches a
    checkpoint in `stops` (not counted), the driver or the end. Edges that do not enter a
    checkpoint go forward (a backward one enters a loop head), so one pass from the end
    suffices; successors are over-approximated (a larger bound only checks earlier)."""
    out: dict[int, int] = {}
    ends = starts[1:] + [program.end_pc]
    for start, end in zip(reversed(starts), reversed(ends)):
        count, pc, last = 0, start, None
        while pc < end:
            last = program.at(pc)
            count += 1
            pc += last.slots
        spec = _spec(last)
        kind = spec.kind if spec is not None else None
        succ = []
        if kind in ("ja", "jcond", "may_goto"):
            succ.append(pc - last.slots + 1 + last.jump_offset)
        if kind not in ("ja", "exit") and not (kind == "call" and last.src == isa.CALL_LOCAL):
            succ.append(end)
        out[start] = count + max((out.get(s, 0) for s in succ if s not in stops), default=0)
    return out


class Codegen:
    """Generates the source of one program in one dialect; `source()` returns it."""

    def __init__(self, machine: PyJitMachine, program: Program, dialect: str, pid: int) -> None:
        self.m, self.p, self.pid = machine, program, pid
        self.numba = dialect == "numba"
        self.ops = machine.compile(program)  # the interpreter's operations of this program
        self.env: dict[str, object] = {"OPS": self.ops, "_sdiv": _sdiv, "_smod": _smod}
        self.consts: dict[str, str] = {}                    # numba: module-level constants
        self.sites = 1                                      # numba: cache slot 0 is unused
        self.values: list[int] = []                         # numba: the V array (addresses)
        self.lines: list[str] = []
        self.count = 0

    # -- constants and exits ----------------------------------------------------------------
    def u(self, value: int) -> str:
        """A uint64 constant."""
        value &= M64
        if not self.numba:
            return str(value)
        name = f"U{value:x}"
        self.consts[name] = f"u64({value:#x})"
        return name

    def s(self, value: int) -> str:
        """A signed int64 constant."""
        if not self.numba:
            return str(value)
        name = f"I{value:x}".replace("-", "m")
        self.consts[name] = f"i64({value})"
        return name

    def obj(self, value: object) -> str:
        """A Python object the CPython dialect refers to."""
        name = f"k{len(self.env)}"
        self.env[name] = value
        return name

    def leave(self, status: int, pc: int | str, steps: str = "steps") -> str:
        """The statement that stores the registers and returns (status, pc, steps)."""
        if self.numba:  # one epilogue after the dispatch loop stores the state
            return (f"st = {status}" + ("" if pc == "pc" else f"; pc = {pc}")
                    + ("" if steps == "steps" else f"; steps = {steps}") + "; break")
        return f"R[:] = [{REGS}]; return {status}, {pc}, {steps}"

    def to_python(self, d: int, pc: int, idx: int) -> None:
        """Leave for the interpreter to run instruction `pc` (the `idx`-th of its block)."""
        self.emit(d, self.leave(PY, pc, f"steps - {self.count - idx}"))

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    # -- one instruction -> lines; True when the block ends here ----------------------------
    def insn(self, d: int, pc: int, idx: int, insn: isa.Insn) -> bool:
        spec = _spec(insn)
        if spec is None or (spec.kind in _WRITES_DST and insn.dst == 10):
            self.to_python(d, pc, idx)  # the interpreter's trap raises the exact error
            return True
        kind, dst, src = spec.kind, f"r{insn.dst}", f"r{insn.src}"
        nxt = pc + insn.slots
        n = self.numba
        if kind in ("alu", "mov"):
            w = spec.width
            if n:
                a = dst if w == 64 else f"({dst} & M32)"
                b = (src if w == 64 else f"({src} & M32)") if spec.uses_src_reg \
                    else self.u(_alu_imm(spec.op, w, insn.imm))
                expr = (_N64 if w == 64 else _N32)[spec.op]
            else:
                mask = "" if w == 64 else " & M32"
                a = f"({dst}{mask})"
                b = f"({src}{mask})" if spec.uses_src_reg else str(_alu_imm(spec.op, w, insn.imm))
                expr = (_ALU64 if w == 64 else _ALU32)[spec.op]
            self.emit(d, f"{dst} = {_subst(expr, a, b)}")
        elif kind == "neg":
            if n:
                self.emit(d, f"{dst} = (K0 - {dst})" + (" & M32" if spec.width == 32 else ""))
            else:
                self.emit(d, f"{dst} = -{dst} & {'M64' if spec.width == 64 else 'M32'}")
        elif kind == "movsx":
            mask = "M64" if spec.width == 64 else "M32"
            if n:
                self.emit(d, f"{dst} = u64(i64({_SIGNED_CAST[spec.size]}({src}))) & {mask}")
            else:
                bits = spec.size * 8
                sign, low = 1 << (bits - 1), (1 << bits) - 1
                self.emit(d, f"{dst} = ((({src} & {low}) ^ {sign}) - {sign}) & {mask}")
        elif kind in ("end", "bswap"):
            size = spec.size
            if kind == "end" and spec.op == "le":
                self.emit(d, f"{dst} = {dst} & {self.u((1 << (8 * size)) - 1)}")
            elif n:
                self.emit(d, f"{dst} = bswap{8 * size}({dst})")
            else:
                self.emit(d, f"{dst} = int.from_bytes(({dst} & {(1 << (8 * size)) - 1})"
                             f".to_bytes({size}, 'little'), 'big')")
        elif kind in ("ldx", "ldxsx", "st", "stx"):
            return self.memory(d, pc, idx, insn, spec)
        elif kind == "lddw":
            try:  # the interpreter's operation resolved the value (maps, code addresses)
                self.ops[pc]()
            except VmError:
                self.to_python(d, pc, idx)
                return True
            value = self.m.regs[insn.dst]
            if self.numba and insn.src != isa.LDDW_IMM64:
                # host addresses (maps, code) come in the V array: the source, and so numba's
                # disk cache entry, stays the same for every machine running the program
                self.values.append(value)
                self.emit(d, f"{dst} = V[{len(self.values) - 1}]")
            else:
                self.emit(d, f"{dst} = {self.u(value)}")
        elif kind == "ja":
            target = pc + 1 + insn.jump_offset
            if not 0 <= target < self.p.end_pc:
                self.to_python(d, pc, idx)
                return True
            self.emit(d, f"pc = {target}")
            self.emit(d, "continue")
            return True
        elif kind == "jcond":
            self.jcond(d, pc, idx, insn, spec, nxt)
            return True
        elif kind == "exit":
            self.exit(d, pc, idx)
            return True
        elif kind == "call":
            self.call(d, pc, idx, insn, spec, nxt)
            return True
        else:  # helpers' friends: atomics, legacy packet loads, callx, may_goto
            self.to_python(d, pc, idx)
            return True
        return False

    def memory(self, d: int, pc: int, idx: int, insn: isa.Insn, spec) -> bool:
        kind, size = spec.kind, spec.size
        load = kind in ("ldx", "ldxsx")
        base = f"r{insn.src}" if load else f"r{insn.dst}"
        mask = (1 << (8 * size)) - 1
        if kind == "st":
            value = self.u(insn.imm & mask)
        else:
            value = f"r{insn.src}" if self.numba else f"(r{insn.src} & {mask})"
        if self.numba:
            addr = f"{base} + {self.u(insn.off)}"
            if not _in_frame(insn, spec):
                site = self.sites
                self.sites += 1
                size_c = self.u(size)
                self.emit(d, f"a = {addr}")
                self.emit(d, f"if not hit(LO, HI, C, {site}, a, {size_c}) and not "
                             f"refill(LO, HI, FL, C, {site}, a, {size_c}, {1 if load else 2}):")
                self.to_python(d + 1, pc, idx)
                addr = "a"
            if not load:
                self.emit(d, f"st{size}({addr}, {value})")
            elif kind == "ldxsx":
                self.emit(d, f"r{insn.dst} = u64(i64({_SIGNED_CAST[size]}(ld{size}({addr}))))")
            else:
                self.emit(d, f"r{insn.dst} = ld{size}({addr})")
            return False
        slot = self._frame_slot(insn, spec)
        sign = 1 << (8 * size - 1)
        if slot is not None:
            if load:
                v = f"s{size}[{slot}]"
                if kind == "ldxsx":
                    v = f"(({v} ^ {sign}) - {sign}) & M64"
                self.emit(d, f"r{insn.dst} = {v}")
            else:
                self.emit(d, f"s{size}[{slot}] = {value}")
            return False
        cache = [(1, 0, None, 0)]
        self.m._caches.append(cache)
        c = self.obj(cache)
        shift = size.bit_length() - 1
        exact = f"steps - {self.count - idx - 1}"   # a fault counts the faulting instruction
        self.emit(d, f"a = {base} + {insn.off}; lo, hi, view, base = {c}[0]")
        if load:
            self.emit(d, f"v = view[(a - base) >> {shift}] if lo <= a <= hi and not a & "
                         f"{size - 1} else slow_load(a, {size}, {pc}, {c}, {exact}, r0)")
            self.emit(d, f"r{insn.dst} = " + (f"((v ^ {sign}) - {sign}) & M64"
                                              if kind == "ldxsx" else "v"))
        else:
            self.emit(d, f"if lo <= a <= hi and not a & {size - 1}: "
                         f"view[(a - base) >> {shift}] = {value}")
            self.emit(d, f"else: slow_store(a, {size}, {value}, {pc}, {c}, {exact}, r0)")
        return False

    def _frame_slot(self, insn: isa.Insn, spec) -> int | None:
        """CPython dialect: the index into the frame's typed view for an aligned in-frame
        access `[r10 + off]` (no bounds check needed), else None."""
        if not _in_frame(insn, spec):
            return None
        byte = self.m._frame_top_index + insn.off
        return byte // spec.size if byte % spec.size == 0 else None

    def jcond(self, d, pc, idx, insn, spec, nxt) -> None:
        target = pc + 1 + insn.off
        if not 0 <= target < self.p.end_pc:
            self.to_python(d, pc, idx)
            return
        w, op = spec.width, spec.op
        signed = op.startswith("js") and op != "jset"
        if self.numba:
            def view(reg: str) -> str:
                if w == 64:
                    return f"i64({reg})" if signed else reg
                return f"i64(i32({reg}))" if signed else f"({reg} & M32)"
            a = view(f"r{insn.dst}")
            if spec.uses_src_reg:
                b = view(f"r{insn.src}")
            else:
                imm = _jmp_imm(op, w, insn.imm)
                b = self.s(imm) if signed else self.u(imm)
            cond = f"({a} & {b}) != K0" if op == "jset" else _subst(_JMP[op], a, b)
        else:
            def view(reg: str) -> str:
                if w == 64:
                    return (f"(({reg} ^ 0x8000000000000000) - 0x8000000000000000)" if signed
                            else reg)
                return (f"((({reg} & M32) ^ 0x80000000) - 0x80000000)" if signed
                        else f"({reg} & M32)")
            a = view(f"r{insn.dst}")
            b = view(f"r{insn.src}") if spec.uses_src_reg else str(_jmp_imm(op, w, insn.imm))
            cond = _subst(_JMP[op], a, b)
        self.emit(d, f"pc = {target} if {cond} else {nxt}")
        self.emit(d, "continue")

    def exit(self, d: int, pc: int, idx: int) -> None:
        if self.numba:
            self.emit(d, f"if nf == 0: {self.leave(EXIT, pc)}")
            self.emit(d, f"if F[nf - 1, 6] != {self.u(self.pid)}:")
            self.to_python(d + 1, pc, idx)   # returning into another program (tail calls)
            self.emit(d, "nf -= 1")
            self.emit(d, "pc = i64(F[nf, 0]); r6 = F[nf, 1]; r7 = F[nf, 2]; r8 = F[nf, 3]; "
                         "r9 = F[nf, 4]; r10 = F[nf, 5]")
        else:
            self.emit(d, f"if not frames: {self.leave(EXIT, pc)}")
            self.emit(d, "if frames[-1][6] is not OPS:")
            self.to_python(d + 1, pc, idx)
            self.emit(d, "pc, r6, r7, r8, r9, r10, _ = frames.pop()")
            self.emit(d, "s1, s2, s4, s8 = sviews[len(frames)]")
        self.emit(d, "continue")

    def call(self, d, pc, idx, insn, spec, nxt) -> None:
        if spec.op == "local":
            target = pc + 1 + insn.imm
            if not 0 <= target < self.p.end_pc:
                self.to_python(d, pc, idx)
                return
            if self.numba:
                self.emit(d, f"if nf + 1 >= {MAX_FRAMES}:")
                self.to_python(d + 1, pc, idx)
                self.emit(d, f"F[nf, 0] = {self.u(nxt)}; F[nf, 1] = r6; F[nf, 2] = r7; "
                             f"F[nf, 3] = r8; F[nf, 4] = r9; F[nf, 5] = r10; "
                             f"F[nf, 6] = {self.u(self.pid)}")
                self.emit(d, "nf += 1")
                self.emit(d, "if nf > deepest: deepest = nf")
                self.emit(d, "r10 = TOPS[nf]")
            else:
                self.emit(d, f"if len(frames) + 1 >= {MAX_FRAMES}:")
                self.to_python(d + 1, pc, idx)
                self.emit(d, f"frames.append(({nxt}, r6, r7, r8, r9, r10, OPS))")
                self.emit(d, "if len(frames) > m.deepest: m.deepest = len(frames)")
                self.emit(d, "r10 = tops[len(frames)]")
                self.emit(d, "s1, s2, s4, s8 = sviews[len(frames)]")
            self.emit(d, f"pc = {target}")
            self.emit(d, "continue")
            return
        fn = self.m.helpers.get(insn.imm) if spec.op != "kfunc" else None
        if self.numba or fn is None:
            self.to_python(d, pc, idx)
            return
        f = self.obj(fn)
        self.emit(d, f"try: r0 = {f}(m, r1, r2, r3, r4, r5) & M64")
        self.emit(d, f"except BaseException: R[:] = [{REGS}]; m.jit_steps = steps; "
                     f"m.jit_pc = {pc}; raise")
        self.emit(d, "if memory.epoch != m._epoch: m.invalidate()")
        self.emit(d, f"pc = {nxt}")
        self.emit(d, "continue")

    # -- the function -----------------------------------------------------------------------
    def source(self) -> str:
        """The module text: (numba) constants, then `def program(...)`."""
        starts = leaders(self.p, self.numba)
        self.loop_heads, self.calls = checkpoints(self.p)
        self.reach = {} if self.numba else reach(self.p, starts, self.loop_heads | self.calls)
        blocks: list[tuple[int, list[str], int]] = []
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else self.p.end_pc
            body, pc = [], start
            while pc < end:
                body.append((pc, self.p.at(pc)))
                pc += self.p.at(pc).slots
            self.lines, self.count, ended = [], len(body), False
            for idx, (pc, insn) in enumerate(body):
                ended = self.insn(3, pc, idx, insn)
                if ended:
                    self.count = idx + 1
                    break
            if not ended:
                self.emit(3, f"pc = {body[-1][0] + body[-1][1].slots}")
                self.emit(3, "continue")
            assert self.count == len(body), "a block ends only where the next one starts"
            blocks.append((start, self.lines, self.count))
        if self.numba:
            head = ["def program(R, F, S, LO, HI, FL, C, TOPS, V):",
                    *(f"    r{i} = R[{i}]" for i in range(11)),
                    "    pc = S[0]; steps = S[1]; limit = S[2]; nf = S[3]; deepest = S[4]",
                    "    a = K0; st = 0",
                    "    while True:"]
        else:
            m = self.m  # the machine's lasting objects are the module's globals
            self.env.update(m=m, R=m.regs, frames=m.frames, tops=m.stack_tops,
                            sviews=m._frame_views, memory=m.memory, slow_load=m.jit_load,
                            slow_store=m.jit_store,
                            REACH=[self.reach.get(pc, 0) for pc in range(self.p.end_pc + 1)])
            head = ["def program(pc, steps, limit, budget):",
                    "    if steps + REACH[pc] > budget: return 1, pc, steps",
                    f"    {REGS} = R",
                    "    s1, s2, s4, s8 = sviews[len(frames)]",
                    "    while True:"]
        body: list[str] = []
        self._tree(body, blocks, 2)
        body.append("        " + self.leave(PY, "pc"))   # not a block start: the interpreter
        if self.numba:
            body += [f"    R[{i}] = r{i}" for i in range(11)]
            body += ["    S[0] = pc; S[1] = steps; S[3] = nf; S[4] = deepest", "    return st"]
        if not self.numba and not re.search(r"\bs[1248]\[", "\n".join(body)):
            head.remove("    s1, s2, s4, s8 = sviews[len(frames)]")   # no stack slot used
        text = "\n".join(head + body) + "\n"
        if self.numba:
            consts = "".join(f"{k} = {v}\n" for k, v in sorted(self.consts.items()))
            return consts + text
        # masks as literals: a constant load is cheaper than a global lookup
        return re.sub(r"\bM64\b", "0xFFFFFFFFFFFFFFFF", re.sub(r"\bM32\b", "0xFFFFFFFF", text))

    def _tree(self, out: list[str], blocks, depth: int) -> None:
        pad = "    " * depth
        if len(blocks) <= 3:
            for start, lines, count in blocks:
                out.append(f"{pad}if pc == {start}:")
                out.extend(self._block(start, lines, count, depth + 1))
            return
        mid = len(blocks) // 2
        out.append(f"{pad}if pc < {blocks[mid][0]}:")
        self._tree(out, blocks[:mid], depth + 1)
        out.append(f"{pad}else:")
        self._tree(out, blocks[mid:], depth + 1)

    def _block(self, start: int, lines: list[str], count: int, depth: int) -> list[str]:
        """A block's code: check the limit (every block in numba; in CPython at checkpoints,
        for the block's reach: a loop head against the tier-up limit, a call's entry or return
        point against the budget, leaving what is left to the interpreter), then count its
        steps; in CPython a block that jumps back to itself becomes a `while` loop."""
        pad = "    " * depth
        if self.numba:
            return [f"{pad}if steps + {count} > limit: {self.leave(LIMIT, start)}",
                    f"{pad}steps += {count}", *(_reindent(ln, depth) for ln in lines)]
        reach = self.reach[start]
        if start in self.loop_heads:
            over = f"if steps > limit - {reach}: {self.leave(LIMIT, start)}"
        elif start in self.calls:
            over = f"if steps > budget - {reach}: {self.leave(PY, start)}"
        else:
            return [f"{pad}steps += {count}", *(_reindent(ln, depth) for ln in lines)]
        out = [pad + over, f"{pad}steps += {count}"]
        self_loop = re.compile(rf"pc = {start} if (.*) else (\d+)$")
        if len(lines) >= 2 and lines[-1].strip() == "continue" and start in self.loop_heads:
            match = self_loop.match(lines[-2].strip())
            if match:
                return [*out,
                        f"{pad}while True:",
                        *(_reindent(ln, depth + 1) for ln in lines[:-2]),
                        f"{pad}    if not ({match.group(1)}): break",
                        f"{pad}    {over}",
                        f"{pad}    steps += {count}",
                        f"{pad}pc = {match.group(2)}",
                        f"{pad}continue"]
        out.extend(_reindent(ln, depth) for ln in lines)
        return out


def _reindent(line: str, depth: int) -> str:
    stripped = line.lstrip(" ")
    extra = (len(line) - len(stripped)) // 4 - 3
    return "    " * (depth + extra) + stripped
