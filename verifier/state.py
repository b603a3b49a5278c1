"""The abstract state: register types x numeric domain x stack array domain.

A *value* is a register (`r0`..`r10`), a saved caller register (`f1.r6`) or a stack cell
(`s[504...511]`). Each value has a type mask (see `verifier.types`) in `State.types` and
numeric variables `<value>.<field>` in the numeric domain `State.num` (any `NumericDomain`).
A register absent from `types` is uninitialised; a cell absent from `types` does not exist.
Globals: `packet_size`, `meta_offset`, loop counters `pc[<head>]`.

Joins keep per-type facts: when a value's type differs between the two sides, the fields
that only matter for the other side's types are copied over before the numeric join, so a
register that is `{stack, packet}` keeps both its `stack_offset` and its `packet_offset`.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from domains.bounds import Interval
from domains.linear import LinearExpression, eq, le
from verifier import types as T
from verifier.stack import Stack, cell_name

REGISTERS = tuple(f"r{i}" for i in range(11))
PACKET_SIZE = "packet_size"
META_OFFSET = "meta_offset"


def var(value: str, field: str) -> str:
    """The numeric variable of a value's field, e.g. `r1.svalue`."""
    return f"{value}.{field}"


def _is_register(value: str) -> bool:
    return not value.startswith("s[")


