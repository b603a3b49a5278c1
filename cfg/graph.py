"""Control-flow graphs of eBPF programs as `networkx.DiGraph`s of basic blocks.

Two shapes of the same program:

- `build(program)`: one node per basic block, keyed by its first pc; every function of the
  program appears once (drawn as a cluster). A block ending in a bpf-to-bpf call has a "call"
  edge to the callee's entry and a "fallthrough" edge to the block after the call. This is the
  graph people look at.
- `inline(program)`: what the verifier iterates over. bpf-to-bpf calls are inlined per call
  site (as PREVAIL does), so each callee frame has its own copy of the callee's blocks and its
  own stack. Nodes are `(frame, first_pc)` with `frame` the tuple of call-site pcs (`()` for the
  entry function); a call block has a "call" edge into the callee copy and the copy's exit
  blocks have "return" edges back to the block after the call.

Blocks end at conditional jumps, `ja`/`gotol`, `may_goto`, `exit`, local calls, `callx` and
tail calls (helper 12, which falls through when the tail call fails). Helper and kfunc calls do
not end blocks. A conditional jump gives a "taken" edge carrying its `Condition` and a
"fallthrough" edge carrying the negation; when both lead to the same block (`goto +0`) there is
one unconditional "fallthrough" edge. `may_goto` is a branch with no condition on either edge.

`callx` (indirect call through a register) ends its block with "call" edges to every function
whose address the program takes with an lddw of src 4 (`LDDW_CODE`); if the program takes no
function's address, to every function except the entry and the caller itself.

Malformed control flow raises `ProgramError(pc)`: a jump outside the program, outside its
function or into the second slot of an lddw, code that falls off the end of its function
(including a conditional jump or call as a function's last instruction), a call to something
that is not a function, recursion, and calls nested deeper than 8 frames. Unreachable code is
not an error: `graph.graph["warnings"]` lists it as `CfgWarning`s with pc ranges.
"""
from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import networkx as nx

from cfg.errors import ProgramError
from cfg.isa import CALL_HELPER, CALL_LOCAL, LDDW_CODE, Insn
from cfg.program import Function, LineInfo, Program

MAX_CALL_FRAMES = 8          # the kernel's MAX_CALL_FRAMES: the entry frame plus 7 calls
MAX_INLINED_BLOCKS = 250_000
HELPER_TAIL_CALL = 12

_NEGATE = {
    "jeq": "jne", "jne": "jeq", "jgt": "jle", "jle": "jgt", "jge": "jlt", "jlt": "jge",
    "jsgt": "jsle", "jsle": "jsgt", "jsge": "jslt", "jslt": "jsge", "jset": "jnset",
    "jnset": "jset",
}
_SYMBOL = {
    "jeq": "==", "jne": "!=", "jgt": ">", "jge": ">=", "jlt": "<", "jle": "<=",
    "jsgt": "s>", "jsge": "s>=", "jslt": "s<", "jsle": "s<=",
}
EDGE_KINDS = ("fallthrough", "taken", "jump", "call", "return")


@dataclass(frozen=True)
class Condition:
    """What holds on an edge: `left op right` at `width` bits (right is a register if is_reg,
    else the instruction's signed 32-bit immediate, sign-extended to 64 bits as the ISA does)."""

    op: str
    width: int
    left: int
    right: int
    is_reg: bool

    def negate(self) -> Condition:
        """The condition that holds on the other edge of the same jump."""
        return Condition(_NEGATE[self.op], self.width, self.left, self.right, self.is_reg)

    def __str__(self) -> str:
        reg = "w" if self.width == 32 else "r"
        left = f"{reg}{self.left}"
        if self.is_reg:
            right = f"{reg}{self.right}"
        elif self.op in ("jset", "jnset") or abs(self.right) >= 0x1000:
            right = hex(self.right)
        else:
            right = str(self.right)
        if self.op == "jset":
            return f"{left} & {right}"
        if self.op == "jnset":
            return f"!({left} & {right})"
        return f"{left} {_SYMBOL[self.op]} {right}"


