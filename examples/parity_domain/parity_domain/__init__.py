"""The parity domain: is each variable even, odd, or unknown? An example of a bpfcheck domain
that lives in its own package and is found through the `bpfcheck.domains` entry point.

It implements the whole NumericDomain protocol of bpfcheck (see docs/domains.md). A value maps
variables to 0 (even) or 1 (odd); an absent variable is unknown. It cannot bound anything, so
the verifier proves only programs that need no bounds, which is what the harness shows."""
from __future__ import annotations

from typing import Iterable, Sequence

from domains.bounds import Interval
from domains.linear import LinearConstraint, LinearExpression


def _parity(env: dict[str, int], e: LinearExpression) -> int | None:
    """Parity of a linear expression, None when an odd-coefficient variable is unknown."""
    p = e.constant & 1
    for v, c in e.terms:
        if c & 1:
            if v not in env:
                return None
            p ^= env[v]
    return p


class ParityDomain:
    """var -> 0 (even) | 1 (odd); absent = unknown; a flag for bottom."""

    def __init__(self, env: dict[str, int] | None = None, bottom: bool = False) -> None:
        self._env = {} if bottom or env is None else env
        self._bottom = bottom

    @classmethod
    def top(cls) -> "ParityDomain":
        return cls()

    @classmethod
    def bottom(cls) -> "ParityDomain":
        return cls(bottom=True)

    def is_bottom(self) -> bool:
        return self._bottom

    def is_top(self) -> bool:
        return not self._bottom and not self._env

    def copy(self) -> "ParityDomain":
        return ParityDomain(dict(self._env), self._bottom)

    # lattice: finite height, so widening is the join and narrowing the meet
    def leq(self, o: "ParityDomain") -> bool:
        if self._bottom:
            return True
        return not o._bottom and all(self._env.get(v) == p for v, p in o._env.items())

    def join(self, o: "ParityDomain") -> "ParityDomain":
        if self._bottom:
            return o.copy()
        if o._bottom:
            return self.copy()
        return ParityDomain({v: p for v, p in self._env.items() if o._env.get(v) == p})

    def meet(self, o: "ParityDomain") -> "ParityDomain":
        if self._bottom or o._bottom:
            return ParityDomain.bottom()
        env = dict(self._env)
        for v, p in o._env.items():
            if env.setdefault(v, p) != p:
                return ParityDomain.bottom()
        return ParityDomain(env)

    def widen(self, o: "ParityDomain", thresholds: Sequence[int] = ()) -> "ParityDomain":
        return self.join(o)

    def narrow(self, o: "ParityDomain") -> "ParityDomain":
        return self.meet(o)

    # transfer functions
    def assign(self, var: str, expr: LinearExpression | int | str) -> None:
        if self._bottom:
            return
        p = _parity(self._env, LinearExpression.of(expr))
        self._env.pop(var, None)
        if p is not None:
            self._env[var] = p

    def add_constraint(self, c: LinearConstraint) -> None:
        """`e = 0` with one unknown odd-coefficient variable fixes its parity; a parity clash is
        bottom; other constraints are skipped (always sound)."""
        if self._bottom or c.kind != "==":
            return
        odd = [v for v, k in c.expr.terms if k & 1 and v not in self._env]
        rest = LinearExpression(tuple((v, k) for v, k in c.expr.terms if v not in odd),
                                c.expr.constant)
        p = _parity(self._env, rest)
        if p is None:
            return
        if not odd:
            if p:
                self._bottom, self._env = True, {}
        elif len(odd) == 1:
            self._env[odd[0]] = p  # odd var + rest = 0 (mod 2)  =>  var has rest's parity

    def forget(self, vars: Iterable[str]) -> None:
        for v in vars:
            self._env.pop(v, None)

    def rename(self, mapping: dict[str, str]) -> None:
        if self._bottom:
            return
        moved = {mapping[v]: p for v, p in self._env.items() if v in mapping}
        for v in list(mapping) + list(mapping.values()):
            self._env.pop(v, None)
        self._env.update(moved)

    # read back
    def interval(self, x: LinearExpression | str | int) -> Interval:
        if self._bottom:
            return Interval.bottom()
        e = LinearExpression.of(x)
        return Interval.const(e.constant) if not e.terms else Interval.top()

    def set_interval(self, var: str, iv: Interval) -> None:
        if self._bottom:
            return
        self._env.pop(var, None)
        if iv.is_bottom():
            self._bottom, self._env = True, {}
        elif iv.lo == iv.hi:
            self._env[var] = int(iv.lo) & 1

    def entails(self, c: LinearConstraint) -> bool:
        if self._bottom:
            return True
        p = _parity(self._env, c.expr)
        return c.kind == "!=" and p == 1   # an odd expression is never 0

    def constraints(self) -> list[str]:
        if self._bottom:
            return ["false"]
        return sorted(f"{v} {'odd' if p else 'even'}" for v, p in self._env.items())

    def variables(self) -> set[str]:
        return set(self._env)

    def contains(self, env: dict[str, int]) -> bool:
        return not self._bottom and all(env[v] & 1 == p for v, p in self._env.items())

    def __str__(self) -> str:
        return "{" + ", ".join(self.constraints()) + "}"
