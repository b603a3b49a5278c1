"""`bpfcheck bench verify [PATHS] [--domains zone,interval,tnum-interval] [--repeat K]`: the
research harness on a corpus. Every (program, domain, repeat) runs in its own worker process
with its own time and memory limits, on this machine (`--executor local -j N`) or on a Dask
cluster (`--executor dask --scheduler ADDRESS`); rows stream into `--output` (CSV or Parquet)
as they finish and `--resume` skips the tasks already there. Prints a per-program table."""
from __future__ import annotations

import os

from verifier.research.harness import objects  # noqa: F401  (kept: other benchmarks import it)


def register(sub) -> None:
    parser = sub.add_parser("verify", help="run domains x programs (time, memory, precision)")
    parser.add_argument("paths", nargs="*", default=["corpus"],
                        help="objects or directories (searched for build/*.o and *.o)")
    parser.add_argument("--domains", default="zone,interval", help="comma-separated domains")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every (program, domain)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786)")
    parser.add_argument("-j", "--workers", type=int, default=os.cpu_count() or 1,
                        help="local worker processes at a time (default: CPU count)")
    parser.add_argument("-o", "--output", default=None,
                        help="results file, .parquet or .csv (rows are written as tasks finish)")
    parser.add_argument("--resume", action="store_true", help="skip tasks already in --output")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per task")
    parser.add_argument("--memory-limit", type=int, default=2048, help="MiB per task (RLIMIT_AS)")
    parser.add_argument("--termination", action="store_true")
    parser.add_argument("--no-memory", action="store_true", help="(ignored; kept for scripts)")
    parser.add_argument("--quiet", action="store_true", help="no per-task progress on stderr")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run_bench)


def run_bench(args) -> int:
    import json
    import sys

    from cfg.errors import BpfcheckError
    from verifier.research.harness import run_harness
    opt = lambda name, default: getattr(args, name, default)  # noqa: E731  (older callers)
    domains = [d.strip() for d in args.domains.split(",") if d.strip()]
    if not domains:
        raise BpfcheckError("--domains is empty")
    repeat, workers, output = opt("repeat", 1), opt("workers", os.cpu_count() or 1), opt("output", None)
    if repeat < 1 or workers < 1:
        raise BpfcheckError("--repeat and --workers must be >= 1")
    if opt("resume", False) and not output:
        raise BpfcheckError("--resume needs --output")

    def progress(row, i, n):
        if not opt("quiet", True):
            print(f"[{i}/{n}] {row['object']}:{row['function']} {row['domain']} "
                  f"{row['status']} {row.get('verdict') or ''}", file=sys.stderr, flush=True)

    df = run_harness(args.paths, domains, repeat=repeat, output=output,
                     resume=opt("resume", False), executor=opt("executor", "local"),
                     workers=workers, scheduler=opt("scheduler", None),
                     time_limit=opt("time_limit", 60.0), memory_mb=opt("memory_limit", 2048),
                     termination=args.termination, progress=progress)
    if args.format == "json":
        rows = json.loads(df.to_json(orient="records"))
        print(json.dumps({"domains": domains, "wall_s": round(df.attrs["wall_s"], 3),
                          "programs": programs(rows, domains), "rows": rows}, indent=2))
        return 0
    print(table(df, domains))
    print(f"{df.attrs['ran']} task(s) run in {df.attrs['wall_s']:.2f} s"
          + (f"; results in {output}" if output else ""))
    return 0


def programs(rows: list[dict], domains: list[str]) -> list[dict]:
    """One entry per program: `{object, function, instructions, <domain>: {ms, peak_kib, ok,
    iterations, status}}` (first repeat)."""
    out: dict = {}
    for r in rows:
        if r["repeat"] not in (0, None):
            continue
        p = out.setdefault((r["object"], r["function"]), {
            "object": r["object"], "function": r["function"], "instructions": r["instructions"] or 0})
        p[r["domain"]] = {"ms": r["time_ms"], "peak_kib": r["peak_kib"],
                          "ok": r["verdict"] == "accept", "iterations": r["iterations"],
                          "status": r["status"]}
    return [out[k] for k in sorted(out)]


def table(df, domains: list[str]) -> str:
    """Per program: instructions, then per domain the median time (ms), memory and verdict."""
    if not len(df):
        return "no results"
    g = df.groupby(["object", "function", "domain"], sort=True)
    med = g.agg(ms=("time_ms", "median"), kib=("peak_kib", "max"), verdict=("verdict", "first"),
                status=("status", "first"), insns=("instructions", "max")).reset_index()
    head = f"{'program':44s} {'insns':>6s}" + "".join(
        f" {d[:10] + ' ms':>13s} {'KiB':>8s} {'ok':>3s}" for d in domains)
    lines = [head]
    totals = {d: [0.0, 0] for d in domains}
    for (obj, fn), sub in med.groupby(["object", "function"], sort=True):
        by = {r.domain: r for r in sub.itertuples()}
        insns = int(sub["insns"].max()) if sub["insns"].notna().any() else 0
        line = f"{(obj + ':' + fn)[:44]:44s} {insns:6d}"
        for d in domains:
            r = by.get(d)
            if r is None:
                line += f" {'-':>13s} {'-':>8s} {'-':>3s}"
                continue
            ok = {"accept": "y", "reject": "n"}.get(r.verdict, r.status[:3])
            ms = r.ms if r.ms == r.ms else 0.0
            kib = int(r.kib) if r.kib == r.kib else 0
            line += f" {ms:13.1f} {kib:8d} {ok:>3s}"
            totals[d][0] += ms
            totals[d][1] += r.verdict == "accept"
        lines.append(line)
    line = f"{'TOTAL':44s} {'':6s}"
    for d in domains:
        line += f" {totals[d][0]:13.1f} {'':8s} {totals[d][1]:3d}"
    lines.append(line)
    return "\n".join(lines)