@dataclass
class BasicBlock:
    """A maximal straight-line run of instructions: `insns` are (pc, Insn) pairs, `lines` the
    source positions known for its pcs, `function` the name of the function it belongs to and
    `frame` the call-site pcs of its copy (always `()` in `build` graphs)."""

    id: Hashable
    first_pc: int
    last_pc: int
    insns: list[tuple[int, Insn]]
    function: str
    frame: tuple[int, ...] = ()
    lines: dict[int, LineInfo] = field(default_factory=dict)

    @property
    def last(self) -> Insn:
        """The instruction that ends the block."""
        return self.insns[-1][1]

    def __len__(self) -> int:
        return len(self.insns)


@dataclass(frozen=True)
class CfgWarning:
    """Something suspicious but legal, e.g. unreachable code in pcs [start, end]."""

    kind: str
    start: int
    end: int
    function: str

    def __str__(self) -> str:
        where = f"pc {self.start}" if self.start == self.end else f"pcs {self.start}-{self.end}"
        return f"{self.kind.replace('-', ' ')} at {where} in {self.function}"


# --- the per-function template, shared by `build` and `inline` -------------------------------
@dataclass
class _Block:
    first: int
    last: int
    insns: list[tuple[int, Insn]]
    function: Function
    succs: list[tuple[int, str, Condition | None]] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)   # callee entry pcs (local call / callx)
    ret: int | None = None                            # pc after the call
    is_exit: bool = False
    lines: dict[int, LineInfo] | None = None          # computed once, shared by copies


@dataclass
class _Layout:
    """The program cut into functions and blocks, validated."""

    program: Program
    functions: list[Function]
    fn_of_start: dict[int, Function]
    blocks: dict[int, _Block]                 # first pc -> block, in pc order
    fn_blocks: dict[int, list[int]]           # function start -> its blocks' first pcs
    call_graph: nx.DiGraph                    # function start -> callee start (attr pc)
    reachable: set[int] = field(default_factory=set)
    address_taken: list[int] = field(default_factory=list)  # callbacks, callx targets


def _kind(insn: Insn, pc: int) -> str:
    try:
        return insn.spec.kind
    except KeyError:
        raise ProgramError(f"invalid instruction (opcode {insn.opcode:#04x})", pc) from None


def _ends_block(insn: Insn, kind: str) -> bool:
    if kind in ("jcond", "ja", "may_goto", "exit", "callx"):
        return True
    if kind == "call":
        return insn.src == CALL_LOCAL or (insn.src == CALL_HELPER and insn.imm == HELPER_TAIL_CALL)
    return False


def _check_target(program: Program, pc: int, target: int, what: str) -> None:
    if not 0 <= target < program.end_pc:
        raise ProgramError(f"{what} to pc {target} outside the program "
                           f"(0..{program.end_pc - 1})", pc)
    if program.index_of(target) is None:
        raise ProgramError(f"{what} to pc {target}, the second slot of an lddw", pc)


def _functions(program: Program, kinds: list[str]) -> list[Function]:
    """The program's functions: as declared, or (when the program declares only the default
    single function) one per call target and code address, as the kernel finds subprograms."""
    declared = sorted((f for f in program.functions if f.end > f.start),  # drop empty ones
                      key=lambda f: f.start)
    end = program.end_pc
    if not declared or len(declared) == 1 and declared[0].start == 0 and declared[0].end == end:
        starts = {0}
        for (pc, insn), kind in zip(program.items(), kinds):
            if kind == "call" and insn.src == CALL_LOCAL:
                target = pc + 1 + insn.imm
            elif kind == "lddw" and insn.src == LDDW_CODE:
                target = pc + 1 + insn.imm
            else:
                continue
            _check_target(program, pc, target, "call" if kind == "call" else "function address")
            starts.add(target)
        ordered = sorted(starts)
        name = declared[0].name if declared else program.name
        return [Function(name if s == 0 else f"{name}+{s}", s, e)
                for s, e in zip(ordered, ordered[1:] + [end])]
    prev = 0
    for fn in declared:
        if fn.start != prev:
            raise ProgramError(f"functions do not tile the program: {fn.name} spans pcs "
                               f"[{fn.start}, {fn.end}) after pc {prev}")
        if program.index_of(fn.start) is None:
            raise ProgramError(f"function {fn.name} starts inside an lddw", fn.start)
        prev = fn.end
    if prev != end:
        raise ProgramError(f"functions end at pc {prev} but the program at pc {end}")
    return declared


