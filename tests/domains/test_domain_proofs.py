"""z3 cross-check of the machine transfer functions, on a modest sample (the full run is
`bpfcheck prove-domains`), and proof that the checker does catch an unsound function."""
from __future__ import annotations

import pytest

from domains import machine as M
from domains import proofs
from domains.bounds import Interval
from verifier.cli import main


@pytest.mark.parametrize("op", proofs.ALL_OPS)
def test_z3_finds_no_counterexample_on_a_sample(op):
    (res,) = proofs.prove([op], 32, samples=3, seed=1, timeout_ms=5000, limit=8)
    assert res.counterexamples == [], [str(c) for c in res.counterexamples]
    if op not in proofs.UNARY_OPS or proofs.unary_ok(op, 32):
        assert res.cases >= 8


def _narrowed(real):
    def alu(op, a, b, width, signed):
        out = real(op, a, b, width, signed)
        if op == "add" and out.is_finite() and not out.is_singleton():
            return Interval(out.lo, out.hi - 1)
        return out
    return alu


def test_z3_reports_a_concrete_counterexample(monkeypatch):
    monkeypatch.setattr(M, "alu", _narrowed(M.alu))
    checker = proofs.Z3Checker(64)
    status, cx = checker.check_alu("add", Interval(0, 10), Interval(0, 10), signed=False)
    assert status == "bug"
    assert 0 <= cx.x <= 10 and 0 <= cx.y <= 10 and cx.x + cx.y == 20
    status, _ = checker.check_alu("add", Interval(0, 10), Interval.const(0), signed=False)
    assert status == "bug"


def test_z3_refine_check_catches_a_wrong_refinement(monkeypatch):
    real = M.refine
    def wrong(op, a, b, width, taken, signed=None):
        ra, rb = real(op, a, b, width, taken, signed)
        return (Interval(ra.lo + 1, ra.hi), rb) if not ra.is_bottom() and not ra.is_singleton() else (ra, rb)
    monkeypatch.setattr(M, "refine", wrong)
    status, cx = proofs.Z3Checker(32).check_branch("jgt", Interval(0, 100), Interval(0, 5), False, True)
    assert status == "bug" and "jgt" in str(cx)


def test_cli_exit_codes(monkeypatch, capsys):
    assert main(["prove-domains", "--ops", "add,jslt", "--samples", "2", "--width", "32",
                 "--exhaustive-bits", "0"]) == 0
    assert "0 counterexample(s)" in capsys.readouterr().out
    monkeypatch.setattr(M, "alu", _narrowed(M.alu))
    assert main(["prove-domains", "--ops", "add", "--samples", "2", "--width", "32"]) == 1
    out = capsys.readouterr().out
    assert "COUNTEREXAMPLE add" in out and "gives" in out
    assert main(["prove-domains", "--ops", "frobnicate"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("width", [32, 64])
def test_z3_full_sample(width):
    res = proofs.prove(list(proofs.ALL_OPS), width, samples=20, seed=7, timeout_ms=5000)
    assert all(r.counterexamples == [] for r in res), [str(c) for r in res for c in r.counterexamples]


@pytest.mark.parametrize("signed", [False, True])
def test_z3_mul_check_catches_a_wrong_product(monkeypatch, signed):
    real = M.alu
    def wrong(op, a, b, width, signed_):
        out = real(op, a, b, width, signed_)
        return Interval(out.lo, out.hi - 1) if op == "mul" and out.is_finite() and not out.is_singleton() else out
    monkeypatch.setattr(M, "alu", wrong)
    a, b = (Interval(-3, 7), Interval(2, 5)) if signed else (Interval(2**40, 2**40 + 9), Interval(3, 1000))
    status, cx = proofs.Z3Checker(64).check_alu("mul", a, b, signed)
    assert status == "bug" and a.contains(cx.x) and b.contains(cx.y)
    assert int(cx.got) == M.concrete_alu("mul", cx.x, cx.y, 64, signed)


@pytest.mark.parametrize("op", ["mul", "udiv", "umod", "sdiv", "smod"])
def test_integer_encoding_agrees_with_the_reference(op):
    import random

    import z3

    rng = random.Random(op)
    for width in (8, 64):
        for signed in (False, True):
            full = M.full_range(width, signed)
            lo, hi = int(full.lo), int(full.hi)
            for _ in range(12):
                x = rng.choice([lo, hi, 0, -1 if signed else 1, rng.randint(lo, hi)])
                y = rng.choice([lo, hi, 0, -1 if signed else 1, 3, rng.randint(lo, hi)])
                X, Y, K, R = z3.Ints("x y k r")
                s = z3.Solver()
                s.add(X == x, Y == y, R >= lo, R < lo + (1 << width),
                      R == proofs._int_value(op, X, Y, width, signed) - K * (1 << width))
                assert s.check() == z3.sat
                assert s.model().eval(R).as_long() == M.concrete_alu(op, x, y, width, signed)


def test_integer_fallback_catches_a_wrong_division(monkeypatch):
    real = M.alu
    monkeypatch.setattr(M, "alu", lambda op, a, b, w, s: Interval(0, 0) if op == "sdiv" else real(op, a, b, w, s))
    checker = proofs.Z3Checker(64)
    status, cx = checker._check_int("sdiv", Interval(-100, 100), Interval(-3, 3), True, Interval(0, 0))
    assert status == "bug" and M.concrete_alu("sdiv", cx.x, cx.y, 64, True) != 0