class State:
    """One abstract state (mutable; `copy()` before changing a shared one)."""

    __slots__ = ("types", "num", "stack", "_bottom")

    def __init__(self, types: dict[str, int], num, stack: Stack, bottom: bool = False) -> None:
        self.types = types
        self.num = num
        self.stack = stack
        self._bottom = bottom

    # ---- construction
    @classmethod
    def top(cls, domain) -> "State":
        """Every register uninitialised, numbers unconstrained, stack uninitialised."""
        return cls({}, domain.top(), Stack())

    @classmethod
    def bottom(cls, domain) -> "State":
        return cls({}, domain.bottom(), Stack(), True)

    def copy(self) -> "State":
        return State(dict(self.types), self.num.copy(), self.stack.copy(), self._bottom)

    def is_bottom(self) -> bool:
        if not self._bottom and self.num.is_bottom():
            self._bottom = True
        return self._bottom

    def set_bottom(self) -> None:
        self._bottom = True

    # ---- values
    def type_of(self, value: str) -> int:
        """The type mask of a value (UNINIT for unknown registers, 0 for absent cells)."""
        t = self.types.get(value)
        if t is None:
            return T.UNINIT if _is_register(value) else 0
        return t

    def interval(self, value: str, field: str) -> Interval:
        return self.num.interval(var(value, field))

    def forget_value(self, value: str) -> None:
        """Drop every numeric fact about the value (its type is unchanged)."""
        self.num.forget([var(value, f) for f in T.ALL_FIELDS])

    def havoc(self, value: str, mask: int = T.UNINIT) -> None:
        """The value becomes an unknown of type `mask`."""
        self.forget_value(value)
        if mask == T.UNINIT and _is_register(value):
            self.types.pop(value, None)
        else:
            self.types[value] = mask

    def remove(self, value: str) -> None:
        """Forget a value entirely (registers become uninitialised, cells disappear)."""
        self.forget_value(value)
        self.types.pop(value, None)

    def copy_value(self, dst: str, src: str) -> None:
        """dst := src (type and every relevant numeric field; exact in a relational domain)."""
        if dst == src:
            return
        mask = self.type_of(src)
        keep = T.fields(mask) + ("id", "region")
        num = self.num
        for f in T.ALL_FIELDS:
            if f in keep:
                num.assign(var(dst, f), var(src, f))
            else:
                num.forget([var(dst, f)])
        if mask == T.UNINIT and _is_register(dst):
            self.types.pop(dst, None)
        elif mask == 0:
            self.types.pop(dst, None)
        else:
            self.types[dst] = mask

    def set_number(self, value: str, iv_s: Interval | None = None,
                   iv_u: Interval | None = None) -> None:
        """The value becomes a number with the given signed / unsigned ranges (top if None)."""
        self.havoc(value, T.NUMBER)
        if iv_s is not None:
            self.num.set_interval(var(value, "svalue"), iv_s)
        if iv_u is not None:
            self.num.set_interval(var(value, "uvalue"), iv_u)

    def set_const(self, value: str, c: int) -> None:
        """The value becomes the 64-bit number c (given signed or unsigned)."""
        c &= (1 << 64) - 1
        s = c - (1 << 64) if c >= 1 << 63 else c
        self.havoc(value, T.NUMBER)
        self.num.assign(var(value, "svalue"), s)
        self.num.assign(var(value, "uvalue"), c)

    def values(self) -> list[str]:
        return list(self.types)

    # ---- lattice
    def _aligned(self, other: "State") -> "State":
        """A copy of self (or self) where each field irrelevant to self's types but relevant to
        other's takes other's range, so that per-type facts survive join/leq/widen."""
        out = None
        for v, mo in other.types.items():
            ms = self.type_of(v)
            extra = T.fields(mo & ~ms)
            if not extra:
                continue
            mine = T.fields(ms)
            for f in extra:
                if f in mine:
                    continue
                if out is None:
                    out = State(self.types, self.num.copy(), self.stack, self._bottom)
                x = var(v, f)
                out.num.set_interval(x, other.num.interval(x))
        return out or self

    def _tagged(self, other: "State") -> "State":
        """A copy of self (or self) where each value of one type here and another type in
        other records its type in `region`, so that the join keeps which values share one."""
        out = None
        for v, m in self.types.items():
            mo = other.types.get(v)
            if mo is None or mo == m or not T.is_single(m) or m == T.UNINIT:
                continue
            if out is None:
                out = State(self.types, self.num.copy(), self.stack, self._bottom)
            out.num.assign(var(v, "region"), T.region_code(m))
        return out or self

    def same_region(self, a: str, b: str) -> bool:
        """Whether values a and b, of the same possible types, surely have the same one."""
        m = self.type_of(a)
        if m != self.type_of(b):
            return False
        if T.is_single(m):
            return True
        return self.num.entails(eq(var(a, "region"), var(b, "region")))

    def _merge_nonnum(self, other: "State") -> tuple[dict[str, int], Stack, list[str]]:
        """Joined types and stack; the names of values to forget in the result."""
        stack = self.stack.join(other.stack)
        types: dict[str, int] = {}
        drop: list[str] = []
        for v in set(self.types) | set(other.types):
            if _is_register(v):
                types[v] = self.type_of(v) | other.type_of(v)
                if types[v] == T.UNINIT:
                    del types[v]
        for o, s in list(self.stack.cells.items()) + list(other.stack.cells.items()):
            name = cell_name(o, s)
            if stack.cells.get(o) == s:
                types[name] = self.type_of(name) | other.type_of(name)
            elif name not in drop:
                drop.append(name)
                if (self.type_of(name) | other.type_of(name)) & ~T.NUMBER:
                    stack.mark_ptr(o, o + s)
        return types, stack, drop

    def join(self, other: "State") -> "State":
        if self.is_bottom():
            return other.copy()
        if other.is_bottom():
            return self.copy()
        a = self._tagged(other)._aligned(other)
        b = other._tagged(self)._aligned(self)
        types, stack, drop = self._merge_nonnum(other)
        num = a.num.join(b.num)
        _recover_relations(num, a.num, b.num)
        out = State(types, num, stack)
        for name in drop:
            out.forget_value(name)
        return out

    def widen(self, other: "State", thresholds: Sequence[int] = ()) -> "State":
        if self.is_bottom():
            return other.copy()
        if other.is_bottom():
            return self.copy()
        a = self._tagged(other)._aligned(other)
        b = other._tagged(self)._aligned(self)
        types, stack, drop = self._merge_nonnum(other)
        num = a.num.widen(b.num, thresholds)
        out = State(types, num, stack)
        for name in drop:
            out.forget_value(name)
        return out

    def narrow(self, other: "State") -> "State":
        """Refine infinite bounds of self with other (other below self); keeps self's shape."""
        if self.is_bottom() or other.is_bottom():
            return other.copy() if other.is_bottom() else self.copy()
        b = other._aligned(self)
        return State(dict(self.types), self.num.narrow(b.num), self.stack.copy())

    def descend(self, other: "State") -> "State":
        """A descending step at a loop head: self is a post-fixpoint and other the head's state
        recomputed from it with no path cut short, so both hold every reachable state and so
        does their meet (a bound from a widening threshold shrinks to what the loop reaches).
        Keeps self's shape; facts about values self does not have are dropped."""
        if self.is_bottom() or other.is_bottom():
            return other.copy() if other.is_bottom() else self.copy()
        b = other._tagged(self)._aligned(self)
        extra = [v for v in other.types if v not in self.types]
        if extra:
            b = State(b.types, b.num.copy(), b.stack, b._bottom)
            for v in extra:
                b.forget_value(v)
        return State(dict(self.types), self.num.meet(b.num), self.stack.copy())

    def leq(self, other: "State") -> bool:
        if self.is_bottom():
            return True
        if other.is_bottom():
            return False
        for v, m in self.types.items():
            if m & ~other.type_of(v) and (_is_register(v) or v in other.types):
                return False
        for v in other.types:
            if v not in self.types and _is_register(v) and not other.types[v] & T.UNINIT:
                return False
        if not self.stack.leq(other.stack):
            return False
        a = self._tagged(other)._aligned(other)
        return a.num.leq(other.num)

    # ---- output
    def constraints(self) -> list[str]:
        """The state in the YAML constraint syntax (`r1.type=number`, `r1.svalue=[0, 5]`,
        `r1.svalue-r2.svalue<=3`, `s[504...511].type=number`), sorted."""
        from verifier.constraints import describe
        return describe(self)

    def __str__(self) -> str:
        if self.is_bottom():
            return "_|_"
        return "[" + ", ".join(self.constraints()) + "]"


MAX_RELATION_VARS = 24


def _recover_relations(joined, a, b) -> None:
    """Keep differences that hold on both sides only through bounds (x = 0, c = 1 on one side,
    x = 1, c = 2 on the other: `c - x = 1` on both, lost by a join of explicit relations). Only
    the variables whose range differs between the sides can gain a relation."""
    if type(joined).__name__ == "IntervalDomain":
        return
    changed = []
    for v in a.variables() | b.variables():
        ia, ib = a.interval(v), b.interval(v)
        if ia != ib and ia.is_finite() and ib.is_finite():
            changed.append(v)
            if len(changed) > MAX_RELATION_VARS:
                return
    changed.sort()
    for i, x in enumerate(changed):
        for y in changed[i + 1:]:
            d = LinearExpression.var(y) - LinearExpression.var(x)
            hull = a.interval(d).join(b.interval(d))
            have = joined.interval(d)
            if isinstance(hull.hi, int) and hull.hi < have.hi:
                joined.add_constraint(le(d, hull.hi))
            if isinstance(hull.lo, int) and hull.lo > have.lo:
                joined.add_constraint(le(hull.lo, d))


def forget_all(state: State, names: Iterable[str]) -> None:
    """Remove several values at once."""
    for n in names:
        state.remove(n)
