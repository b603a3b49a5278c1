"""`bpfcheck bench verify [corpus/] [--domains zone,interval]`: time and peak memory of the
verifier per program and in total, for each numeric domain."""
from __future__ import annotations

import glob
import os
import time
import tracemalloc


def register(sub) -> None:
    parser = sub.add_parser("verify", help="time and peak memory of the verifier on a corpus")
    parser.add_argument("paths", nargs="*", default=["corpus"],
                        help="objects or directories (searched for build/*.o and *.o)")
    parser.add_argument("--domains", default="zone,interval", help="comma-separated domains")
    parser.add_argument("--termination", action="store_true")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip tracemalloc (it slows the analysis down)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run_bench)


def objects(paths: list[str]) -> list[str]:
    """The ELF objects named by `paths` (directories: their build/*.o, or *.o)."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(glob.glob(os.path.join(p, "build", "*.o"))) or \
                sorted(glob.glob(os.path.join(p, "*.o")))
            out.extend(found)
        else:
            out.append(p)
    return out


def measure(prog, domain: str, termination: bool, memory: bool) -> dict:
    """One analysis: wall time (ms), peak traced memory (KiB), verdict."""
    from verifier.analyze import Options, analyze
    options = Options(termination=termination, collect_invariants=False)
    if memory:
        tracemalloc.start()
    t = time.perf_counter()
    rep = analyze(prog, options, domain=domain)
    ms = (time.perf_counter() - t) * 1000
    peak = 0
    if memory:
        peak = tracemalloc.get_traced_memory()[1] // 1024
        tracemalloc.stop()
    return {"ms": round(ms, 1), "peak_kib": peak, "ok": rep.ok,
            "iterations": rep.stats.get("iterations", 0)}


def _warm_up(domains: list[str]) -> None:
    """Import and build everything once (platform tables, domains) outside the timings."""
    from cfg.asm import assemble
    from cfg.program import Program
    from verifier.analyze import analyze
    for d in domains:
        analyze(Program(assemble("r0 = 0\nexit"), type="xdp"), domain=d)


def run_bench(args) -> int:
    import json

    from cfg.elf import load_object
    domains = [d.strip() for d in args.domains.split(",") if d.strip()]
    _warm_up(domains)
    rows = []
    for path in objects(args.paths):
        obj = load_object(path)
        for prog in obj.programs:
            row = {"object": os.path.basename(path), "function": prog.name,
                   "instructions": len(prog.insns)}
            for d in domains:
                row[d] = measure(prog, d, args.termination, not args.no_memory)
            rows.append(row)
    if args.format == "json":
        print(json.dumps({"domains": domains, "programs": rows}, indent=2))
        return 0
    head = f"{'program':44s} {'insns':>6s}" + "".join(
        f" {d + ' ms':>12s} {d + ' KiB':>12s} {'ok':>3s}" for d in domains)
    print(head)
    for r in rows:
        line = f"{(r['object'] + ':' + r['function'])[:44]:44s} {r['instructions']:6d}"
        for d in domains:
            m = r[d]
            line += f" {m['ms']:12.1f} {m['peak_kib']:12d} {'y' if m['ok'] else 'n':>3s}"
        print(line)
    line = f"{'TOTAL (' + str(len(rows)) + ' programs)':44s} {sum(r['instructions'] for r in rows):6d}"
    for d in domains:
        line += f" {sum(r[d]['ms'] for r in rows):12.1f} {max((r[d]['peak_kib'] for r in rows), default=0):12d}" \
                f" {sum(r[d]['ok'] for r in rows):3d}"
    print(line)
    return 0
