"""`bpfcheck bench run`: instructions per second of the execution engines.

Four workloads: a loop summing 1..N, FNV-1a over a 1,500-byte packet (XDP, bounds-checked
byte loads), a multiply/divide-heavy loop and a stack-heavy loop (stores and loads of the
512-byte frame). Each is run `--repeat` times on one machine and the best CPU time (process time, robust when the machine is busy) is reported as
instructions per second and nanoseconds per instruction. Engines come from
`runtime.engines.ENGINES` (`--engine`, default: every registered engine).
"""
from __future__ import annotations

import argparse
import json
import time

SUM_LOOP = """
mov %r0, 0
mov %r1, {n}
loop:
add %r0, %r1
sub %r1, 1
jne %r1, 0, loop
exit
"""

# FNV-1a 64 over the packet: h = (h ^ byte) * prime, with a bounds check per byte.
FNV = """
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
lddw %r0, 0xcbf29ce484222325
lddw %r5, 0x100000001b3
loop:
mov %r4, %r2
add %r4, 1
jgt %r4, %r3, done
ldxb %r4, [%r2+0]
xor %r0, %r4
mul %r0, %r5
add %r2, 1
ja loop
done:
exit
"""

MULDIV = """
mov %r0, 1
mov %r1, {n}
loop:
mul %r0, 1103515245
add %r0, 1442695
mov %r2, %r0
div %r2, 7
mod %r2, 1000003
sdiv %r2, -3
xor %r0, %r2
sub %r1, 1
jne %r1, 0, loop
exit
"""

STACK = """
mov %r0, 0
mov %r1, {n}
loop:
stxdw [%r10-8], %r1
stxw [%r10-16], %r0
ldxdw %r2, [%r10-8]
ldxw %r3, [%r10-16]
add %r3, %r2
stxdw [%r10-24], %r3
ldxdw %r0, [%r10-24]
sub %r1, 1
jne %r1, 0, loop
exit
"""


def register(sub) -> None:
    parser = sub.add_parser("run", help="instructions per second of the interpreter / JITs")
    parser.add_argument("--engine", action="append",
                        help="engine to measure (repeatable; default: all registered)")
    parser.add_argument("--n", type=int, default=100_000,
                        help="loop iterations of the loop workloads (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run_bench)


def workloads(n: int) -> list[tuple[str, str, bytes | None]]:
    """(name, ubpf assembly, packet or None) of each workload."""
    packet = bytes((i * 7 + 3) & 0xFF for i in range(1500))
    return [(f"sum 1..{n}", SUM_LOOP.format(n=n), None),
            ("fnv1a 1500-byte packet", FNV, packet),
            (f"mul/div loop x{n}", MULDIV.format(n=n), None),
            (f"stack loop x{n}", STACK.format(n=n), None)]


def measure(engine, name: str, text: str, packet: bytes | None, repeat: int) -> dict:
    """Best-of-`repeat` timing of one workload on one engine."""
    from cfg.asm import assemble
    from cfg.program import Program
    from runtime import context

    program = Program(assemble(text, "ubpf"), name=name.split()[0], type="xdp")
    built = time.process_time()
    machine = engine(program)
    built = time.process_time() - built   # compilation (the JITs, the AOT engine's cc run)
    ctx = context.xdp(packet) if packet is not None else context.Context("none")
    best, result = None, None
    for _ in range(max(1, repeat)):
        start = time.process_time()  # CPU time: robust on a shared, busy machine
        result = machine.run(ctx, budget=1 << 40)
        elapsed = time.process_time() - start
        best = elapsed if best is None else min(best, elapsed)
    if result.error:
        raise RuntimeError(f"benchmark {name} failed: {result.error}")
    steps = result.steps
    if steps < 0:  # native engines do not count: the interpreter counts the same run
        from runtime.vm import Machine
        steps = Machine(program).run(ctx, budget=1 << 40).steps
    return {"workload": name, "instructions": steps, "seconds": best,
            "insns_per_second": steps / best, "ns_per_insn": best / steps * 1e9,
            "r0": result.r0, "compile_seconds": built}


def per_call(engine, calls: int) -> float:
    """Seconds per call of a two-instruction XDP program on a 64-byte packet (the cost of
    entering and leaving the engine, context set-up included)."""
    from cfg.asm import assemble
    from cfg.program import Program
    from runtime import context

    program = Program(assemble("mov %r0, 2\nexit", "ubpf"), name="per_call", type="xdp")
    machine = engine(program)
    ctx = context.xdp(bytes(64))
    machine.run(ctx)
    start = time.process_time()
    for _ in range(calls):
        machine.run(ctx)
    return (time.process_time() - start) / calls


def run_bench(args: argparse.Namespace) -> int:
    from cfg.errors import BpfcheckError
    from runtime.engines import ENGINES

    names = args.engine or sorted(ENGINES)
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise BpfcheckError(f"unknown engine {unknown[0]!r} (known: {', '.join(sorted(ENGINES))})")
    rows = []
    for engine_name in names:
        for name, text, packet in workloads(args.n):
            row = measure(ENGINES[engine_name], name, text, packet, args.repeat)
            row["engine"] = engine_name
            rows.append(row)
            if args.format == "text":
                print(f"{engine_name:8} {name:26} {row['instructions']:>10} insns "
                      f"{row['seconds'] * 1e3:9.1f} ms {row['insns_per_second'] / 1e6:7.2f} M insn/s "
                      f"{row['ns_per_insn']:7.1f} ns/insn", flush=True)
        seconds = per_call(ENGINES[engine_name], 2000)
        rows.append({"engine": engine_name, "workload": "per call", "seconds": seconds,
                     "us_per_call": seconds * 1e6})
        if args.format == "text":
            print(f"{engine_name:8} {'per call (2-insn XDP)':26} {seconds * 1e6:10.1f} us per call",
                  flush=True)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    return 0