def functions(program: Program) -> list[Function]:
    """The program's functions: as declared, or found from call targets and code addresses
    (raises ProgramError for invalid instructions or targets)."""
    return _functions(program, [_kind(insn, pc) for pc, insn in program.items()])


def _layout(program: Program) -> _Layout:
    """Validate the control flow of `program` and cut it into functions and blocks."""
    if not program.insns:
        raise ProgramError("empty program")
    items = list(program.items())
    kinds = [_kind(insn, pc) for pc, insn in items]
    functions = _functions(program, kinds)
    fn_of_start = {f.start: f for f in functions}
    end = program.end_pc

    # Which function each instruction is in; code addresses taken (callx candidates).
    fn_index = []
    fi = 0
    for pc, _ in items:
        while pc >= functions[fi].end:
            fi += 1
        fn_index.append(fi)
    address_taken: list[int] = []
    for (pc, insn), kind in zip(items, kinds):
        if kind == "lddw" and insn.src == LDDW_CODE:
            target = pc + 1 + insn.imm
            _check_target(program, pc, target, "function address")
            if target not in fn_of_start:
                raise ProgramError(f"function address of pc {target}, which starts no function",
                                   pc)
            if target not in address_taken:
                address_taken.append(target)

    # Leaders: function starts, jump targets, and whatever follows a block end.
    leaders = set(fn_of_start)
    for i, ((pc, insn), kind) in enumerate(zip(items, kinds)):
        fn = functions[fn_index[i]]
        if kind in ("jcond", "ja", "may_goto"):
            target = pc + 1 + insn.jump_offset
            _check_target(program, pc, target, "jump")
            if not fn.start <= target < fn.end:
                raise ProgramError(f"jump to pc {target} leaves function {fn.name} "
                                   f"(pcs {fn.start}..{fn.end - 1})", pc)
            leaders.add(target)
        elif kind == "call" and insn.src == CALL_LOCAL:
            target = pc + 1 + insn.imm
            _check_target(program, pc, target, "call")
            if target not in fn_of_start:
                raise ProgramError(f"call to pc {target}, which starts no function", pc)
        if _ends_block(insn, kind):
            nxt = pc + insn.slots
            if nxt < end:
                leaders.add(nxt)
        # Falling off the end of a function (or of the program).
        nxt = pc + insn.slots
        if nxt == fn.end and kind not in ("exit", "ja"):
            what = "the program" if nxt == end else f"function {fn.name}"
            raise ProgramError(f"control falls off the end of {what} "
                               f"(the last instruction must be exit or goto)", pc)

    # Blocks.
    blocks: dict[int, _Block] = {}
    fn_blocks: dict[int, list[int]] = {f.start: [] for f in functions}
    call_graph = nx.DiGraph()
    call_graph.add_nodes_from(fn_of_start)
    current: _Block | None = None
    for i, ((pc, insn), kind) in enumerate(zip(items, kinds)):
        fn = functions[fn_index[i]]
        if current is None or pc in leaders:
            current = _Block(pc, pc, [], fn)
            blocks[pc] = current
            fn_blocks[fn.start].append(pc)
        current.insns.append((pc, insn))
        current.last = pc
        nxt = pc + insn.slots
        if kind == "jcond":
            target = pc + 1 + insn.jump_offset
            right = insn.src if insn.spec.uses_src_reg else insn.imm
            cond = Condition(insn.spec.op, insn.spec.width, insn.dst, right,
                             insn.spec.uses_src_reg)
            if target == nxt:
                current.succs.append((nxt, "fallthrough", None))
            else:
                current.succs.append((target, "taken", cond))
                current.succs.append((nxt, "fallthrough", cond.negate()))
        elif kind == "may_goto":
            target = pc + 1 + insn.jump_offset
            if target != nxt:
                current.succs.append((target, "taken", None))
            current.succs.append((nxt, "fallthrough", None))
        elif kind == "ja":
            current.succs.append((pc + 1 + insn.jump_offset, "jump", None))
        elif kind == "exit":
            current.is_exit = True
        elif kind in ("call", "callx") and _ends_block(insn, kind):
            if kind == "callx":
                callees = address_taken or [f.start for f in functions
                                            if f.start not in (0, fn.start)]
            elif insn.src == CALL_LOCAL:
                callees = [pc + 1 + insn.imm]
            else:
                callees = []          # tail call: continues when it fails
            current.calls = callees
            current.ret = nxt
            for callee in callees:
                if not call_graph.has_edge(fn.start, callee):
                    call_graph.add_edge(fn.start, callee, pc=pc)
            current.succs.append((nxt, "fallthrough", None))
        elif nxt in leaders and nxt < fn.end:
            current.succs.append((nxt, "fallthrough", None))
        if _ends_block(insn, kind) or nxt in leaders:
            current = None

    layout = _Layout(program, functions, fn_of_start, blocks, fn_blocks, call_graph,
                     address_taken=address_taken)
    _check_calls(layout)
    layout.reachable = _reachable(layout)
    return layout


