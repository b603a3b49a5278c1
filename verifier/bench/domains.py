"""`bpfcheck bench domains`: microseconds per zone operation on dense and sparse states.

Sparse state: every variable bounded in [0, 1000] plus about one random difference
constraint per two variables. Dense state: a chain `v0 <= v1 <= ... <= vn-1` without bounds,
whose closure holds every pairwise difference (n^2/2 edges). Each in-place operation runs on a
fresh copy, made outside the timed region.
"""
from __future__ import annotations

import random
import time
from typing import Callable


def register(sub) -> None:
    """Add `bench domains`."""
    p = sub.add_parser("domains", help="zone join/meet/widen/closure/assign, microseconds per op")
    p.add_argument("--vars", default="50,100,200", help="comma-separated variable counts (default 50,100,200)")
    p.add_argument("--domain", default="zone", help="registered domain to measure (default zone)")
    p.add_argument("--min-time", type=float, default=0.2, help="seconds spent per measurement (default 0.2)")
    p.set_defaults(handler=run)


def _state(cls, n: int, dense: bool, seed: int):
    from domains.bounds import Interval
    from domains.linear import LinearExpression as E
    from domains.linear import le

    d = cls.top()
    names = [f"v{i}" for i in range(n)]
    if dense:
        for a, b in zip(names, names[1:]):
            d.add_constraint(le(a, b))
    else:
        rng = random.Random(seed)
        for v in names:
            d.set_interval(v, Interval(0, 1000))
        for _ in range(n // 2):
            a, b = rng.sample(names, 2)
            d.add_constraint(le(E.var(a) - b, rng.randint(0, 20)))
    return d, names


def _time(fn: Callable[[], object], min_time: float) -> float:
    """Mean seconds per call of fn, repeated for at least min_time."""
    reps, total = 0, 0.0
    while total < min_time or reps < 3:
        t0 = time.perf_counter()
        fn()
        total += time.perf_counter() - t0
        reps += 1
    return total / reps


def measure(cls, n: int, dense: bool, min_time: float = 0.2) -> dict[str, float]:
    """Microseconds per operation for one size and shape."""
    from domains.linear import LinearExpression as E
    from domains.linear import le

    a, names = _state(cls, n, dense, seed=n)
    b = a.copy()
    for v in names[::7]:
        b.assign(v, E.var(v) + 1)  # a different but overlapping state
    x, y, z = names[n // 3], names[n // 2], names[(2 * n) // 3]
    joined = a.join(b)
    copy_t = _time(a.copy, min_time)

    def in_place(op: Callable[[object], None]) -> float:
        """Time op alone on fresh copies made (untimed) in batches."""
        reps, total = 0, 0.0
        while total < min_time or reps < 3:
            pool = [a.copy() for _ in range(8)]
            for d in pool:
                t0 = time.perf_counter()
                op(d)
                total += time.perf_counter() - t0
                reps += 1
        return total / reps

    res = {
        "copy": copy_t,
        "join": _time(lambda: a.join(b), min_time),
        "meet": _time(lambda: a.meet(b), min_time),
        "widen": _time(lambda: a.widen(b, (0, 1000)), min_time),
        "leq (true)": _time(lambda: a.leq(joined), min_time),
        "add_constraint": in_place(lambda d: d.add_constraint(le(E.var(x) - y, -1))),
        "assign x:=y+c": in_place(lambda d: d.assign(x, E.var(y) + 3)),
        "assign x:=x+c": in_place(lambda d: d.assign(x, E.var(x) + 3)),
        "assign x:=y+z": in_place(lambda d: d.assign(x, E.var(y) + z)),
        "forget": in_place(lambda d: d.forget([x])),
    }
    return {k: v * 1e6 for k, v in res.items()}


def run(args) -> int:
    """Print a table: operation x (shape, size) in microseconds."""
    from cfg.errors import BpfcheckError
    from domains.registry import get_domain

    try:
        sizes = [int(s) for s in args.vars.split(",") if s.strip()]
        cls = get_domain(args.domain)
    except ValueError as exc:
        raise BpfcheckError(f"bench domains: {exc}") from None
    if not sizes or min(sizes) < 4:
        raise BpfcheckError("bench domains: --vars needs sizes >= 4")
    cols = [(shape, n) for shape in ("sparse", "dense") for n in sizes]
    table = {c: measure(cls, c[1], c[0] == "dense", args.min_time) for c in cols}
    ops = list(next(iter(table.values())))
    head = f"{args.domain + ' (us/op)':18}" + "".join(f"{s + ' ' + str(n):>13}" for s, n in cols)
    print(head)
    print("-" * len(head))
    for op in ops:
        print(f"{op:18}" + "".join(f"{table[c][op]:>13.1f}" for c in cols))
    return 0
