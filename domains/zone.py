"""The zone domain: difference-bound constraints `x - y <= c` over a sparse graph.

Representation (a "split" DBM in the spirit of PREVAIL/crab):
- a special vertex ZERO ("") stands for the constant 0, so `x <= c` is the edge ZERO -> x of
  weight c and `x >= c` is the edge x -> ZERO of weight -c (an edge u -> v of weight w always
  means `v - u <= w`);
- `_succ[u][v] = _pred[v][u] = w` (dict-of-dicts adjacency, both directions for speed);
- the graph is kept CLOSED: the distance between two variables is
  `d(i, j) = min(edge(i, j), d(i, ZERO) + d(ZERO, j))`, and `d` satisfies the triangle
  inequality. Relational edges that the bounds already imply are NOT stored when closure derives
  them (that keeps states with many bounded variables sparse); edges a user adds directly are
  stored even when implied, since they keep relations explicit across joins.
- adding one edge updates the closure incrementally in O(|pred(u)| * |succ(v)|), never cubic.
- widening returns an unclosed value (`_closed = False`, as required for termination); any other
  operation reads a closed copy of it (cached), and in-place operations close it first.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from domains.bounds import NEG_INF, POS_INF, Interval, bound_le_from
from domains.interval import bound_strings, bounds_from_le, eval_interval
from domains.linear import LinearConstraint, LinearExpression

ZERO = ""
INF = POS_INF
_TOP = Interval.top()

__all__ = ["ZoneDomain", "ZERO"]


class ZoneDomain:
    """A conjunction of `x - y <= c`, `x <= c`, `x >= c` over unbounded integers."""

    __slots__ = ("_succ", "_pred", "_bottom", "_closed", "_cache")

    def __init__(self) -> None:
        self._succ: dict[str, dict[str, int]] = {ZERO: {}}
        self._pred: dict[str, dict[str, int]] = {ZERO: {}}
        self._bottom = False
        self._closed = True
        self._cache: ZoneDomain | None = None

    # ---- construction
    @classmethod
    def top(cls) -> "ZoneDomain":
        """No constraint."""
        return cls()

    @classmethod
    def bottom(cls) -> "ZoneDomain":
        """The empty set of states."""
        z = cls()
        z._bottom = True
        return z

    def copy(self) -> "ZoneDomain":
        """An independent copy."""
        z = ZoneDomain.__new__(ZoneDomain)
        z._succ = {k: dict(v) for k, v in self._succ.items()}
        z._pred = {k: dict(v) for k, v in self._pred.items()}
        z._bottom = self._bottom
        z._closed = self._closed
        z._cache = None
        return z

    def is_bottom(self) -> bool:
        """True when no state is represented."""
        return self._bottom

    def is_top(self) -> bool:
        """True when nothing is constrained."""
        return not self._bottom and not any(self._succ.values())

    def _make_bottom(self) -> None:
        self._succ = {ZERO: {}}
        self._pred = {ZERO: {}}
        self._bottom = True
        self._closed = True
        self._cache = None

    # ---- graph primitives
    def _set_edge(self, i: str, j: str, w: int) -> None:
        s = self._succ.get(i)
        if s is None:
            s = self._succ[i] = {}
            self._pred.setdefault(i, {})
        s[j] = w
        p = self._pred.get(j)
        if p is None:
            p = self._pred[j] = {}
            self._succ.setdefault(j, {})
        p[i] = w

    def _del_edge(self, i: str, j: str) -> None:
        del self._succ[i][j]
        del self._pred[j][i]

    def _d(self, i: str, j: str) -> float | int:
        """Closed distance: the best known upper bound of `j - i`."""
        if i == j:
            return 0
        succ = self._succ
        si = succ.get(i)
        w = si.get(j, INF) if si is not None else INF
        if i == ZERO or j == ZERO:
            return w
        lo_i = si.get(ZERO) if si is not None else None
        if lo_i is None:
            return w
        hi_j = succ[ZERO].get(j)
        if hi_j is None:
            return w
        implied = lo_i + hi_j
        return implied if implied < w else w

    def _add_edge(self, u: str, v: str, w: int) -> bool:
        """Add `v - u <= w` and restore closure incrementally; False when it became bottom."""
        if u == v:
            if w < 0:
                self._make_bottom()
                return False
            return True
        if self._d(u, v) <= w:
            return True
        if self._d(v, u) + w < 0:
            self._make_bottom()
            return False
        self._cache = None
        succ, pred = self._succ, self._pred
        src = [(u, 0)]
        if u != ZERO:
            pu = pred.get(u)
            if pu:
                src.extend(pu.items())
        dst = [(v, 0)]
        if v != ZERO:
            sv = succ.get(v)
            if sv:
                dst.extend(sv.items())
        hi = succ[ZERO]
        lo = pred[ZERO]  # lo[x] = d(x, ZERO) = -lower bound of x
        # 1. bounds: paths ZERO ~> u -> v ~> j and i ~> u -> v ~> ZERO
        d0u = 0 if u == ZERO else hi.get(u)
        if d0u is not None:
            base = d0u + w
            for j, dvj in dst:
                if j != ZERO:
                    c = base + dvj
                    if c < hi.get(j, INF):
                        self._set_edge(ZERO, j, c)
        dv0 = 0 if v == ZERO else lo.get(v)
        if dv0 is not None:
            base = w + dv0
            for i, diu in src:
                if i != ZERO:
                    c = diu + base
                    if c < lo.get(i, INF):
                        self._set_edge(i, ZERO, c)
        # 2. relational edges not implied by the (new) bounds
        if u != ZERO and v != ZERO:
            for i, diu in src:
                if i == ZERO:
                    continue
                si = succ.get(i)
                if si is None:
                    si = succ[i] = {}
                    pred.setdefault(i, {})
                lo_i = lo.get(i)
                base = diu + w
                for j, dvj in dst:
                    if j == ZERO or j == i:
                        continue
                    c = base + dvj
                    if i == u and j == v:
                        if c < si.get(j, INF):
                            self._set_edge(i, j, c)  # keep the user's edge explicit
                        continue
                    if lo_i is not None:
                        hj = hi.get(j)
                        if hj is not None and c >= lo_i + hj:
                            continue
                    if c < si.get(j, INF):
                        self._set_edge(i, j, c)
        return True

    def _edges(self) -> Iterable[tuple[str, str, int]]:
        for i, s in self._succ.items():
            for j, w in s.items():
                yield i, j, w

    def _close_in_place(self) -> None:
        if self._closed or self._bottom:
            return
        closed = self._view()
        self._succ, self._pred, self._bottom = closed._succ, closed._pred, closed._bottom
        self._closed = True
        self._cache = None

    def _view(self) -> "ZoneDomain":
        """A closed value equal to self (self when already closed; cached otherwise)."""
        if self._closed:
            return self
        if self._cache is None:
            z = ZoneDomain()
            for i, j, w in self._bounds_first():
                if not z._add_edge(i, j, w):
                    break
            self._cache = z
        return self._cache

    # ---- lattice
    def leq(self, other: "ZoneDomain") -> bool:
        """Inclusion: every constraint of `other` is implied by (closed) self."""
        a = self._view()
        if a._bottom:
            return True
        if other._bottom:
            return False
        d = a._d
        for i, s in other._succ.items():
            for j, w in s.items():
                if d(i, j) > w:
                    return False
        return True

    def join(self, other: "ZoneDomain") -> "ZoneDomain":
        """Least upper bound: pointwise max of the closed distances (explicit edges of either side)."""
        a, b = self._view(), other._view()
        if a._bottom:
            return b.copy()
        if b._bottom:
            return a.copy()
        res = ZoneDomain()
        ahi, alo = a._succ[ZERO], a._pred[ZERO]
        bhi, blo = b._succ[ZERO], b._pred[ZERO]
        rhi, rlo = res._succ[ZERO], res._pred[ZERO]
        rsucc, rpred = res._succ, res._pred
        for x, w in ahi.items():
            w2 = bhi.get(x)
            if w2 is not None:
                m = w if w >= w2 else w2
                rhi[x] = m
                rpred[x] = {ZERO: m}
                rsucc.setdefault(x, {})
        for x, w in alo.items():
            w2 = blo.get(x)
            if w2 is not None:
                m = w if w >= w2 else w2
                rlo[x] = m
                s = rsucc.get(x)
                if s is None:
                    rsucc[x] = {ZERO: m}
                    rpred[x] = {}
                else:
                    s[ZERO] = m
        asucc, bsucc = a._succ, b._succ
        empty: dict[str, int] = {}
        # edges explicit in a (and possibly in b)
        for i, sa in asucc.items():
            if i == ZERO:
                continue
            sb = bsucc.get(i) or empty
            ali, bli, rli = alo.get(i), blo.get(i), rlo.get(i)
            for j, wa in sa.items():
                if j == ZERO:
                    continue
                if ali is not None:
                    h = ahi.get(j)
                    if h is not None and ali + h < wa:
                        wa = ali + h
                wb = sb.get(j, INF)
                if bli is not None:
                    h = bhi.get(j)
                    if h is not None and bli + h < wb:
                        wb = bli + h
                m = wa if wa >= wb else wb
                if m == INF:
                    continue
                if rli is not None:
                    h = rhi.get(j)
                    if h is not None and m >= rli + h and j not in sb:
                        continue  # implied by the joined bounds and explicit on one side only
                res._set_edge(i, j, m)
        # edges explicit only in b: a's distance is the one its bounds imply
        for i, sb in bsucc.items():
            if i == ZERO:
                continue
            sa = asucc.get(i) or empty
            ali, bli, rli = alo.get(i), blo.get(i), rlo.get(i)
            if ali is None:
                continue  # a's distance from i is unbounded for every j without an explicit edge
            for j, wb in sb.items():
                if j == ZERO or j in sa:
                    continue
                h = ahi.get(j)
                if h is None:
                    continue
                wa = ali + h
                if bli is not None:
                    h2 = bhi.get(j)
                    if h2 is not None and bli + h2 < wb:
                        wb = bli + h2
                m = wa if wa >= wb else wb
                if rli is not None:
                    h = rhi.get(j)
                    if h is not None and m >= rli + h:
                        continue
                res._set_edge(i, j, m)
        return res

    def meet(self, other: "ZoneDomain") -> "ZoneDomain":
        """Greatest lower bound: add other's constraints to a copy of self, closing incrementally."""
        a = self._view().copy()
        if a._bottom or other._bottom:
            return ZoneDomain.bottom()
        asucc = a._succ
        for i, j, w in other._bounds_first():
            si = asucc.get(i)
            if si is not None and si.get(j, INF) <= w:
                continue  # fast path: already as tight
            if not a._add_edge(i, j, w):
                break
        return a

    def _bounds_first(self) -> Iterable[tuple[str, str, int]]:
        """All stored edges, bounds before relations (bounds make later closure cheaper)."""
        for j, w in self._succ[ZERO].items():
            yield ZERO, j, w
        for i, w in self._pred[ZERO].items():
            yield i, ZERO, w
        for i, s in self._succ.items():
            if i != ZERO:
                for j, w in s.items():
                    if j != ZERO:
                        yield i, j, w

    def widen(self, other: "ZoneDomain", thresholds: Sequence[int] = ()) -> "ZoneDomain":
        """Widening with thresholds: keep self's stable edges, move unstable ones to a threshold or drop them."""
        if self._bottom:
            return other._view().copy()
        b = other._view()
        if b._bottom:
            return self.copy()
        ts = sorted(set(thresholds))
        neg = sorted({-t for t in ts})
        both = sorted(set(ts) | set(neg))
        res = ZoneDomain()
        bsucc, bhi, blo = b._succ, b._succ[ZERO], b._pred[ZERO]
        empty: dict[str, int] = {}
        for i, s in self._succ.items():
            sb = bsucc.get(i) or empty
            bli = None if i == ZERO else blo.get(i)
            for j, w in s.items():
                w2 = sb.get(j, INF)
                if bli is not None and j != ZERO:
                    h = bhi.get(j)
                    if h is not None and bli + h < w2:
                        w2 = bli + h
                if w2 <= w:
                    res._set_edge(i, j, w)
                    continue
                for t in (ts if i == ZERO else (neg if j == ZERO else both)):
                    if t >= w2:
                        res._set_edge(i, j, t)
                        break
        res._closed = False
        return res

    def narrow(self, other: "ZoneDomain") -> "ZoneDomain":
        """Narrowing: refine only the distances that are infinite in self."""
        a = self._view().copy()
        b = other._view()
        if a._bottom or b._bottom:
            return ZoneDomain.bottom()
        for i, j, w in b._bounds_first():
            if a._d(i, j) == INF:
                if not a._add_edge(i, j, w):
                    break
        return a

    # ---- transfer functions
    def forget(self, vars: Iterable[str]) -> None:
        """Drop all knowledge of the variables (closure is preserved)."""
        if self._bottom:
            return
        self._close_in_place()
        succ, pred = self._succ, self._pred
        for x in vars:
            if x == ZERO:
                continue
            s = succ.pop(x, None)
            if s is not None:
                for j in s:
                    del pred[j][x]
            p = pred.pop(x, None)
            if p is not None:
                for i in p:
                    del succ[i][x]
        self._cache = None

    def _shift(self, x: str, a: float | int, b: float | int) -> None:
        """x := x + r for some r in [a, b] (in place; keeps closure)."""
        succ, pred = self._succ, self._pred
        px = pred.get(x)
        if px:
            for i in list(px):
                if b == INF:
                    self._del_edge(i, x)
                else:
                    nw = px[i] + b
                    px[i] = nw
                    succ[i][x] = nw
        sx = succ.get(x)
        if sx:
            for j in list(sx):
                if a == NEG_INF:
                    self._del_edge(x, j)
                else:
                    nw = sx[j] - a
                    sx[j] = nw
                    pred[j][x] = nw

    def _copy_var(self, x: str, y: str, a: float | int, b: float | int) -> None:
        """x := y + r for some r in [a, b], x != y, x already forgotten (keeps closure)."""
        ins = list(self._pred.get(y, {}).items())
        outs = list(self._succ.get(y, {}).items())
        if b != INF:
            for i, w in ins:
                self._set_edge(i, x, w + b)
            self._set_edge(y, x, b)
        if a != NEG_INF:
            for j, w in outs:
                self._set_edge(x, j, w - a)
            self._set_edge(x, y, -a)

    def assign(self, var: str, expr: LinearExpression | int | str) -> None:
        """var := expr; exact for `y + c`, relational `var - y in [a, b]` for `y + rest`, else by intervals."""
        if self._bottom:
            return
        self._close_in_place()
        e = LinearExpression.of(expr)
        self._cache = None
        terms = e.terms
        if not terms:
            self.forget((var,))
            self._set_edge(ZERO, var, e.constant)
            self._set_edge(var, ZERO, -e.constant)
            return
        whole = self.interval(e) if len(terms) > 1 else None
        unit = [v for v, c in terms if c == 1]
        if unit:
            y = var if var in unit else unit[0]
            rest = e - y
            r = self.interval(rest)
            if r.lo > r.hi:
                self._make_bottom()
                return
            if y == var:
                self._shift(var, r.lo, r.hi)
            else:
                self.forget((var,))
                self._copy_var(var, y, r.lo, r.hi)
        else:
            if whole is None:
                whole = self.interval(e)
            self.forget((var,))
            whole_ = whole
            if whole_.lo > whole_.hi:
                self._make_bottom()
                return
            if whole_.hi != INF:
                self._set_edge(ZERO, var, whole_.hi)
            if whole_.lo != NEG_INF:
                self._set_edge(var, ZERO, -whole_.lo)
            return
        if whole is not None and not self._bottom:
            if whole.hi != INF:
                self._add_edge(ZERO, var, whole.hi)
            if whole.lo != NEG_INF and not self._bottom:
                self._add_edge(var, ZERO, -whole.lo)

    def set_interval(self, var: str, iv: Interval) -> None:
        """var := some value in iv (havoc, then bound)."""
        if self._bottom:
            return
        if iv.lo > iv.hi:
            self._make_bottom()
            return
        self.forget((var,))
        if iv.hi != INF:
            self._set_edge(ZERO, var, iv.hi)
        if iv.lo != NEG_INF:
            self._set_edge(var, ZERO, -iv.lo)

    def add_constraint(self, c: LinearConstraint) -> None:
        """Intersect with a linear constraint: exact for differences and bounds, else interval reasoning."""
        if self._bottom:
            return
        self._close_in_place()
        e = c.expr
        if c.kind == "!=":
            iv = self.interval(e)
            if iv.lo > iv.hi:
                return
            if iv.lo == 0 and iv.hi == 0:
                self._make_bottom()
            elif iv.lo == 0:
                self._add_le(-e + 1)  # e >= 1
            elif iv.hi == 0:
                self._add_le(e + 1)  # e <= -1
            return
        self._add_le(e)
        if c.kind == "==" and not self._bottom:
            self._add_le(-e)

    def _add_le(self, e: LinearExpression) -> None:
        terms = e.terms
        n = len(terms)
        if n == 0:
            if e.constant > 0:
                self._make_bottom()
            return
        if n == 1:
            v, a = terms[0]
            b = bound_le_from(a, -e.constant)
            if a > 0:
                self._add_edge(ZERO, v, b)  # type: ignore[arg-type]
            else:
                self._add_edge(v, ZERO, -b)  # type: ignore[operator]
            return
        if n == 2:
            (x, a), (y, b) = terms
            if a == 1 and b == -1:
                self._add_edge(y, x, -e.constant)
                return
            if a == -1 and b == 1:
                self._add_edge(x, y, -e.constant)
                return
        # general case: differences of unit pairs against the rest, then bounds, twice
        for _ in range(2):
            pos = [v for v, c in terms if c == 1]
            negs = [v for v, c in terms if c == -1]
            for x in pos:
                for y in negs:
                    rest = e - x + y
                    r = self.interval(rest)
                    if r.lo > r.hi:
                        self._make_bottom()
                        return
                    if r.lo != NEG_INF:
                        self._add_edge(y, x, -r.lo)  # x - y <= -lo(rest)
                        if self._bottom:
                            return
            for v, iv in bounds_from_le(e, self._var_interval):
                if iv.hi != INF:
                    self._add_edge(ZERO, v, iv.hi)  # type: ignore[arg-type]
                if not self._bottom and iv.lo != NEG_INF:
                    self._add_edge(v, ZERO, -iv.lo)  # type: ignore[operator]
                if self._bottom:
                    return

    def rename(self, mapping: dict[str, str]) -> None:
        """Rename variables simultaneously; a target that exists and is not renamed is overwritten."""
        if self._bottom or not mapping:
            return
        self._close_in_place()
        clobbered = [t for t in mapping.values() if t not in mapping and t in self._succ]
        self.forget(clobbered)
        f = mapping.get
        self._succ = {f(i, i): {f(j, j): w for j, w in s.items()} for i, s in self._succ.items()}
        self._pred = {f(i, i): {f(j, j): w for j, w in s.items()} for i, s in self._pred.items()}
        self._cache = None

    # ---- read back
    def _var_interval(self, v: str) -> Interval:
        lo = self._succ.get(v, {}).get(ZERO)
        hi = self._succ[ZERO].get(v)
        return Interval(NEG_INF if lo is None else -lo, INF if hi is None else hi)

    def interval(self, var_or_expr: LinearExpression | str | int) -> Interval:
        """Bounds of a variable or a linear expression (differences use the relational bounds)."""
        z = self._view()
        if z._bottom:
            return Interval.bottom()
        if isinstance(var_or_expr, str):
            return z._var_interval(var_or_expr)
        e = LinearExpression.of(var_or_expr)
        res = eval_interval(e, z._var_interval)
        pos = [v for v, c in e.terms if c == 1]
        negs = [v for v, c in e.terms if c == -1]
        if pos and negs:
            x, y = pos[0], negs[0]
            rest = eval_interval(e - x + y, z._var_interval)
            up = z._d(y, x)  # x - y <= up
            down = z._d(x, y)  # y - x <= down
            diff = Interval(NEG_INF if down == INF else -down, up)
            res = res.meet(diff + rest)
        return res

    def entails(self, c: LinearConstraint) -> bool:
        """True when every represented state satisfies c."""
        if self._view()._bottom:
            return True
        iv = self.interval(c.expr)
        if c.kind == "<=":
            return iv.hi <= 0
        if c.kind == "==":
            return iv.lo == 0 and iv.hi == 0
        return not iv.contains(0)

    def constraints(self) -> list[str]:
        """Bounds and the relations the bounds do not imply, e.g. `x - y <= 3`, sorted."""
        z = self._view()
        if z._bottom:
            return ["false"]
        out = []
        for v in z._succ:
            if v != ZERO:
                iv = z._var_interval(v)
                if not iv.is_top():
                    out.extend(bound_strings(v, iv))
        hi, lo = z._succ[ZERO], z._pred[ZERO]
        for i, s in z._succ.items():
            if i == ZERO:
                continue
            for j in s:
                if j == ZERO:
                    continue
                w = z._d(i, j)
                li, hj = lo.get(i), hi.get(j)
                if li is not None and hj is not None and w >= li + hj:
                    continue
                back = z._d(j, i)
                if back == -w:
                    a, b = (j, i) if j < i else (i, j)
                    k = w if a == j else -w
                    out.append(f"{a} - {b} = {k}")
                else:
                    out.append(f"{j} - {i} <= {w}")
        return sorted(set(out))

    def variables(self) -> set[str]:
        """Variables that appear in some constraint."""
        return {v for v in self._succ if v != ZERO and (self._succ[v] or self._pred.get(v))}

    def contains(self, env: dict[str, int]) -> bool:
        """Whether a concrete state (a value for every constrained variable) is represented."""
        if self._bottom:
            return False
        val = lambda v: 0 if v == ZERO else env[v]  # noqa: E731
        return all(val(j) - val(i) <= w for i, j, w in self._edges())

    def distance(self, i: str, j: str) -> float | int:
        """The best upper bound of `j - i` (POS_INF when unbounded); '' is the constant 0."""
        z = self._view()
        return NEG_INF if z._bottom else z._d(i, j)

    def __str__(self) -> str:
        return "{" + ", ".join(self.constraints()) + "}"

    __repr__ = __str__
