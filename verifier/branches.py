"""Edge refinement: what a branch condition teaches about both operands.

Numbers: 64-bit comparisons add the linear constraint on the view the comparison reads
(`uvalue` for jgt/jge/jlt/jle/jeq/jne, `svalue` for the signed ones), so the zone keeps
relations between registers; jset and 32-bit comparisons refine intervals through
`domains.machine.refine`. Pointers: two pointers of one region compare by their offsets
(`if r3 > r2` with both packet pointers gives `r3.packet_offset <= r2.packet_offset` on the
fall-through edge); a comparison with NULL splits a maybe-NULL pointer into its NULL and
non-NULL parts.
"""
from __future__ import annotations

from domains import machine as M
from domains.bounds import Interval
from domains.linear import LinearExpression as E
from domains.linear import eq, le, lt, ne
from verifier import types as T
from verifier.sem_numbers import MASK64, _low32, meet_var, sync, views
from verifier.state import State, var

U32 = M.full_range(32, False)
SIGNED = {"jsgt", "jsge", "jslt", "jsle"}
SELF_FALSE = {"jne", "jgt", "jlt", "jsgt", "jslt"}  # `x op x` never holds
# Whether `p op 0` can hold for a pointer p (a non-NULL address, below 2^63 as a signed value).
POINTER_VS_NULL = {"jeq": False, "jne": True, "jgt": True, "jge": True, "jlt": False,
                   "jle": False, "jsgt": True, "jsge": True, "jslt": False, "jsle": False}


def _relation(op: str, a, b):
    """The linear constraint `a op b` (None for jne/jset/jnset, which are not convex)."""
    base = op[2:] if op in SIGNED else op[1:]
    if base == "eq":
        return eq(a, b)
    if base == "gt":
        return lt(b, a)
    if base == "ge":
        return le(b, a)
    if base == "lt":
        return lt(a, b)
    if base == "le":
        return le(a, b)
    return None


def refine(sem, st: State, cond) -> None:
    """Refine `st` in place with `cond` (cfg.graph.Condition)."""
    left = f"r{cond.left}"
    ml = st.type_of(left)
    if cond.is_reg:
        right = f"r{cond.right}"
        mr = st.type_of(right)
    else:
        right, mr = None, T.NUMBER
    if ml & T.UNINIT or mr & T.UNINIT:
        return  # reported at the jump; nothing sound to learn
    if cond.left == cond.right and right is not None and cond.op in SELF_FALSE:
        st.set_bottom()  # `r1 != r1`, `r1 > r1`, ...: one value never differs from itself
        return
    if ml == T.NUMBER and mr == T.NUMBER:
        _numbers(st, cond, left, right)
        return
    # comparisons against NULL (the immediate 0 or a register known to be 0)
    zero_right = right is None and cond.right == 0 or (
        mr == T.NUMBER and right is not None and st.interval(right, "svalue").singleton() == 0)
    if ml & ~T.NUMBER and zero_right and cond.width == 64:
        _null_check(st, cond, left, ml, right)
        return
    zero_left = ml == T.NUMBER and st.interval(left, "svalue").singleton() == 0
    if mr & ~T.NUMBER and zero_left and cond.width == 64 and right is not None:
        flipped = {"jgt": "jlt", "jge": "jle", "jlt": "jgt", "jle": "jge", "jsgt": "jslt",
                   "jsge": "jsle", "jslt": "jsgt", "jsle": "jsge"}.get(cond.op, cond.op)
        type(cond)
        _null_check(st, _Cond(flipped, 64, cond.right, cond.left, True), right, mr, left)
        return
    if ml == mr and ml in (T.MAP_FD, T.MAP_FD_PROGRAMS) and right is not None and \
            cond.width == 64 and cond.op in ("jeq", "jne"):
        _same_map(sem, st, cond.op == "jeq", var(left, "map_fd"), var(right, "map_fd"))
        return
    if ml == mr and not T.is_single(ml) and not ml & ~(T.NUMBER | T.PACKET | T.CTX | T.STACK) \
            and right is not None and cond.width == 64 and st.same_region(left, right):
        _one_region_of_several(st, cond.op, left, right, ml)
        return
    # one packet, one context, one stack (absolute offsets): offsets order like addresses;
    # two map values are distinct objects whose addresses say nothing about their offsets
    if (ml == mr and ml in (T.PACKET, T.CTX, T.STACK) and right is not None
            and cond.width == 64):
        f = T.OFFSET_FIELD[ml]
        a, b = var(left, f), var(right, f)
        c = _relation(cond.op, a, b)
        if c is not None:
            st.num.add_constraint(c)
        elif cond.op == "jne":
            st.num.add_constraint(ne(a, b))


def _one_region_of_several(st: State, op: str, left: str, right: str, mask: int) -> None:
    """Two values of several possible types that surely share one: the edge is dead when the
    comparison fails in every one of them (as numbers, or by offsets for pointers)."""
    for b in T.bits(mask):
        f = ("svalue" if op in SIGNED else "uvalue") if b == T.NUMBER else T.OFFSET_FIELD[b]
        a, c = var(left, f), var(right, f)
        rel = _relation(op, a, c) if op != "jne" else ne(a, c)
        if rel is None:
            return
        trial = st.copy()
        trial.num.add_constraint(rel)
        if not trial.is_bottom():
            return
    st.set_bottom()


