"""Numbers in the abstract state: the signed and unsigned views of a value and their reduction.

Every number keeps two views in the numeric domain, `svalue` (signed 64-bit) and `uvalue`
(unsigned 64-bit), related (`svalue = uvalue`) whenever the value is known to lie in
[0, 2^63). These helpers read, reduce and set them; every transfer function uses them.
"""
from __future__ import annotations

from domains import machine as M
from domains.bounds import Interval
from domains.linear import LinearExpression as E
from domains.linear import eq, le
from verifier import types as T
from verifier.state import State, var

MASK64 = (1 << 64) - 1
S64 = M.full_range(64, True)
U64 = M.full_range(64, False)
U32 = M.full_range(32, False)
HALF64 = 1 << 63


def s64(x: int) -> int:
    """The signed 64-bit reading of x."""
    x &= MASK64
    return x - (1 << 64) if x >> 63 else x


def _width_range(size: int, signed: bool) -> tuple[Interval, Interval]:
    """(signed view, unsigned view) of a value loaded from `size` bytes, zero/sign extended."""
    bits = size * 8
    if bits >= 64:
        return S64, U64
    if signed:
        s = M.full_range(bits, True)
        return s, M.to_unsigned(s, 64)
    u = M.full_range(bits, False)
    return u, u


def meet_var(st: State, x: str, iv: Interval) -> None:
    """Constrain x to iv (in place)."""
    if iv.is_bottom():
        st.set_bottom()
        return
    if isinstance(iv.lo, int):
        st.num.add_constraint(le(iv.lo, x))
    if isinstance(iv.hi, int):
        st.num.add_constraint(le(x, iv.hi))


def views(st: State, r: str) -> tuple[Interval, Interval]:
    """The signed and unsigned ranges of a number, each reduced by the other."""
    s = st.num.interval(var(r, "svalue")).meet(S64)
    u = st.num.interval(var(r, "uvalue")).meet(U64)
    if s.is_bottom() or u.is_bottom():
        return s.meet(M.to_signed(u, 64)), u.meet(M.to_unsigned(s, 64))
    u2 = _hull_of(_unsigned_pieces(s), u)
    s2 = _hull_of(_signed_pieces(u2), s)
    return s2, u2


def _unsigned_pieces(s: Interval) -> tuple[Interval, ...]:
    """A finite signed range in the unsigned view: negative values move up by 2^64; a range
    across 0 becomes two pieces (not their hull, which would be everything)."""
    if s.lo >= 0:
        return (s,)
    if s.hi < 0:
        return (s + (1 << 64),)
    return Interval(0, s.hi), Interval(s.lo + (1 << 64), MASK64)


def _signed_pieces(u: Interval) -> tuple[Interval, ...]:
    """A finite unsigned range in the signed view: values from 2^63 move down by 2^64."""
    if u.hi < HALF64:
        return (u,)
    if u.lo >= HALF64:
        return (u - (1 << 64),)
    return Interval(u.lo, HALF64 - 1), Interval(-HALF64, u.hi - (1 << 64))


def _hull_of(pieces: tuple[Interval, ...], within: Interval) -> Interval:
    """The smallest interval holding every piece's part inside `within`."""
    out = Interval.bottom()
    for p in pieces:
        out = out.join(p.meet(within))
    return out


def sync(st: State, r: str) -> None:
    """Reduce the two views of a number into each other; relate them when in [0, 2^63)."""
    s, u = views(st, r)
    if s.is_bottom() or u.is_bottom():
        st.set_bottom()
        return
    sv, uv = var(r, "svalue"), var(r, "uvalue")
    meet_var(st, sv, s)
    meet_var(st, uv, u)
    if u.hi < HALF64:
        st.num.add_constraint(eq(sv, uv))


def set_number(st: State, r: str, s: Interval, u: Interval) -> None:
    """r becomes a number whose views lie in s and u."""
    s = s.meet(S64).meet(M.to_signed(u.meet(U64), 64))
    u = u.meet(U64).meet(M.to_unsigned(s, 64))
    st.havoc(r, T.NUMBER)
    if s.is_bottom() or u.is_bottom():
        st.set_bottom()
        return
    if s != S64:
        st.num.set_interval(var(r, "svalue"), s)
    if u != U64:
        st.num.set_interval(var(r, "uvalue"), u)
    if u.hi < HALF64:
        st.num.add_constraint(eq(var(r, "svalue"), var(r, "uvalue")))


def _low32(st: State, r: str) -> tuple[Interval, Interval]:
    """(unsigned, signed) 32-bit views of the low half of a number."""
    s, u = views(st, r)
    lu = M.truncate(u, 32, False).meet(M.truncate(s, 32, False))
    ls = M.truncate(u, 32, True).meet(M.truncate(s, 32, True))
    lu = lu.meet(M.to_unsigned(ls, 32))
    ls = ls.meet(M.to_signed(lu, 32))
    return lu, ls


def plus(st: State, x: str, y: str | None, sign: int, imm: int = 0) -> E:
    """The expression `x + sign * y` (y a variable, or the constant imm when y is None), with
    a variable of known value replaced by its value, so that the zone can keep the result's
    relation (`x := y + 5` when x is 5, rather than the two-variable `x := x + y`)."""
    if y is None:
        return E.var(x) + sign * imm
    cy = st.num.interval(y).singleton()
    if cy is not None:
        return E.var(x) + sign * cy
    cx = st.num.interval(x).singleton()
    if cx is not None and sign > 0:
        return E.var(y) + cx
    return E.var(x) + E.var(y) * sign
