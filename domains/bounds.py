"""Integer intervals with infinite bounds, the value every domain reads back.

Representation of infinity: a bound is either a Python `int` (exact, unbounded size) or one
of the two floats `NEG_INF` / `POS_INF` (= -math.inf / math.inf). Python compares ints and
floats exactly, so `5 < POS_INF` and `2**80 < POS_INF` are right; no finite bound is ever a
float. The only float operations that could give NaN are `inf - inf` and `0 * inf`; the
arithmetic below never forms them (a non-empty interval has `lo < +oo` and `hi > -oo`, and
products go through `_mul`, which treats `0 * oo` as 0). The empty interval is
`Interval(POS_INF, NEG_INF)`; any `lo > hi` is empty.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

Bound = Union[int, float]
POS_INF: float = math.inf
NEG_INF: float = -math.inf


def _mul(a: Bound, b: Bound) -> Bound:
    """Product of two bounds where 0 * oo = 0 (never NaN)."""
    if a == 0 or b == 0:
        return 0
    return a * b


def _fmt(b: Bound) -> str:
    if b == POS_INF:
        return "+oo"
    if b == NEG_INF:
        return "-oo"
    return str(b)


def _floordiv(a: Bound, b: int) -> Bound:
    """floor(a / b) for b != 0 and a possibly infinite."""
    if isinstance(a, float):
        return a if b > 0 else -a
    return a // b


def _ceildiv(a: Bound, b: int) -> Bound:
    """ceil(a / b) for b != 0 and a possibly infinite."""
    if isinstance(a, float):
        return a if b > 0 else -a
    return -((-a) // b)


@dataclass(frozen=True, slots=True)
class Interval:
    """The integers in [lo, hi]; empty (bottom) when lo > hi."""

    lo: Bound
    hi: Bound

    # ---- constructors
    @staticmethod
    def top() -> "Interval":
        """[-oo, +oo]."""
        return _TOP

    @staticmethod
    def bottom() -> "Interval":
        """The empty interval."""
        return _BOTTOM

    @staticmethod
    def const(c: int) -> "Interval":
        """The singleton {c}."""
        return Interval(c, c)

    @staticmethod
    def range(lo: Bound, hi: Bound) -> "Interval":
        """[lo, hi], normalised to the canonical bottom when empty."""
        return Interval(lo, hi) if lo <= hi else _BOTTOM

    @staticmethod
    def at_least(lo: Bound) -> "Interval":
        """[lo, +oo]."""
        return Interval(lo, POS_INF)

    @staticmethod
    def at_most(hi: Bound) -> "Interval":
        """[-oo, hi]."""
        return Interval(NEG_INF, hi)

    # ---- predicates
    def is_bottom(self) -> bool:
        """True when empty."""
        return self.lo > self.hi

    def is_top(self) -> bool:
        """True for [-oo, +oo]."""
        return self.lo == NEG_INF and self.hi == POS_INF

    def is_singleton(self) -> bool:
        """True when exactly one integer."""
        return self.lo == self.hi

    def singleton(self) -> int | None:
        """The only member, or None."""
        return self.lo if self.lo == self.hi else None  # type: ignore[return-value]

    def is_finite(self) -> bool:
        """True when both bounds are integers (and not empty)."""
        return isinstance(self.lo, int) and isinstance(self.hi, int) and self.lo <= self.hi

    def contains(self, x: int) -> bool:
        """Membership of one integer."""
        return self.lo <= x <= self.hi

    def __contains__(self, x: int) -> bool:
        return self.lo <= x <= self.hi

    def size(self) -> Bound:
        """Number of members (POS_INF when unbounded)."""
        if self.lo > self.hi:
            return 0
        if isinstance(self.lo, float) or isinstance(self.hi, float):
            return POS_INF
        return self.hi - self.lo + 1

    # ---- lattice
    def leq(self, other: "Interval") -> bool:
        """Inclusion."""
        return self.lo > self.hi or (other.lo <= self.lo and self.hi <= other.hi)

    def join(self, other: "Interval") -> "Interval":
        """Smallest interval containing both."""
        if self.lo > self.hi:
            return other
        if other.lo > other.hi:
            return self
        return Interval(min(self.lo, other.lo), max(self.hi, other.hi))

    def meet(self, other: "Interval") -> "Interval":
        """Intersection."""
        lo = self.lo if self.lo >= other.lo else other.lo
        hi = self.hi if self.hi <= other.hi else other.hi
        return Interval(lo, hi) if lo <= hi else _BOTTOM

    def widen(self, other: "Interval", thresholds: Sequence[int] = ()) -> "Interval":
        """Widening: an unstable bound jumps to the next threshold, else to infinity."""
        if self.lo > self.hi:
            return other
        if other.lo > other.hi:
            return self
        lo = self.lo
        if other.lo < lo:
            lo = max((t for t in thresholds if t <= other.lo), default=NEG_INF)
        hi = self.hi
        if other.hi > hi:
            hi = min((t for t in thresholds if t >= other.hi), default=POS_INF)
        return Interval(lo, hi)

    def narrow(self, other: "Interval") -> "Interval":
        """Narrowing: refine only infinite bounds."""
        if self.lo > self.hi or other.lo > other.hi:
            return _BOTTOM
        lo = other.lo if self.lo == NEG_INF else self.lo
        hi = other.hi if self.hi == POS_INF else self.hi
        return Interval(lo, hi) if lo <= hi else _BOTTOM

    # ---- arithmetic (exact over the integers: no wrap-around here)
    def __add__(self, other: "Interval | int") -> "Interval":
        if isinstance(other, int):
            other = Interval(other, other)
        if self.lo > self.hi or other.lo > other.hi:
            return _BOTTOM
        return Interval(self.lo + other.lo, self.hi + other.hi)

    __radd__ = __add__

    def __neg__(self) -> "Interval":
        if self.lo > self.hi:
            return _BOTTOM
        return Interval(-self.hi, -self.lo)

    def __sub__(self, other: "Interval | int") -> "Interval":
        if isinstance(other, int):
            other = Interval(other, other)
        return self + (-other)

    def __rsub__(self, other: int) -> "Interval":
        return Interval(other, other) - self

    def __mul__(self, other: "Interval | int") -> "Interval":
        if isinstance(other, int):
            if self.lo > self.hi:
                return _BOTTOM
            a, b = _mul(self.lo, other), _mul(self.hi, other)
            return Interval(min(a, b), max(a, b))
        if self.lo > self.hi or other.lo > other.hi:
            return _BOTTOM
        ps = (_mul(self.lo, other.lo), _mul(self.lo, other.hi), _mul(self.hi, other.lo), _mul(self.hi, other.hi))
        return Interval(min(ps), max(ps))

    __rmul__ = __mul__

    def scale_div(self, k: int) -> "Interval":
        """{x // k | x in self} for k != 0 (floor division)."""
        if self.lo > self.hi:
            return _BOTTOM
        a, b = _floordiv(self.lo, k), _floordiv(self.hi, k)
        return Interval(min(a, b), max(a, b))

    def __str__(self) -> str:
        if self.lo > self.hi:
            return "_|_"
        if self.lo == self.hi:
            return _fmt(self.lo)
        return f"[{_fmt(self.lo)}, {_fmt(self.hi)}]"


_TOP = Interval(NEG_INF, POS_INF)
_BOTTOM = Interval(POS_INF, NEG_INF)


def bound_le_from(a: int, c: Bound) -> Bound:
    """The tightest bound on x from `a * x <= c` (upper when a > 0, lower when a < 0)."""
    return _floordiv(c, a) if a > 0 else _ceildiv(c, a)
