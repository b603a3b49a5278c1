"""`verifier.analyze(program) -> Report`: the one entry point of the verifier.

The program is inlined into one CFG (`cfg.graph.inline`), ordered (`cfg.wto`), and iterated to
a fixpoint (`verifier.fixpoint`) with the transfer functions of `verifier.semantics` in assume
mode; then one pass over the stable invariants reports every assertion that fails
(`verifier.checks`), with the C source line of each error.
"""
from __future__ import annotations

import sys
import time
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable

from cfg.program import LineInfo, Program
from domains.linear import LinearExpression as E
from domains.linear import le
from verifier import checks as C
from verifier.errors import ERROR_KINDS
from verifier.options import Options
from verifier.state import State

__all__ = ["analyze", "Options", "Report", "Error"]


@dataclass(frozen=True)
class Error:
    """One verification error: pc, kind (see verifier.errors), message, C source line, and the
    facts that failed to prove the property (`detail`)."""

    pc: int
    kind: str
    message: str
    source: LineInfo | None = None
    detail: str = ""

    @property
    def code(self) -> str:
        """The registry code (`BPF001`), '' for a warning kind outside the registry."""
        k = ERROR_KINDS.get(self.kind)
        return k.code if k is not None else ""

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return f"{self.pc}{where}: {self.kind}: {self.message}"


@dataclass
class Report:
    """The verdict on one program with its errors, warnings, invariants and statistics."""

    program: Program
    errors: list[Error]
    warnings: list[Error]
    stats: dict[str, Any]
    domain: str = "zone"
    program_type: str = ""
    _states: dict = field(default_factory=dict, repr=False)
    _graph: Any = field(default=None, repr=False)
    _analysis: Any = field(default=None, repr=False)
    exit_state: State | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def invariants(self) -> dict[int, str]:
        """Block-entry invariants by pc (states of one pc in several frames joined), printable."""
        return {pc: str(st) for pc, st in self.block_states().items()}

    def block_states(self) -> dict[int, State]:
        """Block-entry states by pc (joined over call frames)."""
        out: dict[int, State] = {}
        for node, st in self._states.items():
            pc = node[1]
            out[pc] = st if pc not in out else out[pc].join(st)
        return dict(sorted(out.items()))

    def state_at(self, pc: int) -> State | None:
        """The abstract state just before the instruction at `pc` (joined over frames)."""
        if self._graph is None:
            return None
        acc = None
        for node, pre in self._states.items():
            block = self._graph.nodes[node]["block"]
            if not block.first_pc <= pc <= block.last_pc:
                continue
            st = self._analysis.replay(node, pre, upto=pc)
            if st is None:
                continue
            acc = st if acc is None else acc.join(st)
        return acc

    def pc_states(self) -> dict[int, State]:
        """The state just before every reachable pc (joined over frames): `state_at` for all
        pcs at once, replaying each block once instead of once per pc."""
        out: dict[int, State] = {}
        if self._analysis is None:
            return out

        def seen(pc: int, st: State) -> None:
            out[pc] = st.copy() if pc not in out else out[pc].join(st)

        for node, pre in self._states.items():
            if not pre.is_bottom():
                self._analysis.run_block(node, pre.copy(), C.Checker(report=False), seen=seen)
        return out

    def invariant_at(self, pc: int) -> str | None:
        """The invariant just before `pc`, printable (None when pc is not an instruction)."""
        st = self.state_at(pc)
        return None if st is None else str(st)


def _thresholds(program: Program) -> list[int]:
    """Widening thresholds: the program's constants and offsets, and the usual limits."""
    vals = {0, 1, -1, 65535, (1 << 31) - 1, (1 << 32) - 1, (1 << 63) - 1}
    for insn in program.insns:
        try:
            kind = insn.spec.kind
        except KeyError:
            continue
        if kind == "jcond" and not insn.spec.uses_src_reg:
            c = insn.imm
            vals.update((c, c - 1, c + 1))
        elif kind == "alu" and insn.spec.op == "and" and not insn.spec.uses_src_reg \
                and insn.imm > 0:
            vals.add(insn.imm)  # `r &= 0xff` in a loop: a counter stays in the mask's range
    return sorted(vals)


