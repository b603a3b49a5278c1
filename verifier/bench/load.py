"""`bpfcheck bench load`: time ELF loading (container, BTF, BTF.ext, maps, relocations, decode)
on real objects; reports the best of N runs per object and the overall slots per second."""
from __future__ import annotations

import glob
import time


def register(sub) -> None:
    parser = sub.add_parser("load", help="time loading eBPF ELF objects")
    parser.add_argument("files", nargs="*", help="ELF objects (default: corpus/build/*.o)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--top", type=int, default=5, help="list the N slowest objects")
    parser.set_defaults(handler=run_bench)


def run_bench(args) -> int:
    from cfg.elf import load_object

    files = args.files or sorted(glob.glob("corpus/build/*.o"))
    if not files:
        print("no objects to load (give files or build the corpus)")
        return 2
    rows = []
    for path in files:
        with open(path, "rb") as fh:
            data = fh.read()
        best = float("inf")
        slots = 0
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            obj = load_object(path, data)
            best = min(best, time.perf_counter() - start)
            slots = sum(p.end_pc for p in obj.programs)
        rows.append((best, path, slots, len(data)))
    total = sum(r[0] for r in rows)
    slots = sum(r[2] for r in rows)
    size = sum(r[3] for r in rows)
    print(f"loaded {len(rows)} objects ({size / 1024:.0f} KiB, {slots} program slots) in "
          f"{total * 1000:.1f} ms: {slots / total:.0f} slots/s, {total / len(rows) * 1000:.2f} "
          f"ms/object")
    for best, path, n, _ in sorted(rows, reverse=True)[: args.top]:
        print(f"  {best * 1000:8.2f} ms  {n:6d} slots  {path}")
    return 0
