"""Tnums: soundness of every operation against concrete members, lattice laws, the reduction,
and a program that only the tnum x interval product proves."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domains import tnum as TN
from domains.bounds import Interval
from domains.linear import LinearExpression as E
from domains.linear import eq, le
from domains.registry import get_domain
from domains.tnum import TnumIntervalDomain

SMALL = dict(max_examples=200, deadline=None)


@st.composite
def tnum_and_member(draw, bits=12, signed=True):
    """A tnum on integers (value possibly negative) and one of its members."""
    m = draw(st.integers(0, (1 << bits) - 1))
    v = draw(st.integers(-(1 << bits) if signed else 0, (1 << bits) - 1)) & ~m
    pick = draw(st.integers(0, (1 << bits) - 1)) & m
    return (v, m), v | pick


@given(tnum_and_member(), tnum_and_member(), st.sampled_from(["add", "sub", "mul", "and", "or", "xor"]))
@settings(**SMALL)
def test_integer_ops_are_sound(a, b, op):
    (ta, x), (tb, y) = a, b
    assert TN.contains(ta, x) and TN.contains(tb, y)
    fn = {"add": TN.add, "sub": TN.sub, "mul": TN.mul, "and": TN.and_, "or": TN.or_, "xor": TN.xor}[op]
    concrete = {"add": x + y, "sub": x - y, "mul": x * y, "and": x & y, "or": x | y, "xor": x ^ y}[op]
    assert TN.contains(fn(ta, tb), concrete)


@given(tnum_and_member(bits=8), tnum_and_member(bits=8),
       st.sampled_from(["add", "sub", "mul", "and", "or", "xor", "lsh", "rsh", "arsh", "neg"]),
       st.sampled_from([8, 16]))
@settings(**SMALL)
def test_machine_ops_are_sound(a, b, op, width):
    from domains.machine import concrete_alu
    (ta, x), (tb, y) = a, b
    if op in ("lsh", "rsh", "arsh"):
        tb, y = (y % width, 0), y % width
    mask = (1 << width) - 1
    r = TN.alu(op, ta, tb, width)
    assert TN.contains(r, concrete_alu(op, x & mask, y & mask, width, False))


def test_kernel_facts():
    # tnum_range, and, or of the kernel's definitions
    assert TN.from_range(0, 255) == (0, 0xFF)
    assert TN.from_range(16, 31) == (16, 15)
    assert TN.and_((0, 0xFF), TN.const(0xF0)) == (0, 0xF0)
    assert TN.or_((0, 0xF0), TN.const(0x0F)) == (0x0F, 0xF0)
    assert TN.alu("rsh", (0, 0xF0), TN.const(4), 64) == (0, 0x0F)
    assert TN.alu("arsh", (0x80, 0), TN.const(4), 8) == (0xF8, 0)
    assert TN.alu("add", (0xFF, 0), TN.const(1), 8) == (0, 0)


@given(tnum_and_member(), tnum_and_member())
@settings(**SMALL)
def test_lattice(a, b):
    (ta, x), (tb, y) = a, b
    j = TN.join(ta, tb)
    assert TN.leq(ta, j) and TN.leq(tb, j) and TN.contains(j, x) and TN.contains(j, y)
    m = TN.meet(ta, tb)
    both = TN.contains(ta, y) and TN.contains(tb, y)
    assert (m is not False and TN.contains(m, y)) or not both


@given(tnum_and_member(), st.integers(-5000, 5000), st.integers(0, 5000))
@settings(**SMALL)
def test_tighten_is_the_exact_hull(a, lo, width):
    t, _ = a
    hi = lo + width
    iv = TN.tighten(Interval(lo, hi), t)
    members = [x for x in range(lo, hi + 1) if TN.contains(t, x)]
    if not members:
        assert iv.is_bottom()
    else:
        assert (iv.lo, iv.hi) == (min(members), max(members))


def test_registered_and_reduced():
    assert get_domain("tnum-interval") is TnumIntervalDomain
    d = TnumIntervalDomain.top()
    d.set_interval("x", Interval(0, 255))
    d.machine_assign("y", "and", "x", 0xF0, 64)
    assert d.interval("y") == Interval(0, 0xF0)
    d.add_constraint(le(0xE1, "y"))          # the only multiple of 16 left is 0xf0
    assert d.interval("y") == Interval.const(0xF0)
    d.add_constraint(eq("y", 0x18))           # 0x18 has a low bit set: infeasible
    assert d.is_bottom()


def test_linear_assign_tracks_bits():
    d = TnumIntervalDomain.top()
    d.set_interval("x", Interval(0, 15))
    d.assign("y", E.var("x") * 4 + 1)        # y = 4x + 1: low bits 01
    assert d.tnum("y") == (1, 0b111100)
    assert d.entails(eq("y", 6).negate()[0])  # y != 6 from the known bits alone


MASKED = """
r5 = *(u32 *)(r1 + 12)
r5 &= 0xf0
if r5 < 0xe1 goto out
r5 >>= 4
r5 -= 15
r6 = r10
r6 -= r5
*(u8 *)(r6 - 1) = 0
out:
r0 = 2
exit
"""


def test_only_tnum_proves_masking_code():
    """`r & 0xf0` then `> 0xe0`: the known bits make it exactly 0xf0, so `(r >> 4) - 15 = 0`
    and the stack write is in bounds; intervals (and zones) see [14, 15] and reject."""
    from cfg.asm import assemble
    from cfg.program import Program
    from verifier.analyze import analyze
    prog = Program(assemble(MASKED), type="xdp")
    assert analyze(prog, domain="tnum-interval").ok
    for d in ("interval", "zone"):
        rep = analyze(prog, domain=d)
        assert [e.kind for e in rep.errors] == ["stack-bounds"]


def test_prove_domains_covers_tnums():
    from domains import proofs
    for op in proofs.TNUM_OPS:
        (res,) = proofs.prove([op], 32, samples=6, seed=3, timeout_ms=5000)
        assert res.cases > 0 and not res.counterexamples and not res.unknown
        (ex,) = proofs.exhaustive([op], 4)
        assert ex.cases >= 81 and not ex.counterexamples


def test_prove_domains_finds_a_wrong_tnum(monkeypatch):
    from domains import proofs
    wrong = lambda a, b: TN._norm(a[0] | b[0], a[1] & b[1]) if a and b else None  # noqa: E731
    monkeypatch.setattr(TN, "add", wrong)
    (res,) = proofs.prove(["tnum-add"], 32, samples=10, seed=1)
    assert res.counterexamples and "tnum-add" in str(res.counterexamples[0])
    (ex,) = proofs.exhaustive(["tnum-add"], 4)
    assert ex.counterexamples