class _Analysis:
    """Ties semantics to the fixpoint: block and edge transfer, final reporting pass."""

    def __init__(self, program: Program, sem, graph, options: Options, domain, heads) -> None:
        self.program = program
        self.sem = sem
        self.graph = graph
        self.options = options
        self.domain = domain
        self.heads = heads
        self.assume = C.Checker(report=False)
        self.back_edges: set = set()
        # blocks outside every loop are visited once by the fixpoint: report there directly
        self.once: set = set()
        self.final = C.Checker(report=True)
        self.final_post: dict = {}
        # paths ended by a failed check: the fixpoint narrows exactly only when none ended
        # while it computed a loop's last round (`fixpoint.solve`)
        self.trips = 0

    @staticmethod
    def counter(node: Hashable) -> str:
        frame, pc = node
        return f"pc[{pc}]" if not frame else f"pc[{'.'.join(map(str, frame))}:{pc}]"

    @staticmethod
    def down_counter(node: Hashable) -> str:
        """A second counter that goes down by one per iteration: `pcd - i` stays constant for a
        loop whose induction variable `i` counts down, which a zone can express."""
        return "d" + _Analysis.counter(node)

    def bottom(self) -> State:
        return State.bottom(self.domain)

    def run_block(self, node: Hashable, st: State, ch: C.Checker, upto: int | None = None,
                  seen: Callable[[int, State], None] | None = None) -> State:
        """Run `node`'s block from `st` (in place), up to `upto`; `seen(pc, state)` is told the
        state before each instruction."""
        block = self.graph.nodes[node]["block"]
        depth = len(node[0])
        if self.options.termination and node in self.heads:
            x = self.counter(node)
            st.num.assign(x, E.var(x) + 1)
            y = self.down_counter(node)
            st.num.assign(y, E.var(y) - 1)
        stop = not self.options.assume_assertions
        for pc, insn in block.insns:
            if upto is not None and pc >= upto:
                break
            if st.is_bottom():
                break
            if seen is not None:
                seen(pc, st)
            ch.tripped = False
            self.sem.transfer(st, pc, insn, ch, depth)
            if stop and ch.tripped:  # without assume_assertions a failed check ends the path
                self.trips += 1
                st.set_bottom()
                break
        return st

    def block(self, node: Hashable, st: State) -> State:
        if node in self.once:
            post = self.run_block(node, st, self.final)
            self.final_post[node] = post
            return post
        return self.run_block(node, st, self.assume)

    def replay(self, node: Hashable, pre: State, upto: int) -> State | None:
        if pre.is_bottom():
            return None
        return self.run_block(node, pre.copy(), C.Checker(report=False), upto)

    def edge(self, src: Hashable, dst: Hashable, data: dict, st: State) -> State:
        s = st.copy()
        kind = data.get("kind")
        cond = data.get("condition")
        if cond is not None:
            self.sem.assume(s, cond)
        if self.options.termination and dst in self.heads and (src, dst) not in self.back_edges:
            s.num.assign(self.counter(dst), 0)  # entering the loop: count its iterations anew
            s.num.assign(self.down_counter(dst), 0)
        if kind == "call":
            self.sem.enter_call(s, len(src[0]))
        elif kind == "return":
            self.sem.leave_call(s, len(src[0]))
        return s


def _resolve_domain(domain):
    if isinstance(domain, str):
        from domains.registry import get_domain
        try:
            return domain, get_domain(domain)
        except ValueError as exc:
            from cfg.errors import BpfcheckError
            raise BpfcheckError(str(exc)) from None
    return getattr(domain, "__name__", str(domain)), domain


