"""The interval domain: an independent Interval per variable (non-relational, cheap)."""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

from domains.bounds import NEG_INF, POS_INF, Interval, bound_le_from
from domains.linear import LinearConstraint, LinearExpression

__all__ = ["Interval", "IntervalDomain", "eval_interval", "bounds_from_le"]

_TOP = Interval.top()


def eval_interval(expr: LinearExpression, get: Callable[[str], Interval]) -> Interval:
    """Interval of a linear expression given an interval for each variable."""
    lo: float | int = expr.constant
    hi: float | int = expr.constant
    for v, c in expr.terms:
        iv = get(v)
        if iv.lo > iv.hi:
            return Interval.bottom()
        if c > 0:
            lo = lo + c * iv.lo if iv.lo != NEG_INF else NEG_INF
            hi = hi + c * iv.hi if iv.hi != POS_INF else POS_INF
        else:
            lo = lo + c * iv.hi if iv.hi != POS_INF else NEG_INF
            hi = hi + c * iv.lo if iv.lo != NEG_INF else POS_INF
    return Interval(lo, hi)


def bounds_from_le(expr: LinearExpression, get: Callable[[str], Interval]) -> list[tuple[str, Interval]]:
    """For `expr <= 0`, the bound each variable gets from the others' intervals (one pass)."""
    parts = []  # lower bound of c*x for each term
    for v, c in expr.terms:
        iv = get(v)
        low = (c * iv.lo if iv.lo != NEG_INF else NEG_INF) if c > 0 else (c * iv.hi if iv.hi != POS_INF else NEG_INF)
        parts.append(low)
    n_inf = sum(1 for p in parts if p == NEG_INF)
    if n_inf > 1:
        return []
    total = expr.constant + sum(p for p in parts if p != NEG_INF)
    out = []
    for (v, c), p in zip(expr.terms, parts):
        if p == NEG_INF:
            rest = total
        elif n_inf:
            continue
        else:
            rest = total - p
        # c * v <= -rest
        b = bound_le_from(c, -rest)
        out.append((v, Interval(NEG_INF, b) if c > 0 else Interval(b, POS_INF)))
    return out


def _as_expr(x: LinearExpression | int | str) -> LinearExpression:
    return LinearExpression.of(x)