def _same_map(sem, st: State, equal: bool, a: str, b: str) -> None:
    """Two map pointers are equal (or not): equal pointers are the same map (same index).
    Two loads of one map of the program (not an inner map, whose index stands for many maps
    at run time) give one pointer, so they cannot differ."""
    if equal:
        st.num.add_constraint(eq(a, b))
        return
    ia, ib = st.num.interval(a).singleton(), st.num.interval(b).singleton()
    if ia is not None and ia == ib and 0 <= ia < len(sem.program.maps):
        st.set_bottom()


class _Cond:
    __slots__ = ("op", "width", "left", "right", "is_reg")

    def __init__(self, op, width, left, right, is_reg):
        self.op, self.width, self.left, self.right, self.is_reg = op, width, left, right, is_reg


def _null_check(st: State, cond, reg: str, mask: int, other: str | None) -> None:
    """`reg op 0` where reg may be a pointer: split its NULL and non-NULL parts."""
    ptr_ok = POINTER_VS_NULL.get(cond.op)
    keep = mask
    if ptr_ok is False:
        keep &= T.NUMBER
    if mask & T.NUMBER:
        trial = st.copy()
        _numbers(trial, _Cond(cond.op, 64, int(reg[1:]), 0, False), reg, None)
        if trial.is_bottom():
            keep &= ~T.NUMBER
        elif keep == T.NUMBER:
            st.num = trial.num
    if not keep:
        st.set_bottom()
        return
    ident = st.num.interval(var(reg, "id")).singleton() if mask & T.NUMBER else None
    targets = [reg]
    if ident is not None:
        targets += [v for v in st.types if v != reg and st.type_of(v) & T.NUMBER
                    and st.num.interval(var(v, "id")).singleton() == ident]
    for v in targets:
        m = st.type_of(v)
        new = keep if v == reg else (T.NUMBER if keep == T.NUMBER else m & ~T.NUMBER) or m
        st.types[v] = new
        if new == T.NUMBER and m != T.NUMBER:
            st.num.forget([var(v, f) for f in T.ALL_FIELDS if f not in ("svalue", "uvalue")])
            if v != reg:
                st.num.assign(var(v, "svalue"), 0)
                st.num.assign(var(v, "uvalue"), 0)


def _meet_views(st: State, r: str, iv: Interval, signed: bool) -> None:
    """Constrain a number's view (64-bit) to iv."""
    meet_var(st, var(r, "svalue" if signed else "uvalue"), iv)


def _numbers(st: State, cond, left: str, right: str | None) -> None:
    op, width = cond.op, cond.width
    if width == 64:
        signed = op in SIGNED
        f = "svalue" if signed else "uvalue"
        a = var(left, f)
        if right is not None:
            b = E.var(var(right, f))
        else:
            b = E.const(cond.right if signed else cond.right & MASK64)
        c = _relation(op, a, b)
        if c is not None:
            st.num.add_constraint(c)
            if op == "jeq":
                other = "uvalue" if signed else "svalue"
                ob = E.var(var(right, other)) if right is not None else \
                    E.const(cond.right & MASK64 if signed else cond.right)
                st.num.add_constraint(eq(var(left, other), ob))
        elif op == "jne":
            st.num.add_constraint(ne(a, b))
            if right is None:
                st.num.add_constraint(ne(var(left, "svalue"), cond.right))
        else:  # jset / jnset on the unsigned views
            ua = views(st, left)[1]
            ub = views(st, right)[1] if right is not None else Interval.const(cond.right & MASK64)
            ra, rb = M.refine("jset", ua, ub, 64, op == "jset")
            if ra.is_bottom():
                st.set_bottom()
                return
            _meet_views(st, left, ra, False)
            if right is not None:
                _meet_views(st, right, rb, False)
    else:
        _numbers32(st, cond, left, right)
    if st.is_bottom():
        return
    sync(st, left)
    if right is not None and not st.is_bottom():
        sync(st, right)


def _numbers32(st: State, cond, left: str, right: str | None) -> None:
    op = cond.op
    signed = op in SIGNED
    la_u, la_s = _low32(st, left)
    if right is not None:
        rb_u, rb_s = _low32(st, right)
    else:
        rb_u, rb_s = Interval.const(cond.right & 0xFFFFFFFF), Interval.const(
            ((cond.right + (1 << 31)) & 0xFFFFFFFF) - (1 << 31))
    a, b = (la_s, rb_s) if signed else (la_u, rb_u)
    if op == "jnset":
        ra, rb = M.refine("jset", a, b, 32, False)
    else:
        ra, rb = M.refine(op, a, b, 32, True)
    if ra.is_bottom() or rb.is_bottom():
        st.set_bottom()
        return
    for reg, r in ((left, ra), (right, rb)):
        if reg is None:
            continue
        u = views(st, reg)[1]
        low = M.to_unsigned(r, 32) if signed else r
        if u.leq(U32):  # the register is its low half: the refinement carries over
            _meet_views(st, reg, low, False)
        elif u.is_finite() and u.lo >> 32 == u.hi >> 32:  # one high half: it carries over too
            _meet_views(st, reg, low + (u.lo >> 32 << 32), False)
    # relational facts when both sides are 32-bit clean values
    if right is not None and op not in ("jset", "jnset", "jne"):
        ul, ur = views(st, left)[1], views(st, right)[1]
        limit = Interval(0, (1 << 31) - 1) if signed else U32
        if ul.leq(limit) and ur.leq(limit):
            c = _relation(op, var(left, "uvalue"), var(right, "uvalue"))
            if c is not None:
                st.num.add_constraint(c)
