"""Transfer functions: one per instruction kind of `cfg.isa.SPECS`, plus edge refinement.

`Semantics` dispatches each instruction to its kind's transfer function; the kinds live by
concept in `sem_alu` (arithmetic), `sem_memory` (loads, stores, atomics, lddw) and `sem_calls`
(helpers, local calls, exit), over the number views of `sem_numbers`. Assertions are checked
(or assumed) through `verifier.checks` before each instruction's effect.
"""
from __future__ import annotations

from domains.linear import le
from verifier import checks as C
from verifier import types as T
from verifier.options import Options
from verifier.sem_alu import AluSemantics
from verifier.sem_calls import CallSemantics
from verifier.sem_memory import MemorySemantics
from verifier.sem_numbers import meet_var, set_number, sync, views  # noqa: F401 (re-exported)
from verifier.state import META_OFFSET, PACKET_SIZE, State

MAX_PACKET = 65535
META_MIN = -4098
WRITES_DST = {"alu", "neg", "mov", "movsx", "end", "bswap", "ldx", "ldxsx", "lddw"}


class Semantics(AluSemantics, MemorySemantics, CallSemantics):
    """The transfer functions of one program on one platform and program type."""

    def __init__(self, program, platform, ptype, options: Options) -> None:
        self.program = program
        self.platform = platform
        self.ptype = ptype
        self.options = options
        self.maps = list(program.maps)
        self.inner: dict[int, int] = {}
        for i, m in enumerate(program.maps):
            if m.inner is not None:
                self.inner[i] = len(self.maps)
                self.maps.append(m.inner)
        self.readonly = frozenset(i for i, m in enumerate(self.maps) if getattr(m, "readonly", False))
        context = getattr(ptype, "context", None)
        self.context = context
        self.packet_access = bool(getattr(ptype, "packet_access", False))
        self.return_range = getattr(ptype, "return_range", None)
        self.has_meta = bool(context is not None and any(
            getattr(f, "kind", "") == "packet_meta" for f in getattr(context, "fields", ())))
        self.dispatch = {
            "alu": self._alu, "neg": self._neg, "mov": self._mov, "movsx": self._movsx,
            "end": self._end, "bswap": self._end, "ldx": self._load, "ldxsx": self._load,
            "st": self._store, "stx": self._store, "atomic": self._atomic, "lddw": self._lddw,
            "ldabs": self._ldabs, "ldind": self._ldabs, "ja": self._nop, "may_goto": self._nop,
            "jcond": self._jcond, "call": self._call, "callx": self._callx, "exit": self._exit,
        }

    def map_kind(self, mp) -> str:
        """The map's type name on this platform (`prog_array`, `array_of_maps`, ...)."""
        names = getattr(self.platform, "map_types", None) or {}
        return names.get(mp.type) or getattr(mp, "type_name", "")

    # ---- entry state --------------------------------------------------------------------
    def entry_state(self, domain) -> State:
        """r1 = ctx, r10 = top of the stack, packet bounds."""
        st = State.top(domain)
        st.havoc("r1", T.CTX)
        st.num.assign("r1.ctx_offset", 0)
        st.havoc("r10", T.STACK)
        st.num.assign("r10.stack_offset", self.options.stack_top)
        self.bound_globals(st)
        return st

    def bound_globals(self, st: State) -> None:
        st.num.add_constraint(le(0, PACKET_SIZE))
        st.num.add_constraint(le(PACKET_SIZE, MAX_PACKET))
        if self.has_meta:
            st.num.add_constraint(le(META_OFFSET, 0))
            st.num.add_constraint(le(META_MIN, META_OFFSET))
        else:
            st.num.assign(META_OFFSET, 0)

    def region(self, depth: int) -> C.Region:
        top = self.options.stack_top
        size = self.options.stack_size
        return C.Region(top - size * (depth + 1), top, self.context, self.packet_access,
                        top - size * depth, self.readonly)

    # ---- instructions -------------------------------------------------------------------
    def transfer(self, st: State, pc: int, insn, ch: C.Checker, depth: int = 0) -> None:
        """Check then apply one instruction to `st` in place."""
        if st.is_bottom():
            return
        spec = insn.spec
        if insn.dst == 10 and spec.kind in WRITES_DST or spec.kind == "atomic" and \
                insn.src == 10 and (spec.op.startswith("fetch") or spec.op == "xchg"):
            ch.fail(pc, "invalid-memory", "r10, the frame pointer, is read-only")
            return  # assumed not to happen: r10 keeps its value
        self.dispatch[spec.kind](st, pc, insn, spec, ch, depth)

    def _nop(self, st, pc, insn, spec, ch, depth) -> None:
        return

    def _jcond(self, st, pc, insn, spec, ch, depth) -> None:
        C.check_init(ch, st, pc, insn.dst)
        ml = st.type_of(f"r{insn.dst}")
        if spec.uses_src_reg:
            C.check_init(ch, st, pc, insn.src)
            mr = st.type_of(f"r{insn.src}")
            zero = mr == T.NUMBER and st.interval(f"r{insn.src}", "svalue").singleton() == 0
        else:
            mr = T.NUMBER
            zero = insn.imm == 0
        if ml == T.NUMBER and mr == T.NUMBER or self.options.privileged:
            return
        lp, rp = ml & ~T.NUMBER, mr & ~T.NUMBER
        if spec.width == 32 and (lp or rp):
            who = insn.dst if lp else insn.src
            ch.fail(pc, "pointer-compare", f"32-bit comparison of pointer r{who} "
                    f"({T.name(st.type_of(f'r{who}'))})")
            return
        if lp and rp:
            if ml == mr and ml in (T.MAP_FD, T.MAP_FD_PROGRAMS) and spec.op in ("jeq", "jne") \
                    and spec.width == 64:
                return  # which map: maps are distinct objects, equal iff the same map
            if not ml & ~(T.NUMBER | T.POINTERS) and st.same_region(f"r{insn.dst}", f"r{insn.src}"):
                return  # one region on every path (`r1 == r2` of two values set together)
            if ml != mr or not T.is_single(ml) or ml & ~T.POINTERS:
                ch.fail(pc, "pointer-compare", f"comparison of pointers of different regions "
                        f"({T.name(ml)} and {T.name(mr)})")
            return
        if (lp and mr == T.NUMBER or rp and ml == T.NUMBER) and not zero:
            who = insn.dst if lp else insn.src
            ch.fail(pc, "pointer-compare", f"comparison of pointer r{who} "
                    f"({T.name(st.type_of(f'r{who}'))}) with a number other than NULL")
        elif (lp or rp) and zero and spec.op in ("jsgt", "jsge", "jslt", "jsle"):
            who = insn.dst if lp else insn.src
            ch.fail(pc, "pointer-compare", f"signed comparison of pointer r{who} "
                    f"({T.name(st.type_of(f'r{who}'))}) with NULL")

    # ---- branches -----------------------------------------------------------------------
    def assume(self, st: State, cond) -> None:
        """Refine `st` in place with an edge condition (cfg.graph.Condition); may make it bottom."""
        if cond is None or st.is_bottom():
            return
        from verifier.branches import refine
        refine(self, st, cond)