class IntervalDomain:
    """Map variable -> Interval; absent variables are top; a flag marks bottom."""

    __slots__ = ("_env", "_bottom")

    def __init__(self, env: dict[str, Interval] | None = None, bottom: bool = False) -> None:
        self._env: dict[str, Interval] = env if env is not None else {}
        self._bottom = bottom

    @classmethod
    def top(cls) -> "IntervalDomain":
        """No constraint."""
        return cls()

    @classmethod
    def bottom(cls) -> "IntervalDomain":
        """The empty set of states."""
        return cls(bottom=True)

    def is_bottom(self) -> bool:
        """True when no state is represented."""
        return self._bottom

    def is_top(self) -> bool:
        """True when nothing is constrained."""
        return not self._bottom and not self._env

    def copy(self) -> "IntervalDomain":
        """An independent copy."""
        return IntervalDomain(dict(self._env), self._bottom)

    def _get(self, v: str) -> Interval:
        return self._env.get(v, _TOP)

    def _set(self, v: str, iv: Interval) -> None:
        if iv.lo > iv.hi:
            self._bottom = True
            self._env.clear()
        elif iv.lo == NEG_INF and iv.hi == POS_INF:
            self._env.pop(v, None)
        else:
            self._env[v] = iv

    # ---- lattice
    def leq(self, other: "IntervalDomain") -> bool:
        """Inclusion of the represented sets."""
        if self._bottom:
            return True
        if other._bottom:
            return False
        return all(self._get(v).leq(iv) for v, iv in other._env.items())

    def join(self, other: "IntervalDomain") -> "IntervalDomain":
        """Pointwise join."""
        if self._bottom:
            return other.copy()
        if other._bottom:
            return self.copy()
        env = {}
        for v, a in self._env.items():
            b = other._env.get(v)
            if b is not None:
                j = a.join(b)
                if not j.is_top():
                    env[v] = j
        return IntervalDomain(env)

    def meet(self, other: "IntervalDomain") -> "IntervalDomain":
        """Pointwise meet."""
        if self._bottom or other._bottom:
            return IntervalDomain.bottom()
        res = self.copy()
        for v, b in other._env.items():
            res._set(v, res._get(v).meet(b))
            if res._bottom:
                break
        return res

    def widen(self, other: "IntervalDomain", thresholds: Sequence[int] = ()) -> "IntervalDomain":
        """Pointwise widening with thresholds."""
        if self._bottom:
            return other.copy()
        if other._bottom:
            return self.copy()
        env = {}
        for v, a in self._env.items():
            b = other._env.get(v)
            if b is not None:
                w = a.widen(b, thresholds)
                if not w.is_top():
                    env[v] = w
        return IntervalDomain(env)

    def narrow(self, other: "IntervalDomain") -> "IntervalDomain":
        """Pointwise narrowing."""
        if self._bottom or other._bottom:
            return IntervalDomain.bottom()
        res = self.copy()
        for v in set(self._env) | set(other._env):
            res._set(v, self._get(v).narrow(other._get(v)))
            if res._bottom:
                break
        return res

    # ---- transfer functions
    def assign(self, var: str, expr: LinearExpression | int | str) -> None:
        """var := expr."""
        if self._bottom:
            return
        self._set(var, eval_interval(_as_expr(expr), self._get))

    def add_constraint(self, c: LinearConstraint) -> None:
        """Intersect with a linear constraint (interval reasoning, two passes)."""
        if self._bottom:
            return
        e = c.expr
        if c.kind == "!=":
            iv = eval_interval(e, self._get)
            if iv.lo == 0 and iv.hi == 0:
                self._set_bottom()
            elif len(e.terms) == 1:
                v, k = e.terms[0]
                if abs(k) == 1:
                    excluded = -e.constant * k  # k*v + const != 0  <=>  v != -const/k
                    cur = self._get(v)
                    if cur.lo == excluded:
                        self._set(v, Interval(excluded + 1, cur.hi))
                    elif cur.hi == excluded:
                        self._set(v, Interval(cur.lo, excluded - 1))
            return
        self._add_le(e)
        if c.kind == "==" and not self._bottom:
            self._add_le(-e)

    def _set_bottom(self) -> None:
        self._bottom = True
        self._env.clear()

    def _add_le(self, e: LinearExpression) -> None:
        if not e.terms:
            if e.constant > 0:
                self._set_bottom()
            return
        for _ in range(2 if len(e.terms) > 1 else 1):
            for v, b in bounds_from_le(e, self._get):
                self._set(v, self._get(v).meet(b))
                if self._bottom:
                    return

    def forget(self, vars: Iterable[str]) -> None:
        """Drop all knowledge of the variables."""
        for v in vars:
            self._env.pop(v, None)

    def rename(self, mapping: dict[str, str]) -> None:
        """Rename variables simultaneously; a target that exists and is not renamed is overwritten."""
        if self._bottom:
            return
        moved = {mapping[v]: iv for v, iv in self._env.items() if v in mapping}
        for v in mapping:
            self._env.pop(v, None)
        for v in moved.keys() | set(mapping.values()):
            self._env.pop(v, None)
        self._env.update(moved)

    # ---- read back
    def interval(self, var_or_expr: LinearExpression | str | int) -> Interval:
        """Bounds of a variable or expression."""
        if self._bottom:
            return Interval.bottom()
        if isinstance(var_or_expr, str):
            return self._get(var_or_expr)
        return eval_interval(_as_expr(var_or_expr), self._get)

    def set_interval(self, var: str, iv: Interval) -> None:
        """var := some value in iv."""
        if self._bottom:
            return
        self._env.pop(var, None)
        self._set(var, iv)

    def entails(self, c: LinearConstraint) -> bool:
        """True when every represented state satisfies c."""
        if self._bottom:
            return True
        iv = eval_interval(c.expr, self._get)
        if c.kind == "<=":
            return iv.hi <= 0
        if c.kind == "==":
            return iv.lo == 0 and iv.hi == 0
        return not iv.contains(0)

    def constraints(self) -> list[str]:
        """`x = 5`, `x >= 0`, `x <= 255`, sorted; ['false'] for bottom."""
        if self._bottom:
            return ["false"]
        out = []
        for v, iv in self._env.items():
            out.extend(bound_strings(v, iv))
        return sorted(out)

    def variables(self) -> set[str]:
        """Variables with a non-top interval."""
        return set(self._env)

    def contains(self, env: dict[str, int]) -> bool:
        """Whether a concrete state (a value for every constrained variable) is represented."""
        return not self._bottom and all(iv.contains(env[v]) for v, iv in self._env.items())

    def __str__(self) -> str:
        return "{" + ", ".join(self.constraints()) + "}"

    __repr__ = __str__


def bound_strings(v: str, iv: Interval) -> list[str]:
    """The constraints that print one variable's bounds."""
    if iv.lo == iv.hi:
        return [f"{v} = {iv.lo}"]
    out = []
    if iv.lo != NEG_INF:
        out.append(f"{v} >= {iv.lo}")
    if iv.hi != POS_INF:
        out.append(f"{v} <= {iv.hi}")
    return out
