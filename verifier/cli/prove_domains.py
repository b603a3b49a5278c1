"""`bpfcheck prove-domains`: ask z3 whether any machine transfer function is unsound.

For each op, corner-case and random abstract inputs (both views) are checked with bit-vectors
of the chosen width; `--exhaustive-bits 4` adds a check of every interval pair at 4 bits.
Counterexamples are printed as concrete values; the exit code is 1 when there is any.
"""
from __future__ import annotations

import time


def register(sub) -> None:
    """Add the `prove-domains` subcommand."""
    p = sub.add_parser("prove-domains", help="cross-check the eBPF interval transfer functions with z3")
    p.add_argument("--ops", default="all", help="comma-separated ops (default: all), e.g. add,mul,jsgt,bswap16")
    p.add_argument("--samples", type=int, default=200, help="random abstract inputs per op and view (default 200)")
    p.add_argument("--width", type=int, choices=(64, 32), default=64, help="bit width of the z3 check")
    p.add_argument("--seed", type=int, default=0, help="seed of the input generator")
    p.add_argument("--timeout-ms", type=int, default=5000, help="z3 time limit per query (default 5000)")
    p.add_argument("--exhaustive-bits", type=int, default=4, choices=(0, 4),
                   help="also check every interval pair at this width (0: skip)")
    p.set_defaults(handler=run)


def run(args) -> int:
    """Run the proofs; 0 when no counterexample was found, 1 otherwise."""
    from cfg.errors import BpfcheckError
    from domains import proofs

    ops = proofs.ALL_OPS if args.ops == "all" else tuple(o.strip() for o in args.ops.split(",") if o.strip())
    unknown = [o for o in ops if o not in proofs.ALL_OPS]
    if unknown:
        raise BpfcheckError(f"unknown op(s) {', '.join(unknown)}; known: {', '.join(proofs.ALL_OPS)}")
    if args.samples < 0:
        raise BpfcheckError("--samples must be >= 0")
    bad = 0
    print(f"{'op':10} {'width':>5} {'cases':>7} {'trivial':>8} {'unknown':>8} {'bugs':>5} {'seconds':>8}")
    for op in ops:
        t0 = time.perf_counter()
        (res,) = proofs.prove([op], args.width, args.samples, args.seed, args.timeout_ms)
        _row(res, args.width, time.perf_counter() - t0)
        bad += _print_bugs(res)
        if args.exhaustive_bits and (op not in proofs.UNARY_OPS or proofs.unary_ok(op, args.exhaustive_bits)):
            t0 = time.perf_counter()
            (res,) = proofs.exhaustive([op], args.exhaustive_bits)
            _row(res, args.exhaustive_bits, time.perf_counter() - t0, label=" (all)")
            bad += _print_bugs(res)
    print(f"{bad} counterexample(s)")
    return 1 if bad else 0


def _row(res, width: int, seconds: float, label: str = "") -> None:
    print(f"{res.op + label:10} {width:>5} {res.cases:>7} {res.skipped_trivial:>8} {res.unknown:>8} "
          f"{len(res.counterexamples or []):>5} {seconds:>8.2f}", flush=True)


def _print_bugs(res) -> int:
    for cx in (res.counterexamples or [])[:10]:
        print(f"  COUNTEREXAMPLE {cx}")
    return len(res.counterexamples or [])