def _check_calls(layout: _Layout) -> None:
    """Reject recursion and call chains deeper than MAX_CALL_FRAMES frames."""
    cg = layout.call_graph
    try:
        cycle = nx.find_cycle(cg)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        caller, callee = cycle[-1][:2]
        names = " -> ".join(layout.fn_of_start[u].name for u, _ in cycle)
        raise ProgramError(f"recursive call ({names} -> {layout.fn_of_start[callee].name})",
                           cg.edges[caller, callee]["pc"])
    depth = {0: 1}
    for fn in nx.topological_sort(cg):
        if fn not in depth:
            continue
        for callee in cg.successors(fn):
            d = depth[fn] + 1
            if d > MAX_CALL_FRAMES:
                raise ProgramError(f"call chain deeper than {MAX_CALL_FRAMES} frames "
                                   f"(calling {layout.fn_of_start[callee].name})",
                                   cg.edges[fn, callee]["pc"])
            depth[callee] = max(depth.get(callee, 0), d)


def _reachable(layout: _Layout) -> set[int]:
    """Blocks reachable from pc 0 and from functions whose address is taken (callbacks that
    helpers such as bpf_loop call) through jumps, fallthroughs and calls."""
    seen = {0, *layout.address_taken}
    work = list(seen)
    while work:
        block = layout.blocks[work.pop()]
        for nxt in [t for t, _, _ in block.succs] + block.calls:
            if nxt not in seen:
                seen.add(nxt)
                work.append(nxt)
    return seen


def _warnings(layout: _Layout) -> list[CfgWarning]:
    """Unreachable code as pc ranges, one warning per run of unreachable blocks."""
    out: list[CfgWarning] = []
    run: list[_Block] = []

    def flush() -> None:
        if run:
            out.append(CfgWarning("unreachable-code", run[0].first, run[-1].last,
                                  run[0].function.name))
            run.clear()

    for first, block in layout.blocks.items():
        if first in layout.reachable:
            flush()
        else:
            if run and run[-1].function is not block.function:
                flush()
            run.append(block)
    flush()
    return out


