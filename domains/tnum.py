"""Tristate numbers (the kernel's tnums: known and unknown bits) and their reduced product with
intervals, `TnumIntervalDomain`, the third numeric domain of bpfcheck.

A tnum is a pair `(value, mask)` with `value & mask == 0`: the bits set in `mask` are unknown,
the others equal those of `value`. Here tnums live on unbounded integers in Python's infinite
two's complement: `gamma(v, m) = {x : x & ~m == v}` with `m >= 0` finite, so `v` may be negative
(its infinite high bits are known ones). `None` is the unknown tnum (top). The arithmetic
(`add`, `sub`, `mul`, `and_`, `or_`, `xor`, shifts) follows the kernel's `kernel/bpf/tnum.c`
formulas, which hold modulo every `2^n` and hence exactly on integers; `alu(op, a, b, width)`
applies them to `width`-bit machine integers (unsigned view), as the verifier needs for
bitwise code, and `domains/proofs.py` proves them with z3.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

from domains.bounds import NEG_INF, POS_INF, Interval
from domains.interval import IntervalDomain, eval_interval
from domains.linear import LinearConstraint, LinearExpression

Tnum = tuple[int, int]
T = Optional[Tnum]

__all__ = ["Tnum", "const", "from_range", "contains", "leq", "join", "meet", "add", "sub", "neg",
           "mul", "and_", "or_", "xor", "lsh", "rsh", "arsh", "truncate", "alu", "to_interval",
           "tighten", "TnumIntervalDomain", "MACHINE_OPS"]

MACHINE_OPS = ("add", "sub", "mul", "and", "or", "xor", "lsh", "rsh", "arsh", "neg")


def _norm(v: int, m: int) -> T:
    """A tnum, or None (top) when the mask has infinitely many bits."""
    if m < 0:
        return None
    return (v & ~m, m)


def const(c: int) -> Tnum:
    """The singleton {c}."""
    return (c, 0)


def from_range(lo, hi) -> T:
    """The smallest tnum containing [lo, hi] (the kernel's tnum_range); None when unbounded."""
    if not isinstance(lo, int) or not isinstance(hi, int) or lo > hi:
        return None
    chi = lo ^ hi
    if chi < 0:
        return None
    delta = (1 << chi.bit_length()) - 1
    return (lo & ~delta, delta)


def contains(t: T, x: int) -> bool:
    """x in gamma(t)."""
    return t is None or (x & ~t[1]) == t[0]


def leq(a: T, b: T) -> bool:
    """gamma(a) included in gamma(b)."""
    if b is None:
        return True
    if a is None:
        return False
    return (a[1] & ~b[1]) == 0 and (a[0] & ~b[1]) == b[0]


def join(a: T, b: T) -> T:
    """The smallest tnum containing both (the kernel's tnum_union)."""
    if a is None or b is None:
        return None
    return _norm(a[0] & b[0], (a[0] ^ b[0]) | a[1] | b[1])


def meet(a: T, b: T) -> T | bool:
    """Intersection (the kernel's tnum_intersect); False when empty."""
    if a is None:
        return b
    if b is None:
        return a
    if (a[0] ^ b[0]) & ~(a[1] | b[1]):
        return False
    m = a[1] & b[1]
    return ((a[0] | b[0]) & ~m, m)


def add(a: T, b: T) -> T:
    """a + b (tnum_add)."""
    if a is None or b is None:
        return None
    sm, sv = a[1] + b[1], a[0] + b[0]
    chi = (sm + sv) ^ sv
    return _norm(sv, chi | a[1] | b[1])


def sub(a: T, b: T) -> T:
    """a - b (tnum_sub)."""
    if a is None or b is None:
        return None
    dv = a[0] - b[0]
    chi = (dv + a[1]) ^ (dv - b[1])
    return _norm(dv, chi | a[1] | b[1])


def neg(a: T) -> T:
    """-a."""
    return sub((0, 0), a)


def and_(a: T, b: T) -> T:
    """a & b (tnum_and)."""
    if a is None and b is None:
        return None
    if a is None:
        a, b = b, a
    if b is None:
        if a[0] >= 0:  # known zero high bits stay zero
            return (0, a[0] | a[1])
        return None
    v = a[0] & b[0]
    return _norm(v, (a[0] | a[1]) & (b[0] | b[1]) & ~v)


def or_(a: T, b: T) -> T:
    """a | b (tnum_or)."""
    if a is None or b is None:
        return None
    v = a[0] | b[0]
    return _norm(v, (a[1] | b[1]) & ~v)


def xor(a: T, b: T) -> T:
    """a ^ b (tnum_xor)."""
    if a is None or b is None:
        return None
    return _norm(a[0] ^ b[0], a[1] | b[1])


def mul(a: T, b: T) -> T:
    """a * b (the kernel's tnum_mul: one partial product per bit of a)."""
    if a is None or b is None:
        return None
    if a[0] < 0 and b[0] < 0:
        return mul(neg(a), neg(b))
    if a[0] < 0:
        a, b = b, a
    if a[0] < 0:
        return None
    av, am = a
    bv, bm = b
    acc_v = av * bv
    acc_m: T = (0, 0)
    while av or am:
        if av & 1:
            acc_m = add(acc_m, (0, bm))
        elif am & 1:
            acc_m = add(acc_m, (0, bv | bm) if bv >= 0 else None)
        if acc_m is None:
            return None
        av, am, bv, bm = av >> 1, am >> 1, bv << 1, bm << 1
    return add((acc_v, 0), acc_m)


def lsh(a: T, k: int) -> T:
    """a << k."""
    return None if a is None else (a[0] << k, a[1] << k)


def rsh(a: T, k: int) -> T:
    """a >> k on integers (floor division by 2^k; logical for non-negative values)."""
    return None if a is None else (a[0] >> k, a[1] >> k)


def truncate(a: T, width: int) -> Tnum:
    """a mod 2^width (the unsigned view of the low `width` bits)."""
    mask = (1 << width) - 1
    if a is None:
        return (0, mask)
    return (a[0] & mask, a[1] & mask)


def arsh(a: T, k: int, width: int) -> Tnum:
    """Arithmetic right shift of a `width`-bit value by k (unsigned view of the result)."""
    v, m = truncate(a, width)
    sign = 1 << (width - 1)
    mask = (1 << width) - 1
    sv = v - (1 << width) if v & sign else v
    sm = m - (1 << width) if m & sign else m  # an unknown sign bit is shifted in as unknown
    return ((sv >> k) & mask, (sm >> k) & mask)


def alu(op: str, a: T, b: T, width: int) -> Tnum:
    """`a op b` on `width`-bit machine integers, unsigned view (a, b: tnums of the operands in
    any view; they are truncated first). Shifts need a known amount (masked with width-1)."""
    top = (0, (1 << width) - 1)
    a = truncate(a, width)
    b = truncate(b, width) if op != "neg" else None
    if op in ("lsh", "rsh", "arsh"):
        if b[1] & (width - 1):
            return top
        k = b[0] & (width - 1)
        if op == "lsh":
            return truncate(lsh(a, k), width)
        if op == "rsh":
            return rsh(a, k)
        return arsh(a, k, width)
    fn = {"add": add, "sub": sub, "mul": mul, "and": and_, "or": or_, "xor": xor}.get(op)
    if op == "neg":
        return truncate(neg(a), width)
    if fn is None:
        return top
    return truncate(fn(a, b), width)


def to_interval(t: T) -> Interval:
    """The bounds of gamma(t): [v, v + m]."""
    if t is None:
        return Interval.top()
    return Interval(t[0], t[0] + t[1])


def _pdep(k: int, m: int) -> int:
    """Deposit the low bits of k into the set bits of m (k-th element of the mask's subsets)."""
    out, bit = 0, 1
    while m:
        low = m & -m
        if k & bit:
            out |= low
        bit <<= 1
        m ^= low
    return out


def _next_ge(t: Tnum, lo: int) -> int | None:
    """The least member of gamma(t) that is >= lo (None if none)."""
    v, m = t
    if lo <= v:
        return v
    if lo > v + m:
        return None
    if (lo & ~m) == v:
        return lo
    # members are v + pdep(k, m), increasing in k: binary search the least k
    n = 1 << bin(m).count("1")
    a, b = 0, n - 1
    while a < b:
        mid = (a + b) // 2
        if v + _pdep(mid, m) >= lo:
            b = mid
        else:
            a = mid + 1
    return v + _pdep(a, m)


def _prev_le(t: Tnum, hi: int) -> int | None:
    """The greatest member of gamma(t) that is <= hi (None if none)."""
    v, m = t
    r = _next_ge((~(v | m), m), ~hi)  # x in gamma(t) <=> ~x in gamma(~v & ~m, m)
    return None if r is None else ~r


def tighten(iv: Interval, t: T) -> Interval:
    """The interval hull of gamma(t) within iv (bottom when they do not meet)."""
    if t is None or iv.is_bottom():
        return iv
    lo = t[0] if iv.lo == NEG_INF or iv.lo < t[0] else iv.lo
    hi = t[0] + t[1] if iv.hi == POS_INF or iv.hi > t[0] + t[1] else iv.hi
    if lo > hi:
        return Interval.bottom()
    lo2, hi2 = _next_ge(t, lo), _prev_le(t, hi)
    if lo2 is None or hi2 is None or lo2 > hi2:
        return Interval.bottom()
    return Interval(lo2, hi2)


def fmt(t: Tnum) -> str:
    """`(0x40; 0xf)` style: value and unknown-bit mask in hex."""
    v, m = t
    return f"({'-' if v < 0 else ''}{abs(v):#x}; {m:#x})"


class TnumIntervalDomain:
    """Reduced product of intervals (an IntervalDomain, so at least as precise everywhere) and a
    tnum per variable; each update re-tightens the interval by the known bits and the tnum by
    the interval. Machine bitwise operations reach the tnums through `machine_assign`."""

    __slots__ = ("_i", "_t")

    def __init__(self, iv: IntervalDomain | None = None, tn: dict[str, Tnum] | None = None) -> None:
        self._i = iv if iv is not None else IntervalDomain()
        self._t: dict[str, Tnum] = tn if tn is not None else {}

    @classmethod
    def top(cls) -> "TnumIntervalDomain":
        """No constraint."""
        return cls()

    @classmethod
    def bottom(cls) -> "TnumIntervalDomain":
        """No state."""
        return cls(IntervalDomain.bottom())

    def is_bottom(self) -> bool:
        """True when no state is represented."""
        return self._i.is_bottom()

    def is_top(self) -> bool:
        """True when nothing is constrained."""
        return self._i.is_top() and not self._t

    def copy(self) -> "TnumIntervalDomain":
        """An independent copy."""
        return TnumIntervalDomain(self._i.copy(), dict(self._t))

    # ---- helpers
    def _tnum(self, v: str) -> T:
        t = self._t.get(v)
        if t is not None:
            return t
        iv = self._i._env.get(v)
        return None if iv is None else from_range(iv.lo, iv.hi)

    def _set_bottom(self) -> None:
        self._i = IntervalDomain.bottom()
        self._t.clear()

    def _reduce(self, v: str) -> bool:
        """Tighten v's interval by its tnum and its tnum by its interval; True if the interval
        changed."""
        if self._i.is_bottom():
            return False
        t = self._t.get(v)
        iv = self._i.interval(v)
        if t is None:
            return False
        niv = tighten(iv, t)
        if niv.is_bottom():
            self._set_bottom()
            return True
        nt = meet(t, from_range(niv.lo, niv.hi))
        if nt is False:
            self._set_bottom()
            return True
        if nt is None or nt == from_range(niv.lo, niv.hi):
            self._t.pop(v, None)  # the interval says it all
        else:
            self._t[v] = nt
        if niv != iv:
            self._i.set_interval(v, niv)
            return True
        return False

    def _eval(self, e: LinearExpression) -> T:
        """The tnum of a linear expression (exact tnum arithmetic on integers)."""
        acc: T = (e.constant, 0)
        for v, c in e.terms:
            t = self._tnum(v)
            if t is None:
                return None
            term = mul((abs(c), 0), t)
            acc = add(acc, term) if c > 0 else sub(acc, term)
            if acc is None:
                return None
        return acc

    # ---- lattice
    def leq(self, other: "TnumIntervalDomain") -> bool:
        """Inclusion: both components included."""
        if self.is_bottom():
            return True
        if other.is_bottom() or not self._i.leq(other._i):
            return False
        return all(leq(self._tnum(v), t) for v, t in other._t.items())

    def _combine(self, other, iv: IntervalDomain, tfun) -> "TnumIntervalDomain":
        res = TnumIntervalDomain(iv, {})
        for v in self._t.keys() | other._t.keys():
            t = tfun(self._tnum(v), other._tnum(v))
            if t is not None:
                res._t[v] = t
        for v in list(res._t):
            res._reduce(v)
        return res

    def join(self, other: "TnumIntervalDomain") -> "TnumIntervalDomain":
        """Componentwise join, reduced."""
        if self.is_bottom():
            return other.copy()
        if other.is_bottom():
            return self.copy()
        return self._combine(other, self._i.join(other._i), join)

    def meet(self, other: "TnumIntervalDomain") -> "TnumIntervalDomain":
        """Componentwise meet, reduced."""
        if self.is_bottom() or other.is_bottom():
            return TnumIntervalDomain.bottom()
        res = TnumIntervalDomain(self._i.meet(other._i), {})
        if res.is_bottom():
            return res
        for v in self._t.keys() | other._t.keys():
            t = meet(self._tnum(v), other._tnum(v))
            if t is False:
                return TnumIntervalDomain.bottom()
            if t is not None:
                res._t[v] = t
        for v in list(res._t):
            res._reduce(v)
        return res

    def widen(self, other: "TnumIntervalDomain", thresholds: Sequence[int] = ()) -> "TnumIntervalDomain":
        """Interval widening; a tnum that is not stable goes to top (tnum chains can be infinite)."""
        if self.is_bottom():
            return other.copy()
        if other.is_bottom():
            return self.copy()
        res = TnumIntervalDomain(self._i.widen(other._i, thresholds), {})
        for v, a in self._t.items():  # only this side's explicit tnums, kept when stable
            if leq(other._tnum(v), a):
                res._t[v] = a
        for v in list(res._t):
            res._reduce(v)
        return res

    def narrow(self, other: "TnumIntervalDomain") -> "TnumIntervalDomain":
        """Interval narrowing, tnums met."""
        if self.is_bottom() or other.is_bottom():
            return TnumIntervalDomain.bottom()
        def m(a: T, b: T) -> T:
            r = meet(a, b)
            return a if r is False else r
        return self._combine(other, self._i.narrow(other._i), m)

    # ---- transfer functions
    def assign(self, var: str, expr: LinearExpression | int | str) -> None:
        """var := expr (intervals as IntervalDomain, tnum by tnum arithmetic)."""
        if self.is_bottom():
            return
        e = LinearExpression.of(expr)
        t = self._eval(e)
        self._i.assign(var, e)
        self._t.pop(var, None)
        if t is not None:
            self._t[var] = t
            self._reduce(var)

    def machine_assign(self, var: str, op: str, a: LinearExpression | int | str,
                       b: LinearExpression | int | str | None, width: int) -> None:
        """var := `a op b` on `width`-bit machine integers, unsigned view (the verifier calls
        this, when a domain has it, for ALU operations other than linear ones)."""
        if self.is_bottom():
            return
        ta = self._eval(LinearExpression.of(a))
        tb = self._eval(LinearExpression.of(b)) if b is not None else None
        t = alu(op, ta, tb, width)
        self.set_interval(var, to_interval(t))
        if t[1] != (1 << width) - 1 or t[0]:
            self._t[var] = t
            self._reduce(var)

    def add_constraint(self, c: LinearConstraint) -> None:
        """Interval reasoning, `x = y` meets the tnums, then every variable of c is reduced."""
        if self.is_bottom():
            return
        e = c.expr
        if c.kind == "==" and len(e.terms) == 2 and e.constant == 0 and \
                sorted(k for _, k in e.terms) == [-1, 1]:
            (x, _), (y, _) = e.terms
            t = meet(self._tnum(x), self._tnum(y))
            if t is False:
                self._set_bottom()
                return
            if t is not None:
                self._t[x] = t
                self._t[y] = t
        self._i.add_constraint(c)
        changed = False
        for v, _ in e.terms:
            changed |= self._reduce(v)
        if changed and not self.is_bottom() and len(e.terms) > 1:
            self._i.add_constraint(c)
            for v, _ in e.terms:
                self._reduce(v)

    def forget(self, vars: Iterable[str]) -> None:
        """Drop all knowledge of the variables."""
        vars = list(vars)
        self._i.forget(vars)
        for v in vars:
            self._t.pop(v, None)

    def rename(self, mapping: dict[str, str]) -> None:
        """Simultaneous renaming (both components)."""
        if self.is_bottom():
            return
        self._i.rename(mapping)
        moved = {mapping[v]: t for v, t in self._t.items() if v in mapping}
        for v in list(mapping) + list(mapping.values()):
            self._t.pop(v, None)
        self._t.update(moved)

    # ---- read back
    def interval(self, var_or_expr: LinearExpression | str | int) -> Interval:
        """Bounds of a variable or expression (intervals are kept reduced)."""
        return self._i.interval(var_or_expr)

    def set_interval(self, var: str, iv: Interval) -> None:
        """var := some value in iv."""
        if self.is_bottom():
            return
        self._t.pop(var, None)
        self._i.set_interval(var, iv)

    def tnum(self, var: str) -> T:
        """The known bits of a variable (None: nothing known)."""
        return None if self.is_bottom() else self._tnum(var)

    def entails(self, c: LinearConstraint) -> bool:
        """Interval entailment, or `x != k` / `x = k` decided by the known bits."""
        if self.is_bottom() or self._i.entails(c):
            return True
        e = c.expr
        if c.kind == "!=" and len(e.terms) == 1 and abs(e.terms[0][1]) == 1:
            v, k = e.terms[0]
            return not contains(self._tnum(v), -e.constant * k)
        return False

    def constraints(self) -> list[str]:
        """Interval constraints plus `x in (value; mask)` where the bits say more."""
        if self.is_bottom():
            return ["false"]
        out = self._i.constraints()
        out.extend(f"{v} in tnum{fmt(t)}" for v, t in self._t.items())
        return sorted(out)

    def variables(self) -> set[str]:
        """Variables with a non-top component."""
        return self._i.variables() | set(self._t)

    def contains(self, env: dict[str, int]) -> bool:
        """Whether a concrete state is represented."""
        return self._i.contains(env) and all(contains(t, env[v]) for v, t in self._t.items())

    def __str__(self) -> str:
        return "{" + ", ".join(self.constraints()) + "}"

    __repr__ = __str__
