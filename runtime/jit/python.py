"""The portable JIT: a `Program` compiled into one Python function.

Registers are Python locals; each basic block becomes straight-line Python with its
instructions' arithmetic written out, and blocks are picked by a binary tree of `pc`
comparisons. Memory accesses use the interpreter's region cache and slow paths, and rare
instructions (atomics, legacy packet loads, callx, may_goto) call the interpreter's own
pre-decoded operation, so both engines share one meaning of every instruction and one memory
model. It runs wherever CPython does.
"""
from __future__ import annotations

import ctypes
import re
from typing import Callable

from cfg import isa
from cfg.errors import BpfcheckError
from cfg.program import Program

from runtime import context as ctxmod
from runtime.maps import MapSet
from runtime.memory import M64, VmError
from runtime.vm import (_ALU32, _ALU64, _JMP, MAX_FRAMES, STACK_SIZE, Machine,
                        Result, _Abort, _alu_imm, _jmp_imm, _sdiv, _smod)

M32 = 0xFFFFFFFF
_RARE = ("atomic", "ldabs", "ldind", "callx", "may_goto")


class _TailSwitch(Exception):
    def __init__(self, program: Program) -> None:
        self.program = program


def _subst(expr: str, a: str, b: str) -> str:
    return re.sub(r"\bB\b", b, re.sub(r"\bA\b", a, expr))


def _leaders(program: Program) -> list[int]:
    """Block starts: the entry, jump targets, instructions after jumps, calls and exits."""
    starts = {0}
    for pc, insn in program.items():
        kind = isa.check(insn).kind
        nxt = pc + insn.slots
        if kind in ("ja", "jcond", "may_goto"):
            starts.update((pc + 1 + insn.jump_offset, nxt))
        elif kind == "call" and insn.src == isa.CALL_LOCAL:
            starts.update((pc + 1 + insn.imm, nxt))
        elif kind in ("exit", "callx", "call", "ldabs", "ldind", "atomic"):
            starts.add(nxt)
        elif kind == "lddw" and insn.src == isa.LDDW_CODE:
            starts.add(pc + 1 + insn.imm)
    return sorted(s for s in starts if program.index_of(s) is not None)