def _basic_block(layout: _Layout, block: _Block, node: Hashable,
                 frame: tuple[int, ...]) -> BasicBlock:
    if block.lines is None:
        info = layout.program.line_info
        block.lines = {pc: info[pc] for pc, _ in block.insns if pc in info} if info else {}
    return BasicBlock(node, block.first, block.last, block.insns, block.function.name, frame,
                      block.lines)


def _graph_attrs(graph: nx.DiGraph, layout: _Layout, kind: str) -> None:
    graph.graph["kind"] = kind
    graph.graph["program"] = layout.program.name
    graph.graph["functions"] = {f.name: f.start for f in layout.functions}
    graph.graph["function_ranges"] = {f.name: (f.start, f.end) for f in layout.functions}
    graph.graph["warnings"] = _warnings(layout)
    graph.graph["callbacks"] = list(layout.address_taken)


def build(program: Program) -> nx.DiGraph:
    """The per-function CFG for display: nodes are block first pcs; see the module doc."""
    layout = _layout(program)
    graph = nx.DiGraph()
    for first, block in layout.blocks.items():
        graph.add_node(first, block=_basic_block(layout, block, first, ()),
                       reachable=first in layout.reachable)
    for first, block in layout.blocks.items():
        for target, kind, cond in block.succs:
            graph.add_edge(first, target, kind=kind, condition=cond)
        for callee in block.calls:
            graph.add_edge(first, callee, kind="call", condition=None, callsite=block.last)
    _graph_attrs(graph, layout, "build")
    graph.graph["entry"] = 0
    graph.graph["exits"] = [b for b in layout.fn_blocks[0] if layout.blocks[b].is_exit]
    return graph


def inline(program: Program, max_blocks: int = MAX_INLINED_BLOCKS) -> nx.DiGraph:
    """The CFG with bpf-to-bpf calls inlined per call site, for the verifier; nodes are
    (frame, first_pc). Only blocks reachable from the entry are included."""
    layout = _layout(program)
    graph = nx.DiGraph()
    exits_of: dict[int, list[int]] = {
        f: [b for b in blocks if layout.blocks[b].is_exit and b in layout.reachable]
        for f, blocks in layout.fn_blocks.items()}
    work: list[tuple[tuple[int, ...], int]] = [((), 0)]
    while work:
        frame, fstart = work.pop()
        for first in layout.fn_blocks[fstart]:
            if first not in layout.reachable:
                continue
            block = layout.blocks[first]
            node = (frame, first)
            graph.add_node(node, block=_basic_block(layout, block, node, frame))
            if block.calls:
                inner = frame + (block.last,)
                for callee in block.calls:
                    graph.add_edge(node, (inner, callee), kind="call", condition=None,
                                   callsite=block.last)
                    for ex in exits_of[callee]:
                        graph.add_edge((inner, ex), (frame, block.ret), kind="return",
                                       condition=None, callsite=block.last)
                    work.append((inner, callee))
                for target, kind, cond in block.succs:
                    if target != block.ret:
                        graph.add_edge(node, (frame, target), kind=kind, condition=cond)
            else:
                for target, kind, cond in block.succs:
                    graph.add_edge(node, (frame, target), kind=kind, condition=cond)
        if graph.number_of_nodes() > max_blocks:
            raise ProgramError(f"more than {max_blocks} blocks after inlining calls")
    entry = ((), 0)
    keep = nx.descendants(graph, entry) | {entry}
    if len(keep) != graph.number_of_nodes():
        graph.remove_nodes_from([n for n in list(graph) if n not in keep])
    _graph_attrs(graph, layout, "inline")
    graph.graph["entry"] = entry
    graph.graph["exits"] = [n for n in graph if n[0] == () and layout.blocks[n[1]].is_exit]
    return graph


def block_of(graph: nx.DiGraph, node: Hashable) -> BasicBlock:
    """The BasicBlock at `node`."""
    return graph.nodes[node]["block"]
