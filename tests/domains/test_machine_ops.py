"""eBPF machine-integer transfer functions: sampled soundness against an explicit-masking
reference, exactness on singletons, and exhaustive checks of every interval pair at 4 bits."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domains import machine as M
from domains import proofs
from domains.bounds import Interval

S = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
widths = st.sampled_from([8, 32, 64])


@st.composite
def view_interval(draw, width: int, signed: bool) -> Interval:
    full = M.full_range(width, signed)
    pts = proofs.interesting_points(width, signed)
    def point():
        kind = draw(st.integers(0, 2))
        if kind == 0:
            return draw(st.sampled_from(pts))
        if kind == 1:
            return draw(st.integers(int(full.lo), int(full.hi)))
        return max(full.lo, min(full.hi, draw(st.sampled_from(pts)) + draw(st.integers(-70, 70))))
    a, b = point(), point()
    return Interval(min(a, b), max(a, b))


@st.composite
def case(draw):
    width = draw(widths)
    signed = draw(st.booleans())
    return width, signed, draw(view_interval(width, signed)), draw(view_interval(width, signed))


def members(iv: Interval, rng: random.Random, n: int = 10) -> list[int]:
    lo, hi = int(iv.lo), int(iv.hi)
    pts = {lo, hi, min(hi, lo + 1), max(lo, hi - 1)} | {rng.randint(lo, hi) for _ in range(n)}
    for p in (0, -1, 1, 2**31, 2**32, 2**63, -(2**31), -(2**63)):
        if lo <= p <= hi:
            pts.add(p)
    return sorted(pts)


@S
@given(c=case(), op=st.sampled_from(M.ALU_OPS), seed=st.integers(0, 2**32))
def test_alu_sound_by_sampling(c, op, seed):
    width, signed, a, b = c
    out = M.alu(op, a, b, width, signed)
    assert out.leq(M.full_range(width, signed))
    rng = random.Random(seed)
    for x in members(a, rng):
        for y in members(b, rng, 4):
            r = M.concrete_alu(op, x, y, width, signed)
            assert out.contains(r), (op, width, signed, str(a), str(b), x, y, r, str(out))


@S
@given(c=case(), op=st.sampled_from(M.ALU_OPS))
def test_alu_exact_on_singletons(c, op):
    width, signed, a, b = c
    x, y = int(a.lo), int(b.lo)
    r = M.concrete_alu(op, x, y, width, signed)
    out = M.alu(op, Interval.const(x), Interval.const(y), width, signed)
    if op in ("add", "sub", "mul", "neg", "udiv", "sdiv", "umod", "smod", "and", "or", "xor",
              "lsh", "rsh", "arsh"):
        assert out == Interval.const(r), (op, x, y, str(out), r)


@S
@given(c=case(), op=st.sampled_from(M.BRANCH_OPS), taken=st.booleans(), seed=st.integers(0, 2**32))
def test_refine_sound_by_sampling(c, op, taken, seed):
    width, signed, a, b = c
    ra, rb = M.refine(op, a, b, width, taken, signed=signed)
    assert ra.leq(a) and rb.leq(b)
    rng = random.Random(seed)
    for x in members(a, rng):
        for y in members(b, rng, 4):
            if M.concrete_branch(op, x, y, width) == taken:
                assert ra.contains(x) and rb.contains(y), (op, taken, str(a), str(b), x, y, str(ra), str(rb))


@S
@given(c=case(), seed=st.integers(0, 2**32))
def test_conversions_and_extensions_sound(c, seed):
    width, signed, a, _ = c
    rng = random.Random(seed)
    mask = (1 << width) - 1
    for x in members(a, rng):
        u = x & mask
        s = u - (1 << width) if u >> (width - 1) else u
        if signed:
            assert M.to_unsigned(a, width).contains(u)
        else:
            assert M.to_signed(a, width).contains(s)
        for bits in (8, 16, 32):
            if bits < width:
                low = x & ((1 << bits) - 1)
                sx = low - (1 << bits) if low >> (bits - 1) else low
                view = (lambda v: (v & mask) - (1 << width) if signed and (v & mask) >> (width - 1) else v & mask)
                assert M.sign_extend(a, bits, width, signed).contains(view(sx))
                assert M.zero_extend(a, bits, width, signed).contains(view(low))
                assert M.truncate(a, bits, False).contains(low)
        for bits in (16, 32, 64):
            if bits <= width:
                low = x & ((1 << bits) - 1)
                swapped = int.from_bytes(low.to_bytes(bits // 8, "little"), "big")
                view = (lambda v: v - (1 << width) if signed and v >> (width - 1) else v)
                assert M.bswap(a, bits, width, signed).contains(view(swapped))
                assert M.to_le(a, bits, width, signed).contains(view(low))


def test_ebpf_corner_cases():
    i64min = -(2**63)
    assert M.alu("sdiv", Interval.const(i64min), Interval.const(-1), 64, True) == Interval.const(i64min)
    assert M.alu("udiv", Interval(5, 9), Interval.const(0), 64, False) == Interval.const(0)
    assert M.alu("umod", Interval(5, 9), Interval.const(0), 64, False) == Interval(5, 9)
    assert M.alu("smod", Interval.const(-7), Interval.const(2), 64, True) == Interval.const(-1)
    assert M.alu("lsh", Interval.const(1), Interval.const(65), 64, False) == Interval.const(2)
    assert M.alu("lsh", Interval.const(1), Interval.const(33), 32, False) == Interval.const(2)
    assert M.alu("add", Interval.const(2**64 - 1), Interval.const(1), 64, False) == Interval.const(0)
    # a range that wraps non-uniformly gives the whole width, never a wrong range
    assert M.alu("add", Interval(2**64 - 2, 2**64 - 1), Interval(0, 1), 64, False) == M.full_range(64, False)
    assert M.sign_extend(Interval.const(0x80), 8, 64, True) == Interval.const(-128)
    assert M.bswap(Interval.const(0x1234), 16) == Interval.const(0x3412)
    assert M.zero_extend(Interval.const(-1), 32, 64, False) == Interval.const(2**32 - 1)


def test_refine_infeasible_edge_is_bottom():
    a, b = M.refine("jgt", Interval(0, 5), Interval(10, 20), 64, True)
    assert a.is_bottom() and b.is_bottom()
    a, b = M.refine("jeq", Interval(0, 5), Interval.const(3), 64, False)
    assert a == Interval(0, 5)
    a, _ = M.refine("jne", Interval(3, 5), Interval.const(3), 64, True)
    assert a == Interval(4, 5)


EXHAUSTIVE_OPS = M.ALU_OPS + M.BRANCH_OPS


@pytest.mark.parametrize("op", EXHAUSTIVE_OPS)
def test_exhaustive_at_4_bits(op):
    (res,) = proofs.exhaustive([op], 4)
    assert res.cases >= 2 * 136 * (1 if op == "neg" else 136)  # every interval (pair), both views
    assert res.counterexamples == [], [str(c) for c in res.counterexamples[:3]]


def test_exhaustive_check_catches_an_unsound_function(monkeypatch):
    real = M.alu
    def too_narrow(op, a, b, width, signed):
        out = real(op, a, b, width, signed)
        return out if out.is_singleton() or out.is_bottom() else Interval(out.lo, out.hi - 1)
    monkeypatch.setattr(M, "alu", too_narrow)
    (res,) = proofs.exhaustive(["add"], 4)
    assert res.counterexamples
    cx = res.counterexamples[0]
    assert cx.a.contains(cx.x) and cx.b.contains(cx.y)
    assert not Interval(cx.a.lo, cx.a.hi).is_bottom() and "gives" in str(cx)
