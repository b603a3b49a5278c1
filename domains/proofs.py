"""Cross-checks of the machine transfer functions (domains.machine): z3 and exhaustive search.

For one abstract input, z3 (with bit-vectors of the real width) is asked whether some concrete
input inside it gives a concrete result outside the abstract output; a model is a bug, reported
as concrete values. `exhaustive(...)` checks every interval pair at a small width (4 bits) in
pure Python. z3 is imported lazily so that importing this module stays cheap.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from domains.bounds import Interval
from domains import machine as M

UNARY_OPS = ("neg", "bswap16", "bswap32", "bswap64", "sext8", "sext16", "sext32", "zext8",
             "zext16", "zext32")
ALL_OPS = M.ALU_OPS + tuple(o for o in UNARY_OPS if o != "neg") + M.BRANCH_OPS


@dataclass(frozen=True)
class Counterexample:
    """A concrete input inside the abstract input whose result escapes the abstract output."""

    op: str
    width: int
    signed: bool
    a: Interval
    b: Interval | None
    claimed: str
    x: int
    y: int | None
    got: str

    def __str__(self) -> str:
        view = "signed" if self.signed else "unsigned"
        args = f"a={self.a}" + (f" b={self.b}" if self.b is not None else "")
        vals = f"x={self.x}" + (f" y={self.y}" if self.y is not None else "")
        return (f"{self.op} (width {self.width}, {view}): {args} -> {self.claimed}, "
                f"but {vals} gives {self.got}")


@dataclass
class OpResult:
    """Tally for one op: cases checked, counterexamples found, solver give-ups."""

    op: str
    cases: int = 0
    skipped_trivial: int = 0
    unknown: int = 0
    counterexamples: list[Counterexample] | None = None


def _unary_abstract(op: str, a: Interval, width: int, signed: bool) -> Interval:
    if op == "neg":
        return M.alu("neg", a, None, width, signed)
    bits = int(op[5:] if op.startswith("bswap") else op[4:])
    if op.startswith("bswap"):
        return M.bswap(a, bits, width, signed)
    if op.startswith("sext"):
        return M.sign_extend(a, bits, width, signed)
    return M.zero_extend(a, bits, width, signed)


def _unary_concrete(op: str, x: int, width: int, signed: bool) -> int:
    mask = (1 << width) - 1
    if op == "neg":
        return M.concrete_alu("neg", x, 0, width, signed)
    bits = int(op[5:] if op.startswith("bswap") else op[4:])
    low = x & ((1 << bits) - 1)
    if op.startswith("bswap"):
        r = int.from_bytes(low.to_bytes(bits // 8, "little"), "big")
    elif op.startswith("sext"):
        r = low - (1 << bits) if low >> (bits - 1) else low
    else:
        r = low
    r &= mask
    return r - (1 << width) if signed and r >> (width - 1) else r


def unary_ok(op: str, width: int) -> bool:
    """Whether a unary op makes sense at this width (extension/swap sizes must fit)."""
    if op == "neg":
        return True
    bits = int(op[5:] if op.startswith("bswap") else op[4:])
    if op.startswith("bswap"):
        return bits <= width and width >= 16
    return bits < width


# ---- abstract inputs
def interesting_points(width: int, signed: bool) -> list[int]:
    """Corner values of a view: 0, +-1, the extremes, and 2^31, 2^32, 2^63 when they fit."""
    lo, hi = M.full_range(width, signed).lo, M.full_range(width, signed).hi
    pts = {0, 1, 2, lo, hi, lo + 1, hi - 1, 7, 8, 255}
    for k in (8, 15, 16, 31, 32, 63):
        for base in (1 << k, -(1 << k)):
            for d in (-1, 0, 1):
                pts.add(base + d)
    if signed:
        pts |= {-1, -2, -8}
    return sorted(p for p in pts if lo <= p <= hi)  # type: ignore[operator]


def abstract_inputs(width: int, signed: bool, n: int, rng: random.Random) -> Iterator[Interval]:
    """Corner intervals (singletons, full range, across 0 / 2^31 / 2^32 / 2^63) then random ones."""
    full = M.full_range(width, signed)
    pts = interesting_points(width, signed)
    yield full
    for p in pts:
        yield Interval.const(p)
    for p in pts:
        for span in (1, 3, 100):
            iv = Interval(p - span, p + span).meet(full)
            if not iv.is_bottom():
                yield iv
    yield Interval(full.lo, 0).meet(full) if signed else Interval(0, full.hi // 2)
    for _ in range(n):
        kind = rng.random()
        if kind < 0.4:
            a, b = rng.choice(pts), rng.choice(pts)
        elif kind < 0.7:
            a = rng.randint(int(full.lo), int(full.hi))
            b = a + rng.randint(0, 1 << rng.randint(0, width))
        else:
            a = rng.choice(pts) + rng.randint(-300, 300)
            b = a + rng.randint(0, 600)
        iv = Interval(min(a, b), max(a, b)).meet(full)
        if not iv.is_bottom():
            yield iv


# ---- z3
def _z3_semantics(op: str, x, y, width: int):
    import z3

    sh = lambda v: v & z3.BitVecVal(width - 1, width)  # noqa: E731
    zero = z3.BitVecVal(0, width)
    table: dict[str, Callable] = {
        "add": lambda: x + y, "sub": lambda: x - y, "mul": lambda: x * y, "neg": lambda: -x,
        "udiv": lambda: z3.If(y == 0, zero, z3.UDiv(x, y)),
        "umod": lambda: z3.If(y == 0, x, z3.URem(x, y)),
        "sdiv": lambda: z3.If(y == 0, zero, x / y),
        "smod": lambda: z3.If(y == 0, x, z3.SRem(x, y)),
        "and": lambda: x & y, "or": lambda: x | y, "xor": lambda: x ^ y,
        "lsh": lambda: x << sh(y), "rsh": lambda: z3.LShR(x, sh(y)), "arsh": lambda: x >> sh(y),
        "jeq": lambda: x == y, "jne": lambda: x != y, "jgt": lambda: z3.UGT(x, y),
        "jge": lambda: z3.UGE(x, y), "jlt": lambda: z3.ULT(x, y), "jle": lambda: z3.ULE(x, y),
        "jsgt": lambda: x > y, "jsge": lambda: x >= y, "jslt": lambda: x < y, "jsle": lambda: x <= y,
        "jset": lambda: (x & y) != zero,
    }
    if op in table:
        return table[op]()
    bits = int(op[5:] if op.startswith("bswap") else op[4:])
    low = z3.Extract(bits - 1, 0, x)
    if op.startswith("bswap"):
        parts = [z3.Extract(8 * i + 7, 8 * i, low) for i in range(bits // 8)]
        low = z3.Concat(*parts) if len(parts) > 1 else parts[0]
        return z3.ZeroExt(width - bits, low) if width > bits else low
    if op.startswith("sext"):
        return z3.SignExt(width - bits, low)
    return z3.ZeroExt(width - bits, low)


_INT_OPS = ("mul", "udiv", "umod", "sdiv", "smod")


def _int_value(op: str, x, y, width: int, signed: bool):
    """The exact integer result (before reduction mod 2^w) of an _INT_OPS op on view values."""
    import z3

    full, half = 1 << width, 1 << (width - 1)
    if op == "mul":
        return x * y
    if op in ("udiv", "umod"):
        ux = z3.If(x < 0, x + full, x) if signed else x
        uy = z3.If(y < 0, y + full, y) if signed else y
        if op == "udiv":
            return z3.If(uy == 0, 0, ux / uy)  # z3 Int division is floor for ux >= 0, uy > 0
        return z3.If(uy == 0, ux, ux % uy)
    sx = x if signed else z3.If(x >= half, x - full, x)
    sy = y if signed else z3.If(y >= half, y - full, y)
    ax, ay = z3.If(sx >= 0, sx, -sx), z3.If(sy >= 0, sy, -sy)
    aq = z3.If(ay == 0, 0, ax / z3.If(ay == 0, 1, ay))
    q = z3.If((sx >= 0) == (sy > 0), aq, -aq)
    if op == "sdiv":
        return z3.If(sy == 0, 0, q)
    return z3.If(sy == 0, sx, sx - q * sy)


def _in_view(v, iv: Interval, width: int, signed: bool):
    import z3

    if iv.is_bottom():
        return z3.BoolVal(False)
    lo, hi = z3.BitVecVal(int(iv.lo), width), z3.BitVecVal(int(iv.hi), width)
    if signed:
        return z3.And(lo <= v, v <= hi)
    return z3.And(z3.ULE(lo, v), z3.ULE(v, hi))


def _as_view(v: int, width: int, signed: bool) -> int:
    return v - (1 << width) if signed and v >> (width - 1) else v


class Z3Checker:
    """One z3 solver reused for every query of one width (push/pop per case)."""

    def __init__(self, width: int, timeout_ms: int = 10000) -> None:
        import z3

        self.z3 = z3
        self.width = width
        self.solver = z3.Solver()
        self.solver.set("timeout", timeout_ms)
        self.x, self.y = z3.BitVec("x", width), z3.BitVec("y", width)

    def _query(self, constraints) -> tuple[str, object]:
        s = self.solver
        s.push()
        try:
            s.add(*constraints)
            r = s.check()
            if r == self.z3.sat:
                return "sat", s.model()
            return ("unsat" if r == self.z3.unsat else "unknown"), None
        finally:
            s.pop()

    def _val(self, model, v) -> int:
        return model.eval(v, model_completion=True).as_long()

    def check_alu(self, op: str, a: Interval, b: Interval | None, signed: bool) -> tuple[str, Counterexample | None]:
        """'ok', 'trivial', 'unknown' or 'bug' (with a counterexample) for one abstract input."""
        w = self.width
        if b is None:
            out = _unary_abstract(op, a, w, signed)
        else:
            out = M.alu(op, a, b, w, signed)
        if out == M.full_range(w, signed):
            return "trivial", None
        if op == "mul" and b is not None:
            status, cx = self._check_int(op, a, b, signed, out)
            if status != "unknown":
                return status, cx
        x, y = self.x, self.y
        r = _z3_semantics(op, x, y, w)
        cs = [_in_view(x, a, w, signed), self.z3.Not(_in_view(r, out, w, signed))]
        if b is not None:
            cs.append(_in_view(y, b, w, signed))
        status, model = self._query(cs)
        if status == "unknown" and b is not None and op in _INT_OPS:
            return self._check_int(op, a, b, signed, out)
        if status != "sat":
            return ("ok" if status == "unsat" else "unknown"), None
        cx = _as_view(self._val(model, x), w, signed)
        cy = _as_view(self._val(model, y), w, signed) if b is not None else None
        got = _as_view(self._val(model, r), w, signed)
        return "bug", Counterexample(op, w, signed, a, b, str(out), cx, cy, str(got))

    def _check_int(self, op: str, a: Interval, b: Interval, signed: bool, out: Interval) -> tuple[str, Counterexample | None]:
        """mul/div/mod over mathematical integers, an exact encoding of the bit-vector semantics
        (values reduced modulo 2^w into the view); z3 decides these boxes fast where bit-blasted
        64-bit multipliers and dividers time out."""
        z3, w = self.z3, self.width
        full = 1 << w
        half = full >> 1
        x, y, k, r = z3.Ints("ix iy ik ir")
        lo = -half if signed else 0
        cs = [x >= int(a.lo), x <= int(a.hi), y >= int(b.lo), y <= int(b.hi),
              r >= lo, r < lo + full, r == _int_value(op, x, y, w, signed) - k * full,
              z3.Or(r < int(out.lo), r > int(out.hi)) if not out.is_bottom() else z3.BoolVal(True)]
        status, model = self._query(cs)
        if status != "sat":
            return ("ok" if status == "unsat" else "unknown"), None
        vx, vy, vr = (model.eval(v, model_completion=True).as_long() for v in (x, y, r))
        return "bug", Counterexample(op, w, signed, a, b, str(out), vx, vy, str(vr))

    def check_branch(self, op: str, a: Interval, b: Interval, signed: bool, taken: bool) -> tuple[str, Counterexample | None]:
        """Soundness of `refine` for one abstract input and one direction."""
        w = self.width
        ra, rb = M.refine(op, a, b, w, taken, signed=signed)
        x, y = self.x, self.y
        cond = _z3_semantics(op, x, y, w)
        cs = [_in_view(x, a, w, signed), _in_view(y, b, w, signed),
              cond if taken else self.z3.Not(cond),
              self.z3.Not(self.z3.And(_in_view(x, ra, w, signed), _in_view(y, rb, w, signed)))]
        status, model = self._query(cs)
        if status != "sat":
            return ("ok" if status == "unsat" else "unknown"), None
        cx = _as_view(self._val(model, x), w, signed)
        cy = _as_view(self._val(model, y), w, signed)
        name = f"{op}/{'taken' if taken else 'not taken'}"
        return "bug", Counterexample(name, w, signed, a, b, f"({ra}, {rb})", cx, cy, "a feasible pair outside")


def prove(ops: Sequence[str], width: int, samples: int, seed: int = 0,
          timeout_ms: int = 10000, limit: int | None = None) -> list[OpResult]:
    """Check each op on corner and `samples` random abstract inputs, both views, with z3
    (at most `limit` inputs per view, chosen at random, when given)."""
    checker = Z3Checker(width, timeout_ms)
    results = []
    for op in ops:
        if op in TNUM_OPS:
            results.append(prove_tnum(op, width, samples, seed, timeout_ms, limit))
            continue
        res = OpResult(op, counterexamples=[])
        if op in UNARY_OPS and not unary_ok(op, width):
            results.append(res)
            continue
        for signed in (False, True):
            rng = random.Random(f"{seed}:{op}:{width}:{signed}")
            ins = list(abstract_inputs(width, signed, samples, rng))
            if limit is not None and len(ins) > limit:
                ins = [ins[0]] + rng.sample(ins[1:], limit - 1)
            for a in ins:
                if op in UNARY_OPS:
                    cases = [(a, None)]
                else:
                    cases = [(a, rng.choice(ins))]
                for a_, b_ in cases:
                    if op in M.BRANCH_OPS:
                        outs = [checker.check_branch(op, a_, b_, signed, t) for t in (True, False)]  # type: ignore[arg-type]
                    else:
                        outs = [checker.check_alu(op, a_, b_, signed)]
                    for status, cx in outs:
                        res.cases += 1
                        if status == "trivial":
                            res.skipped_trivial += 1
                        elif status == "unknown":
                            res.unknown += 1
                        elif status == "bug":
                            res.counterexamples.append(cx)  # type: ignore[arg-type]
        results.append(res)
    return results


# ---- exhaustive small-width checks (pure Python)
def _all_intervals(vals: list[int]) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(vals)) for j in range(i, len(vals))]


def exhaustive(ops: Sequence[str], width: int = 4) -> list[OpResult]:
    """Every interval pair of both views at `width` bits, every concrete member: no escape."""
    results = []
    for op in ops:
        if op in TNUM_OPS:
            results.append(exhaustive_tnum(op, width))
            continue
        res = OpResult(op, counterexamples=[])
        if op in UNARY_OPS and not unary_ok(op, width):
            results.append(res)
            continue
        for signed in (False, True):
            full = M.full_range(width, signed)
            vals = list(range(int(full.lo), int(full.hi) + 1))
            ivs = _all_intervals(vals)
            if op in M.BRANCH_OPS:
                _exhaustive_branch(op, width, signed, vals, ivs, res)
            elif op in UNARY_OPS:
                for i, j in ivs:
                    a = Interval(vals[i], vals[j])
                    out = _unary_abstract(op, a, width, signed)
                    res.cases += 1
                    for x in vals[i:j + 1]:
                        r = _unary_concrete(op, x, width, signed)
                        if not out.contains(r):
                            res.counterexamples.append(Counterexample(op, width, signed, a, None, str(out), x, None, str(r)))
                            break
            else:
                _exhaustive_alu(op, width, signed, vals, ivs, res)
        results.append(res)
    return results


def _exhaustive_alu(op, width, signed, vals, ivs, res) -> None:
    n = len(vals)
    table = [[M.concrete_alu(op, x, y, width, signed) for y in vals] for x in vals]
    # row[x][k]: (min, max) of table[x][y] for y in the k-th interval
    row = []
    for x in range(n):
        mins = []
        for i, j in ivs:
            seg = table[x][i:j + 1]
            mins.append((min(seg), max(seg)))
        row.append(mins)
    for ai in range(n):
        acc = [(float("inf"), float("-inf"))] * len(ivs)
        for aj in range(ai, n):
            acc = [(min(p[0], q[0]), max(p[1], q[1])) for p, q in zip(acc, row[aj])]
            a = Interval(vals[ai], vals[aj])
            for k, (bi, bj) in enumerate(ivs):
                b = Interval(vals[bi], vals[bj])
                out = M.alu(op, a, b, width, signed)
                res.cases += 1
                lo, hi = acc[k]
                if not (out.lo <= lo and hi <= out.hi):
                    bad = lo if lo < out.lo else hi
                    x, y = next((vals[p], vals[q]) for p in range(ai, aj + 1) for q in range(bi, bj + 1)
                                if table[p][q] == bad)
                    res.counterexamples.append(Counterexample(op, width, signed, a, b, str(out), x, y, str(bad)))


def _exhaustive_branch(op, width, signed, vals, ivs, res) -> None:
    n = len(vals)
    for taken in (True, False):
        cond = [[M.concrete_branch(op, x, y, width) == taken for y in vals] for x in vals]
        # feasible x for each b interval; feasible y for each a interval
        fx = [[any(cond[x][i:j + 1]) for (i, j) in ivs] for x in range(n)]
        fy = [[any(cond[x][y] for x in range(i, j + 1)) for (i, j) in ivs] for y in range(n)]
        for ka, (ai, aj) in enumerate(ivs):
            a = Interval(vals[ai], vals[aj])
            for kb, (bi, bj) in enumerate(ivs):
                b = Interval(vals[bi], vals[bj])
                ra, rb = M.refine(op, a, b, width, taken, signed=signed)
                res.cases += 1
                xs = [vals[x] for x in range(ai, aj + 1) if fx[x][kb]]
                ys = [vals[y] for y in range(bi, bj + 1) if fy[y][ka]]
                bad = None
                if xs and not (ra.contains(xs[0]) and ra.contains(xs[-1])):
                    bad = xs[0] if not ra.contains(xs[0]) else xs[-1]
                    pair = next((bad, y) for y in vals[bi:bj + 1] if cond[vals.index(bad)][vals.index(y)])
                elif ys and not (rb.contains(ys[0]) and rb.contains(ys[-1])):
                    bad = ys[0] if not rb.contains(ys[0]) else ys[-1]
                    pair = next((x, bad) for x in vals[ai:aj + 1] if cond[vals.index(x)][vals.index(bad)])
                if bad is not None:
                    name = f"{op}/{'taken' if taken else 'not taken'}"
                    res.counterexamples.append(Counterexample(name, width, signed, a, b, f"({ra}, {rb})",
                                                              pair[0], pair[1], "a feasible pair outside"))


# ---- tnums (domains.tnum): the known-bits transfer functions on machine integers
TNUM_OPS = tuple(f"tnum-{o}" for o in ("add", "sub", "mul", "and", "or", "xor", "lsh", "rsh",
                                       "arsh", "neg"))
ALL_OPS = ALL_OPS + TNUM_OPS


def tnum_inputs(width: int, n: int, rng: random.Random) -> list[tuple[int, int]]:
    """Corner tnums (constants at the extremes, all unknown, unknown low / high halves, one
    unknown bit) then `n` random ones of varied density."""
    full = (1 << width) - 1
    half = width // 2
    out = [(0, full), (0, 0), (1, 0), (full, 0), (1 << (width - 1), 0), (0, 0xF0 & full),
           (0, (1 << half) - 1), (full & ~((1 << half) - 1), (1 << half) - 1),
           ((1 << half) - 1, full & ~((1 << half) - 1)), (0, 1 << (width - 1)), (1, 1 << (width - 1))]
    for _ in range(n):
        density = rng.random()
        m = sum(1 << i for i in range(width) if rng.random() < density)
        out.append((rng.getrandbits(width) & ~m, m))
    return out


def _tnum_case(op: str, width: int, a, b):
    """(base op, second operand tnum or None, abstract result) of one case."""
    from domains import tnum as TN
    base = op[5:]
    if base == "neg":
        return base, None, TN.alu(base, a, None, width)
    return base, b, TN.alu(base, a, b, width)


def prove_tnum(op: str, width: int, samples: int, seed: int = 0, timeout_ms: int = 10000,
               limit: int | None = None) -> OpResult:
    """z3 (bit-vectors of `width`): for sampled tnums a, b, no x in a, y in b has `x op y`
    outside `alu(op, a, b)`. Shift amounts are constants (the only shifts tnums model)."""
    import z3

    from domains import tnum as TN
    rng = random.Random(f"{seed}:{op}:{width}")
    res = OpResult(op, counterexamples=[])
    ins = tnum_inputs(width, samples, rng)
    if limit is not None and len(ins) > limit:
        ins = ins[:1] + rng.sample(ins[1:], limit - 1)
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    x, y = z3.BitVec("x", width), z3.BitVec("y", width)
    full = (1 << width) - 1
    shift = op[5:] in ("lsh", "rsh", "arsh")
    for a in ins:
        b = (rng.randrange(width), 0) if shift else rng.choice(ins)
        base, b, out = _tnum_case(op, width, a, b)
        res.cases += 1
        if out[1] == full:
            res.skipped_trivial += 1
            continue
        r = _z3_semantics(base, x, y, width)
        cs = [x & z3.BitVecVal(~a[1] & full, width) == a[0],
              r & z3.BitVecVal(~out[1] & full, width) != out[0]]
        if b is not None:
            cs.append(y & z3.BitVecVal(~b[1] & full, width) == b[0])
        solver.push()
        solver.add(*cs)
        status = solver.check()
        if status == z3.sat:
            mdl = solver.model()
            cx, cy, got = (mdl.eval(v, model_completion=True).as_long() for v in (x, y, r))
            res.counterexamples.append(Counterexample(
                op, width, False, TN.fmt(a), TN.fmt(b) if b is not None else None,  # type: ignore[arg-type]
                TN.fmt(out), cx, cy if b is not None else None, hex(got)))
        elif status != z3.unsat:
            res.unknown += 1
        solver.pop()
    return res


def exhaustive_tnum(op: str, width: int = 4) -> OpResult:
    """Every pair of `width`-bit tnums (3^width each) and every pair of members."""
    from itertools import product

    from domains import machine as MM
    from domains import tnum as TN
    res = OpResult(op, counterexamples=[])
    full = (1 << width) - 1
    tnums = []
    for digits in product((0, 1, 2), repeat=width):
        v = sum(1 << i for i, d in enumerate(digits) if d == 1)
        m = sum(1 << i for i, d in enumerate(digits) if d == 2)
        tnums.append((v, m))
    members = {t: [x for x in range(full + 1) if (x & ~t[1]) == t[0]] for t in tnums}
    base = op[5:]
    seconds = [(k, 0) for k in range(width)] if base in ("lsh", "rsh", "arsh") else \
        ([None] if base == "neg" else tnums)
    for a in tnums:
        for b in seconds:
            _, b, out = _tnum_case(op, width, a, b)
            res.cases += 1
            for x in members[a]:
                bad = next((y for y in (members[b] if b is not None else [0])
                            if not TN.contains(out, MM.concrete_alu(base, x, y, width, False))), None)
                if bad is not None:
                    got = MM.concrete_alu(base, x, bad, width, False)
                    res.counterexamples.append(Counterexample(
                        op, width, False, TN.fmt(a), TN.fmt(b) if b else None,  # type: ignore[arg-type]
                        TN.fmt(out), x, bad if b else None, hex(got)))
                    break
    return res