class _Codegen:
    def __init__(self, machine: PyJitMachine, program: Program) -> None:
        self.m = machine
        self.p = program
        self.ops = machine.compile(program)  # the interpreter's closures, for rare instructions
        self.env: dict[str, object] = {"M64": M64, "M32": M32, "_sdiv": _sdiv, "_smod": _smod,
                                       "VmError": VmError, "_Abort": _Abort}
        self.lines: list[str] = []

    def const(self, value: object) -> str:
        name = f"k{len(self.env)}"
        self.env[name] = value
        return name

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    # -- one instruction -> lines; returns True when the block ends here ------------------------
    def insn(self, d: int, pc: int, insn: isa.Insn) -> bool:
        spec = isa.check(insn)
        kind, dst, src = spec.kind, f"r{insn.dst}", f"r{insn.src}"
        nxt = pc + insn.slots
        if (kind in ("alu", "mov", "neg", "movsx", "end", "bswap", "ldx", "ldxsx", "lddw")
                and insn.dst == 10):
            self.emit(d, f"raise VmError('r10 is read-only', {pc})")
            return True
        if kind in ("alu", "mov"):
            w = spec.width
            table = _ALU64 if w == 64 else _ALU32
            mask = "" if w == 64 else " & M32"
            a = f"({dst}{mask})"
            b = f"({src}{mask})" if spec.uses_src_reg else str(_alu_imm(spec.op, w, insn.imm))
            self.emit(d, f"{dst} = {_subst(table[spec.op], a, b)}")
        elif kind == "neg":
            self.emit(d, f"{dst} = -{dst} & {'M64' if spec.width == 64 else 'M32'}")
        elif kind == "movsx":
            bits = spec.size * 8
            sign, low = 1 << (bits - 1), (1 << bits) - 1
            self.emit(d, f"{dst} = ((({src} & {low}) ^ {sign}) - {sign}) & "
                         f"{'M64' if spec.width == 64 else 'M32'}")
        elif kind in ("end", "bswap"):
            n = spec.size
            if kind == "end" and spec.op == "le":
                self.emit(d, f"{dst} &= {(1 << (8 * n)) - 1}")
            else:
                self.emit(d, f"{dst} = int.from_bytes(({dst} & {(1 << (8 * n)) - 1})"
                             f".to_bytes({n}, 'little'), 'big')")
        elif kind in ("ldx", "ldxsx") and self._frame_slot(insn.src, insn.off, spec.size) is not None:
            v = f"s{spec.size}[{self._frame_slot(insn.src, insn.off, spec.size)}]"
            if kind == "ldxsx":
                sign = 1 << (8 * spec.size - 1)
                v = f"(({v} ^ {sign}) - {sign}) & M64"
            self.emit(d, f"{dst} = {v}")
        elif kind in ("st", "stx") and self._frame_slot(insn.dst, insn.off, spec.size) is not None:
            size = spec.size
            value = (str(insn.imm & ((1 << (8 * size)) - 1)) if kind == "st"
                     else f"({src} & {(1 << (8 * size)) - 1})")
            self.emit(d, f"s{size}[{self._frame_slot(insn.dst, insn.off, size)}] = {value}")
        elif kind in ("ldx", "ldxsx"):
            size = spec.size
            c = self.const([(1, 0, None, 0)])
            self.m._caches.append(self.env[c])
            shift = size.bit_length() - 1
            self.emit(d, f"a = {src} + {insn.off}; lo, hi, view, base = {c}[0]")
            self.emit(d, f"v = view[(a - base) >> {shift}] if lo <= a <= hi and not a & "
                         f"{size - 1} else slow_load(a, {size}, {pc}, {c})")
            if kind == "ldxsx":
                sign = 1 << (8 * size - 1)
                self.emit(d, f"{dst} = ((v ^ {sign}) - {sign}) & M64")
            else:
                self.emit(d, f"{dst} = v")
        elif kind in ("st", "stx"):
            size = spec.size
            c = self.const([(1, 0, None, 0)])
            self.m._caches.append(self.env[c])
            shift = size.bit_length() - 1
            value = (str(insn.imm & ((1 << (8 * size)) - 1)) if kind == "st"
                     else f"({src} & {(1 << (8 * size)) - 1})")
            self.emit(d, f"a = {dst} + {insn.off}; lo, hi, view, base = {c}[0]")
            self.emit(d, f"if lo <= a <= hi and not a & {size - 1}: "
                         f"view[(a - base) >> {shift}] = {value}")
            self.emit(d, f"else: slow_store(a, {size}, {value}, {pc}, {c})")
        elif kind == "lddw":
            # the interpreter's op already resolved the value (maps, code addresses)
            op = self.ops[pc]
            regs = self.m.regs
            op()
            self.emit(d, f"{dst} = {regs[insn.dst]}")
        elif kind == "ja":
            self.emit(d, f"pc = {pc + 1 + insn.jump_offset}")
            self.emit(d, "continue")
            return True
        elif kind == "jcond":
            self.jcond(d, pc, insn, spec, nxt)
            return True
        elif kind == "exit":
            self.emit(d, "if not frames: return r0, steps")
            self.emit(d, "pc, r6, r7, r8, r9, r10 = frames.pop()")
            self.emit(d, "s1, s2, s4, s8 = sviews[len(frames)]")
            self.emit(d, "continue")
            return True
        elif kind == "call":
            return self.call(d, pc, insn, spec, nxt)
        elif kind in _RARE:
            self.rare(d, pc, nxt)
            return True
        else:  # pragma: no cover - every kind of SPECS is handled above
            raise BpfcheckError(f"pyjit: no translation for {kind}")
        return False

    def _frame_slot(self, base: int, off: int, size: int) -> int | None:
        """The index into the current frame's typed view of `[r10 + off]`, when the access lies
        inside the frame and is aligned (then no bounds check is needed); None otherwise."""
        if base != 10 or not -STACK_SIZE <= off <= -size:
            return None
        byte = self.m._frame_top_index + off
        return byte // size if byte % size == 0 else None

    def jcond(self, d, pc, insn, spec, nxt) -> None:
        w = spec.width
        signed = spec.op.startswith("js") and spec.op != "jset"

        def view(reg: str) -> str:
            if w == 64:
                return f"(({reg} ^ 0x8000000000000000) - 0x8000000000000000)" if signed else reg
            return (f"((({reg} & M32) ^ 0x80000000) - 0x80000000)" if signed
                    else f"({reg} & M32)")
        a = view(f"r{insn.dst}")
        b = view(f"r{insn.src}") if spec.uses_src_reg else str(_jmp_imm(spec.op, w, insn.imm))
        cond = _subst(_JMP[spec.op], a, b)
        self.emit(d, f"pc = {pc + 1 + insn.off} if {cond} else {nxt}")
        self.emit(d, "continue")

    def call(self, d, pc, insn, spec, nxt) -> bool:
        if spec.op == "local":
            target = pc + 1 + insn.imm
            self.emit(d, f"if len(frames) + 1 >= {MAX_FRAMES}: "
                         f"raise VmError('call depth exceeds {MAX_FRAMES} frames', {pc})")
            self.emit(d, f"frames.append(({nxt}, r6, r7, r8, r9, r10))")
            self.emit(d, "r10 = tops[len(frames)]")
            self.emit(d, "s1, s2, s4, s8 = sviews[len(frames)]")
            self.emit(d, f"pc = {target}")
            self.emit(d, "continue")
            return True
        if spec.op == "kfunc":
            self.emit(d, f"raise VmError('kfunc call (BTF id {insn.imm}) is not supported', {pc})")
            return True
        fn = self.m.helpers.get(insn.imm)
        if fn is None:
            self.emit(d, f"raise VmError('unknown helper {insn.imm}', {pc})")
            return True
        f = self.const(fn)
        self.emit(d, f"try: r0 = {f}(m, r1, r2, r3, r4, r5) & M64")
        self.emit(d, f"except VmError as e: e.pc = {pc} if e.pc is None else e.pc; raise")
        self.emit(d, "if memory.epoch != m._epoch: m.invalidate()")
        self.emit(d, f"pc = {nxt}")
        self.emit(d, "continue")
        return True

    def rare(self, d, pc, nxt) -> None:
        """Run the interpreter's operation on a register list, then carry on."""
        op = self.const(self.ops[pc])
        self.emit(d, "regs[:] = [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10]")
        self.emit(d, "m.frames[:] = [(p, a6, a7, a8, a9, a10, None) for p, a6, a7, a8, a9, a10 "
                     "in frames]")
        self.emit(d, f"try: pc = {op}()")
        self.emit(d, f"except VmError as e: e.pc = {pc} if e.pc is None else e.pc; raise")
        self.emit(d, "r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10 = regs")
        self.emit(d, "frames[:] = [f[:6] for f in m.frames]")
        self.emit(d, "s1, s2, s4, s8 = sviews[len(frames)]")
        self.emit(d, "continue")

    # -- the function -----------------------------------------------------------------------
    def build(self) -> Callable:
        leaders = _leaders(self.p)
        self.loop_heads = {pc + 1 + insn.jump_offset for pc, insn in self.p.items()
                           if insn.is_jump() and insn.jump_offset < 0}
        blocks: list[tuple[int, list[str], int]] = []
        for i, start in enumerate(leaders):
            end = leaders[i + 1] if i + 1 < len(leaders) else self.p.end_pc
            saved, self.lines = self.lines, []
            ended, count, pc = False, 0, start
            while pc < end:
                insn = self.p.at(pc)
                count += 1
                ended = self.insn(3, pc, insn)
                pc += insn.slots
                if ended:
                    break
            if not ended:
                if pc >= self.p.end_pc:
                    self.emit(3, f"raise VmError('fell off the end of the program', {pc})")
                else:
                    self.emit(3, f"pc = {pc}")
                    self.emit(3, "continue")
            blocks.append((start, self.lines, count))
            self.lines = saved
        head = ["def program(m, r1, r2, r10, steps, budget):",
                "    regs, tops, memory = m.regs, m.stack_tops, m.memory",
                "    slow_load, slow_store = m.slow_load, m.slow_store",
                "    frames = []",
                "    sviews = m._frame_views",
                "    s1, s2, s4, s8 = sviews[0]",
                "    r0 = r3 = r4 = r5 = r6 = r7 = r8 = r9 = 0",
                "    pc = 0",
                "    while True:"]
        body: list[str] = []
        self._tree(body, blocks, 2)
        body.append("        raise VmError(f'jump to {pc}, which is not an instruction', pc)")
        source = "\n".join(head + body) + "\n"
        # masks as literals: a constant load is cheaper than a global lookup
        source = re.sub(r"\bM64\b", "0xFFFFFFFFFFFFFFFF", re.sub(r"\bM32\b", "0xFFFFFFFF", source))
        self.source = source
        exec(compile(source, f"<pyjit {self.p.name}>", "exec"), self.env)  # noqa: S102
        return self.env["program"]

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
        """A block's code. The budget is checked only where loops can close (targets of
        backward jumps); a block that jumps back to itself becomes a Python `while` loop."""
        pad = "    " * depth
        out = [f"{pad}steps += {count}"]
        if start in self.loop_heads:
            out.append(f"{pad}if steps > budget: return _budget(steps, pc)")
        self_loop = re.compile(rf"pc = {start} if (.*) else (\d+)$")
        if len(lines) >= 2 and lines[-1].strip() == "continue" and start in self.loop_heads:
            m = self_loop.match(lines[-2].strip())
            if m:
                return [*out,
                        f"{pad}while True:",
                        *(_reindent(ln, depth + 1) for ln in lines[:-2]),
                        f"{pad}    if not ({m.group(1)}): break",
                        f"{pad}    steps += {count}",
                        f"{pad}    if steps > budget: return _budget(steps, {start})",
                        f"{pad}pc = {m.group(2)}",
                        f"{pad}continue"]
        out.extend(_reindent(ln, depth) for ln in lines)
        return out