def analyze(program: Program, options: Options | None = None, *, domain: Any = "zone",
            platform: Any = "linux", termination: bool | None = None,
            program_type: str | None = None, pre: Iterable[str] | None = None) -> Report:
    """Verify `program`. `domain` is a name ("zone", "interval") or a NumericDomain class;
    `platform` a name or a Platform; `program_type` overrides the program's own type; `pre`
    (constraint strings, YAML syntax) replaces the platform's entry state."""
    from cfg.graph import inline
    from cfg.wto import wto
    from verifier.fixpoint import FixpointLimit, solve
    from verifier.platform import get_platform
    from verifier.semantics import Semantics

    t0 = time.perf_counter()
    options = options or Options()
    if termination is not None and termination != options.termination:
        from dataclasses import replace
        options = replace(options, termination=termination)
    dom_name, dom = _resolve_domain(domain)
    plat = get_platform(platform) if isinstance(platform, str) else platform
    ptype = _program_type(plat, program, program_type)
    _check_stack(options)
    sem = Semantics(program, plat, ptype, options)
    graph = inline(program)
    entry = graph.graph["entry"]
    order = wto(graph, entry)
    heads = set(order.heads)
    analysis = _Analysis(program, sem, graph, options, dom, heads)
    analysis.once = {n for n in order.nodes() if not order.nesting(n)}
    if options.termination:
        from cfg.wto import loops
        for lp in loops(graph, entry, order):
            analysis.back_edges.update(lp.back_edges)
    if pre is not None:
        from verifier.constraints import initial_state
        initial = initial_state(pre, dom)
    else:
        initial = sem.entry_state(dom)
    if options.termination:
        for h in heads:
            initial.num.assign(_Analysis.counter(h), 0)
            initial.num.assign(_Analysis.down_counter(h), 0)
    errors: list[Error] = []
    warnings: list[Error] = []
    try:
        res = solve(graph, order, entry, initial, analysis, _thresholds(program),
                    options.widening_delay, options.narrowing_passes, options.max_iterations)
    except FixpointLimit as exc:
        errors.append(Error(0, "termination", f"analysis gave up: {exc}"))
        return Report(program, errors, warnings, {"instructions": len(program.insns),
                      "time_ms": round((time.perf_counter() - t0) * 1000, 1)}, dom_name,
                      getattr(ptype, "name", ""))
    # final pass: report the assertions that the invariants do not prove
    ch = analysis.final
    exit_state = None
    exits = set(graph.graph.get("exits", ()))
    for node in order.nodes():
        pre_state = res.pre.get(node)
        if pre_state is None or pre_state.is_bottom():
            continue
        if node in analysis.final_post:
            post = analysis.final_post[node]
        else:
            post = analysis.run_block(node, pre_state.copy(), ch)
        if node in exits and not post.is_bottom() and \
                graph.nodes[node]["block"].last_pc not in options.hidden_exits:
            exit_state = post if exit_state is None else exit_state.join(post)
    if options.termination:
        from cfg.wto import loops
        latch = {}
        for lp in loops(graph, entry, order):
            srcs = sorted(u for u, _v in lp.back_edges)
            if srcs:
                latch[lp.head] = graph.nodes[srcs[-1]]["block"].last_pc
        bound = options.max_loop_iterations
        for h in sorted(heads, key=lambda n: (len(n[0]), n[1])):
            pre_state = res.pre.get(h)
            if pre_state is None or pre_state.is_bottom():
                continue
            x = _Analysis.counter(h)
            iv = pre_state.num.interval(x) + 1
            down = pre_state.num.interval(_Analysis.down_counter(h)) - 1
            if not iv.hi <= bound and not down.lo >= -bound:
                pc = latch.get(h, h[1])
                ch.failures.append(C.Failure(
                    pc, "termination", f"loop with head at pc {h[1]} not proven to terminate "
                    f"within {bound} iterations (`{x}` in {iv})",
                    f"`{x} <= {bound}` not proven: `{x}` in {iv}"))
    seen = set()
    for f in ch.failures:
        key = (f.pc, f.kind, f.message)
        if key in seen:
            continue
        seen.add(key)
        src = program.source(f.pc)
        if f.kind == "exit-value" and src is not None:
            src = _return_statement(program, src)
        errors.append(Error(f.pc, f.kind, f.message, src, f.detail))
    errors.sort(key=lambda e: e.pc)
    for f in ch.warnings:
        warnings.append(Error(f.pc, f.kind, f.message, program.source(f.pc), f.detail))
    for w in graph.graph.get("warnings", ()):
        warnings.append(Error(getattr(w, "pc", getattr(w, "start", 0)), "unreachable", str(w)))
    states = {n: s for n, s in res.pre.items() if not s.is_bottom()}
    stats = {
        "instructions": len(program.insns),
        "blocks": graph.number_of_nodes(),
        "iterations": res.iterations,
        "widenings": res.widenings,
        "narrowings": res.narrowings,
        "invariant_size": sum(len(s.types) + len(s.num.variables()) for s in states.values()),
        "time_ms": round((time.perf_counter() - t0) * 1000, 1),
    }
    return Report(program, errors, warnings, stats, dom_name, getattr(ptype, "name", ""),
                  states if options.collect_invariants else {}, graph, analysis, exit_state)


# The stack domain is a bit set over byte offsets: a huge `stack_top` (a YAML `pre:
# r10.stack_offset=...` sets it) would make every stack operation work on huge integers.
MAX_STACK_TOP = 1 << 16


def _check_stack(options: Options) -> None:
    from cfg.errors import BpfcheckError
    if not 0 < options.stack_size <= options.stack_top <= MAX_STACK_TOP:
        raise BpfcheckError(f"stack top {options.stack_top} with frames of "
                            f"{options.stack_size} bytes: the top must be in "
                            f"[{max(options.stack_size, 1)}, {MAX_STACK_TOP}]")


def _return_statement(program: Program, src: LineInfo) -> LineInfo:
    """An exit the compiler put on the closing `}` of a function: point at the `return`
    statement just above it when the C source can be read (the value returned is set there)."""
    if src.text.strip() not in ("}", ""):
        return src
    import os
    base = os.path.dirname(program.file or ".")
    for path in (src.file, os.path.join(base, src.file), os.path.join(base, "..", src.file)):
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue
        for n in range(min(src.line - 1, len(lines)) - 1, max(src.line - 6, 0) - 1, -1):
            text = lines[n].strip()
            if text.startswith("return"):
                return LineInfo(src.file, n + 1, 0, lines[n].strip())
            if text and not text.startswith(("}", "/*", "*", "//")):
                break
        break
    return src


def _program_type(plat, program: Program, override: str | None):
    if override:
        return plat.program_type(override)
    t = program.type if program.type not in ("", "unspec") else ""
    if not t and not program.section:
        return plat.program_type("xdp")
    try:
        return plat.program_type_for(t, program.section)
    except Exception:
        if t:
            return plat.program_type(t)
        raise


class _CallableModule(types.ModuleType):
    """Lets `verifier.analyze(program)` work when `verifier.analyze` is this module."""

    def __call__(self, *args: Any, **kwargs: Any) -> Report:
        return analyze(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
