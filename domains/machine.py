"""Machine-integer (eBPF) semantics on intervals: sound ALU and branch transfer functions.

Conventions
- Every function is parametric in the bit width `width` (eBPF uses 64 and 32; the z3 proofs
  also check 4 and 8). Widths used for shifts must be powers of two (the shift amount is
  masked with `width - 1`, i.e. `& 63` / `& 31`).
- A value of `width` bits has two VIEWS: unsigned, in [0, 2^w - 1], and signed (two's
  complement), in [-2^(w-1), 2^(w-1) - 1]. `signed=True` means the intervals given AND returned
  are in the signed view. Inputs outside the view's range (e.g. `Interval.top()`) are first
  clamped to it: a machine value can only lie inside its range, so this is sound.
- Results are sound over-approximations: whenever a result may wrap around non-uniformly the
  full range of the view is returned, never a wrong interval.
- eBPF corner cases: `x / 0 == 0` (udiv and sdiv), `x % 0 == x` (umod and smod),
  `INT_MIN / -1 == INT_MIN` (wraps), `smod` takes the sign of the dividend (truncation), shift
  amounts are masked, `arsh` shifts in the sign bit.
- 32-bit ALU results are zero-extended into the 64-bit register: call `alu(..., 32, ...)`, then
  `zero_extend(result, 32, 64, signed)` to get the 64-bit value in the view you want.
- `bswap(a, bits)` / `to_be` / `to_le` take the low `bits` bits of `a` (any view) and return the
  zero-extended result in the `width`-bit view requested (eBPF runs little-endian here, so
  `to_le` only truncates and `to_be` swaps bytes).
- `refine(op, a, b, width, taken)` returns the intervals of `a` and `b` on the edge where the
  comparison `a op b` is `taken` (or not); both are bottom when that edge is infeasible. The
  comparison is on the `width`-bit values given; the default view is the op's own (unsigned for
  jgt/jge/jlt/jle/jeq/jne/jset, signed for js*), `signed=` overrides it.
"""
from __future__ import annotations

from domains.bounds import Interval

__all__ = [
    "ALU_OPS", "BRANCH_OPS", "alu", "refine", "bswap", "to_be", "to_le", "sign_extend",
    "zero_extend", "truncate", "to_unsigned", "to_signed", "wrap", "full_range", "clamp",
    "concrete_alu", "concrete_branch", "tnum_of",
]

ALU_OPS = ("add", "sub", "mul", "udiv", "sdiv", "umod", "smod", "and", "or", "xor",
           "lsh", "rsh", "arsh", "neg")
BRANCH_OPS = ("jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset")
_BOTTOM = Interval.bottom()


def full_range(width: int, signed: bool) -> Interval:
    """All values of the view."""
    if signed:
        return Interval(-(1 << (width - 1)), (1 << (width - 1)) - 1)
    return Interval(0, (1 << width) - 1)


def clamp(iv: Interval, width: int, signed: bool) -> Interval:
    """Intersect with the view's range."""
    return iv.meet(full_range(width, signed))


def _to_view(x: int, width: int, signed: bool) -> int:
    x &= (1 << width) - 1
    if signed and x >> (width - 1):
        x -= 1 << width
    return x


def wrap(iv: Interval, width: int, signed: bool) -> Interval:
    """The values `x mod 2^width` (in the view) for x in an interval of exact integers."""
    if iv.lo > iv.hi:
        return _BOTTOM
    if isinstance(iv.lo, float) or isinstance(iv.hi, float) or iv.hi - iv.lo >= (1 << width) - 1:
        return full_range(width, signed)
    lo, hi = _to_view(iv.lo, width, signed), _to_view(iv.hi, width, signed)
    if lo <= hi and hi - lo == iv.hi - iv.lo:
        return Interval(lo, hi)
    return full_range(width, signed)


def truncate(a: Interval, bits: int, signed: bool = False) -> Interval:
    """The low `bits` bits of a value (any view in), in the `bits`-bit view asked for."""
    return wrap(a, bits, signed)


def to_unsigned(iv: Interval, width: int) -> Interval:
    """Signed view -> unsigned view of the same bits."""
    iv = clamp(iv, width, True)
    if iv.lo > iv.hi:
        return _BOTTOM
    if iv.lo >= 0:
        return iv
    if iv.hi < 0:
        return Interval(iv.lo + (1 << width), iv.hi + (1 << width))
    return full_range(width, False)


def to_signed(iv: Interval, width: int) -> Interval:
    """Unsigned view -> signed view of the same bits."""
    iv = clamp(iv, width, False)
    if iv.lo > iv.hi:
        return _BOTTOM
    half = 1 << (width - 1)
    if iv.hi < half:
        return iv
    if iv.lo >= half:
        return Interval(iv.lo - (1 << width), iv.hi - (1 << width))
    return full_range(width, True)