def _reindent(line: str, depth: int) -> str:
    stripped = line.lstrip(" ")
    extra = (len(line) - len(stripped)) // 4 - 3
    return "    " * (depth + extra) + stripped


class _Budget(Exception):
    def __init__(self, steps: int, pc: int) -> None:
        self.steps, self.pc = steps, pc


def _budget(steps: int, pc: int):
    raise _Budget(steps, pc)


class PyJitMachine(Machine):
    """A `Machine` whose `run()` executes the program compiled to Python."""

    def __init__(self, program: Program, maps: MapSet | None = None,
                 helpers: dict[int, Callable] | None = None, checked: bool = True,
                 seed: int = 0) -> None:
        super().__init__(program, maps, helpers, checked, seed)
        tops = {r.end - r.base for r in self.stack}
        assert len(tops) == 1, "every frame is laid out alike"
        self._frame_top_index = tops.pop()
        self._frame_views = [tuple(r.views[n] for n in (1, 2, 4, 8)) for r in self.stack]
        self._functions: dict[int, Callable] = {}
        self.function = self._function_for(program)

    def _function_for(self, program: Program) -> Callable:
        key = id(program)
        if key not in self._functions:
            gen = _Codegen(self, program)
            gen.env["_budget"] = _budget
            self._functions[key] = gen.build()
        return self._functions[key]

    def tail_call(self, program: Program) -> None:
        self.tail_calls += 1
        raise _TailSwitch(program)

    def run(self, context: ctxmod.Context | None = None, budget: int = 10_000_000,
            trace=None) -> Result:
        """Run once; same result as the interpreter (`trace` is not supported)."""
        if trace is not None:
            raise BpfcheckError("the portable JIT cannot trace instructions; use the interpreter")
        self.install_context(context)
        for r in self.stack:
            ctypes.memset(r.start, 0, STACK_SIZE)
        self.reset_run_state()
        fn, steps, error, err_pc, r0 = self.function, 0, None, None, 0
        while True:
            try:
                r0, steps = fn(self, self.ctx.r1, self.ctx.r2, self.stack_tops[0], steps,
                               budget)
                break
            except _TailSwitch as sw:
                fn = self._function_for(sw.program)
            except _Abort:
                r0 = 0
                break
            except _Budget as exc:
                error, err_pc, steps = f"instruction budget of {budget} exhausted", exc.pc, budget
                break
            except VmError as exc:
                err_pc = exc.pc
                error = f"pc {exc.pc}: {exc.detail}" if exc.pc is not None else exc.detail
                r0 = self.regs[0]
                break
        return self.result(r0, error, steps, err_pc)