def _u(iv: Interval, width: int, signed: bool) -> Interval:
    return to_unsigned(iv, width) if signed else clamp(iv, width, False)


def _s(iv: Interval, width: int, signed: bool) -> Interval:
    return clamp(iv, width, True) if signed else to_signed(iv, width)


def _from_u(iv: Interval, width: int, signed: bool) -> Interval:
    return to_signed(iv, width) if signed else iv


def _from_s(iv: Interval, width: int, signed: bool) -> Interval:
    return iv if signed else to_unsigned(iv, width)


# ---- known bits (tnum): value/mask pairs, used for and/or/xor/bswap/jset
def tnum_of(iv: Interval) -> tuple[int, int]:
    """(value, mask) of the bits common to every member of a finite non-negative interval."""
    lo, hi = int(iv.lo), int(iv.hi)
    bits = (lo ^ hi).bit_length()
    mask = (1 << bits) - 1
    return lo & ~mask, mask


def _tnum_iv(v: int, m: int) -> Interval:
    return Interval(v, v | m)


def _tdiv(x: int, y: int) -> int:
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y > 0) else -q


def _udiv(a: Interval, b: Interval) -> Interval:
    res = _BOTTOM
    if b.hi >= 1:
        blo = max(b.lo, 1)
        res = Interval(a.lo // b.hi, a.hi // blo)
    if b.lo <= 0:
        res = res.join(Interval.const(0))
    return res


def _umod(a: Interval, b: Interval) -> Interval:
    res = _BOTTOM
    if b.hi >= 1:
        blo = max(b.lo, 1)
        res = a if a.hi < blo else Interval(0, min(a.hi, b.hi - 1))
    if b.lo <= 0:
        res = res.join(a)
    return res


def _sdiv(a: Interval, b: Interval) -> Interval:
    res = _BOTTOM
    parts = []
    if b.lo <= -1:
        parts.append((b.lo, min(b.hi, -1)))
    if b.hi >= 1:
        parts.append((max(b.lo, 1), b.hi))
    for ylo, yhi in parts:
        qs = [_tdiv(x, y) for x in (a.lo, a.hi) for y in (ylo, yhi)]
        res = res.join(Interval(min(qs), max(qs)))
    if b.lo <= 0 <= b.hi:
        res = res.join(Interval.const(0))
    return res


def _smod(a: Interval, b: Interval) -> Interval:
    res = _BOTTOM
    nonzero_abs = []
    if b.lo <= -1:
        nonzero_abs += [-min(b.hi, -1), -b.lo]
    if b.hi >= 1:
        nonzero_abs += [max(b.lo, 1), b.hi]
    if nonzero_abs:
        min_abs, max_abs = min(nonzero_abs), max(nonzero_abs)
        if b.lo <= -1 and b.hi >= 1:
            min_abs = 1
        if max(abs(a.lo), abs(a.hi)) < min_abs:
            res = a
        else:
            m = max_abs - 1
            res = Interval(max(a.lo, -m) if a.lo < 0 else 0, min(a.hi, m) if a.hi > 0 else 0)
    if b.lo <= 0 <= b.hi:
        res = res.join(a)
    return res


def _shift_amount(b: Interval, width: int, signed: bool) -> Interval:
    ub = _u(b, width, signed)
    if ub.lo > ub.hi:
        return _BOTTOM
    if ub.lo == ub.hi:
        return Interval.const(ub.lo & (width - 1))
    if ub.hi <= width - 1:
        return ub
    return Interval(0, width - 1)


def alu(op: str, a: Interval, b: Interval | None, width: int, signed: bool) -> Interval:
    """Sound result of `a op b` on `width`-bit machine integers, in the view given by `signed`."""
    a = clamp(a, width, signed)
    if a.lo == a.hi and (b is None or b.lo == b.hi) and op in ALU_OPS:
        y = 0 if b is None else b.lo
        if op == "neg" or (b is not None and full_range(width, signed).contains(y)):  # type: ignore[arg-type]
            return Interval.const(concrete_alu(op, a.lo, y, width, signed))  # type: ignore[arg-type]
    if op == "neg":
        return wrap(-a, width, signed)
    if b is None:
        raise ValueError(f"alu op {op!r} needs two operands")
    b = clamp(b, width, signed)
    if a.lo > a.hi or b.lo > b.hi:
        return _BOTTOM
    if op == "add":
        return wrap(a + b, width, signed)
    if op == "sub":
        return wrap(a - b, width, signed)
    if op == "mul":
        return wrap(a * b, width, signed)
    if op in ("udiv", "umod"):
        f = _udiv if op == "udiv" else _umod
        return _from_u(f(_u(a, width, signed), _u(b, width, signed)), width, signed)
    if op in ("sdiv", "smod"):
        f = _sdiv if op == "sdiv" else _smod
        exact = f(_s(a, width, signed), _s(b, width, signed))
        return _from_s(wrap(exact, width, True), width, signed)
    if op in ("and", "or", "xor"):
        ua, ub = _u(a, width, signed), _u(b, width, signed)
        (av, am), (bv, bm) = tnum_of(ua), tnum_of(ub)
        if op == "and":
            v = av & bv
            m = (av | am) & (bv | bm) & ~v
            res = _tnum_iv(v, m).meet(Interval(0, min(ua.hi, ub.hi)))
        elif op == "or":
            mu = am | bm
            v = av | bv
            res = _tnum_iv(v, mu & ~v).meet(Interval(max(ua.lo, ub.lo), (1 << width) - 1))
        else:
            mu = am | bm
            res = _tnum_iv((av ^ bv) & ~mu, mu)
        return _from_u(res, width, signed)
    if op in ("lsh", "rsh", "arsh"):
        k = _shift_amount(b, width, signed)
        if op == "lsh":
            return wrap(a * Interval(1 << k.lo, 1 << k.hi), width, signed)
        if op == "rsh":
            ua = _u(a, width, signed)
            return _from_u(Interval(ua.lo >> k.hi, ua.hi >> k.lo), width, signed)
        sa = _s(a, width, signed)
        vals = [x >> s for x in (sa.lo, sa.hi) for s in (k.lo, k.hi)]
        return _from_s(Interval(min(vals), max(vals)), width, signed)
    raise ValueError(f"unknown alu op {op!r}")


# ---- extensions and byte swaps
def zero_extend(a: Interval, from_bits: int, width: int, signed: bool = False) -> Interval:
    """The low `from_bits` bits of `a`, zero-extended to `width` bits, in the view asked for."""
    return wrap(wrap(a, from_bits, False), width, signed)


def sign_extend(a: Interval, from_bits: int, width: int, signed: bool = True) -> Interval:
    """movsx: the low `from_bits` bits of `a` sign-extended to `width` bits, in the view asked for."""
    return wrap(wrap(a, from_bits, True), width, signed)


def _swap_bytes(x: int, bits: int) -> int:
    return int.from_bytes(x.to_bytes(bits // 8, "little"), "big")


def bswap(a: Interval, bits: int, width: int = 64, signed: bool = False) -> Interval:
    """Byte-swap the low `bits` (16, 32 or 64) bits of `a`; zero-extended result in the `width` view."""
    if bits % 8:
        raise ValueError(f"bswap needs a multiple of 8 bits, not {bits}")
    low = wrap(a, bits, False)
    if low.lo > low.hi:
        return _BOTTOM
    v, m = tnum_of(low)
    sv, sm = _swap_bytes(v, bits), _swap_bytes(m, bits)
    return wrap(_tnum_iv(sv, sm), width, signed)


def to_be(a: Interval, bits: int, width: int = 64, signed: bool = False) -> Interval:
    """eBPF `be16/32/64` on a little-endian machine: a byte swap."""
    return bswap(a, bits, width, signed)


def to_le(a: Interval, bits: int, width: int = 64, signed: bool = False) -> Interval:
    """eBPF `le16/32/64` on a little-endian machine: keep the low `bits` bits."""
    return zero_extend(a, bits, width, signed)


# ---- branch refinement
_NEGATE = {"jeq": "jne", "jne": "jeq", "jgt": "jle", "jle": "jgt", "jge": "jlt", "jlt": "jge",
           "jsgt": "jsle", "jsle": "jsgt", "jsge": "jslt", "jslt": "jsge", "jset": "jnset"}


def _without(iv: Interval, x: int) -> Interval:
    if iv.lo == x:
        return Interval.range(x + 1, iv.hi)
    if iv.hi == x:
        return Interval.range(iv.lo, x - 1)
    return iv


def _both(a: Interval, b: Interval) -> tuple[Interval, Interval]:
    if a.lo > a.hi or b.lo > b.hi:
        return _BOTTOM, _BOTTOM
    return a, b


def _refine_view(op: str, a: Interval, b: Interval, width: int) -> tuple[Interval, Interval]:
    """Refinement of `a op b` holding, a and b in the op's own view."""
    base = op[2:] if op.startswith("js") and op != "jset" else op[1:]
    if base == "eq":
        m = a.meet(b)
        return _both(m, m)
    if base == "ne":
        if a.lo == a.hi == b.lo == b.hi:
            return _BOTTOM, _BOTTOM
        if b.lo == b.hi:
            a = _without(a, b.lo)  # type: ignore[arg-type]
        if a.lo == a.hi:
            b = _without(b, a.lo)  # type: ignore[arg-type]
        return _both(a, b)
    if base == "gt":
        return _both(a.meet(Interval.at_least(b.lo + 1)), b.meet(Interval.at_most(a.hi - 1)))
    if base == "ge":
        return _both(a.meet(Interval.at_least(b.lo)), b.meet(Interval.at_most(a.hi)))
    if base == "lt":
        return _both(a.meet(Interval.at_most(b.hi - 1)), b.meet(Interval.at_least(a.lo + 1)))
    if base == "le":
        return _both(a.meet(Interval.at_most(b.hi)), b.meet(Interval.at_least(a.lo)))
    umax = (1 << width) - 1
    (av, am), (bv, bm) = tnum_of(a), tnum_of(b)
    if base == "set":  # a & b != 0
        v = av & bv
        if v == 0 and ((av | am) & (bv | bm)) == 0:
            return _BOTTOM, _BOTTOM
        return _both(_without(a, 0), _without(b, 0))
    if base == "nset":  # a & b == 0
        if av & bv:
            return _BOTTOM, _BOTTOM
        a = a.meet(Interval(0, umax & ~bv))
        b = b.meet(Interval(0, umax & ~av))
        return _both(a, b)
    raise ValueError(f"unknown branch op {op!r}")


def refine(op: str, a: Interval, b: Interval, width: int, taken: bool,
           signed: bool | None = None) -> tuple[Interval, Interval]:
    """Intervals of a and b on the edge where `a op b` is `taken`; (bottom, bottom) if infeasible."""
    if op not in _NEGATE or op == "jnset":
        raise ValueError(f"unknown branch op {op!r}")
    natural = op.startswith("js") and op != "jset"
    view = natural if signed is None else signed
    if not taken:
        op = _NEGATE[op]
    a0, b0 = clamp(a, width, view), clamp(b, width, view)
    if a0.lo > a0.hi or b0.lo > b0.hi:
        return _BOTTOM, _BOTTOM
    if op in ("jeq", "jne"):
        return _refine_view(op, a0, b0, width)
    if view == natural:
        return _refine_view(op, a0, b0, width)
    conv = _s if natural else _u
    back = _from_s if natural else _from_u
    ra, rb = _refine_view(op, conv(a0, width, view), conv(b0, width, view), width)
    if ra.lo > ra.hi or rb.lo > rb.hi:
        return _BOTTOM, _BOTTOM
    return _both(back(ra, width, view).meet(a0), back(rb, width, view).meet(b0))


# ---- concrete reference semantics (explicit masking), for tests and counterexample display
def concrete_alu(op: str, x: int, y: int, width: int, signed: bool) -> int:
    """The eBPF result of `x op y` on `width`-bit integers given and returned in the view."""
    mask = (1 << width) - 1
    ux, uy = x & mask, y & mask
    sx = ux - (1 << width) if ux >> (width - 1) else ux
    sy = uy - (1 << width) if uy >> (width - 1) else uy
    if op == "add":
        r = ux + uy
    elif op == "sub":
        r = ux - uy
    elif op == "mul":
        r = ux * uy
    elif op == "neg":
        r = -ux
    elif op == "udiv":
        r = 0 if uy == 0 else ux // uy
    elif op == "umod":
        r = ux if uy == 0 else ux % uy
    elif op == "sdiv":
        r = 0 if sy == 0 else _tdiv(sx, sy)
    elif op == "smod":
        r = sx if sy == 0 else sx - _tdiv(sx, sy) * sy
    elif op == "and":
        r = ux & uy
    elif op == "or":
        r = ux | uy
    elif op == "xor":
        r = ux ^ uy
    elif op == "lsh":
        r = ux << (uy & (width - 1))
    elif op == "rsh":
        r = ux >> (uy & (width - 1))
    elif op == "arsh":
        r = sx >> (uy & (width - 1))
    else:
        raise ValueError(f"unknown alu op {op!r}")
    return _to_view(r, width, signed)


def concrete_branch(op: str, x: int, y: int, width: int) -> bool:
    """Whether the eBPF jump `x op y` on `width`-bit values is taken (x, y in any view)."""
    mask = (1 << width) - 1
    ux, uy = x & mask, y & mask
    sx = ux - (1 << width) if ux >> (width - 1) else ux
    sy = uy - (1 << width) if uy >> (width - 1) else uy
    return {
        "jeq": ux == uy, "jne": ux != uy, "jgt": ux > uy, "jge": ux >= uy, "jlt": ux < uy,
        "jle": ux <= uy, "jsgt": sx > sy, "jsge": sx >= sy, "jslt": sx < sy, "jsle": sx <= sy,
        "jset": (ux & uy) != 0,
    }[op]
