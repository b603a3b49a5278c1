"""`bpfcheck bench run`: instructions per second of the execution engines.

Four workloads: a loop summing 1..N, FNV-1a over a 1,500-byte packet (XDP, bounds-checked
byte loads), a multiply/divide-heavy loop and a stack-heavy loop (stores and loads of the
512-byte frame). Each is timed `--repeat` times on one machine (a run shorter than 2 ms is
timed over back-to-back runs) and the best CPU time per run (process time, robust when the
machine is busy) is reported as instructions per second and nanoseconds per instruction.
Engines come from `runtime.engines.ENGINES` (`--engine`, default: every registered engine);
`--kernel` (or `--engine kernel`) adds the Linux kernel's JIT (`run_kernel.py`) and the
jit/kernel ratios.
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

# FNV-1a 64 over the packet: h = (h ^ byte) * prime, with a bounds check per byte. The loop
# also stops after 4096 bytes (more than an XDP test packet holds): without a bound the Linux
# verifier, which walks the loop byte by byte, gives up (8,192 pending branches), and the
# workload is the same eBPF on every engine, the kernel included.
FNV = """
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
lddw %r0, 0xcbf29ce484222325
lddw %r5, 0x100000001b3
mov %r6, 4096
loop:
mov %r4, %r2
add %r4, 1
jgt %r4, %r3, done
ldxb %r4, [%r2+0]
xor %r0, %r4
mul %r0, %r5
add %r2, 1
sub %r6, 1
jne %r6, 0, loop
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


MIN_SAMPLE_SECONDS = 0.002
MAX_RUNS_PER_SAMPLE = 10_000


def register(sub) -> None:
    parser = sub.add_parser("run", help="instructions per second of the interpreter / JITs")
    parser.add_argument("--engine", action="append",
                        help="engine to measure (repeatable; default: all registered; "
                             "`kernel`: the Linux kernel's JIT, see --kernel)")
    parser.add_argument("--n", type=int, default=100_000,
                        help="loop iterations of the loop workloads (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--kernel", action="store_true",
                        help="also run the workloads in the Linux kernel with its JIT "
                             "(BPF_PROG_TEST_RUN; root) and print jit/kernel ratios")
    parser.add_argument("--kernel-n", type=int, default=None,
                        help="loop iterations in the kernel, whose verifier walks every "
                             "iteration (default: --n, at most 20000)")
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
    start = time.process_time()
    result = machine.run(ctx, budget=1 << 40)
    first = time.process_time() - start
    # a short run is timed over `runs` back-to-back runs, so that a sample is not dominated
    # by the clock's granularity or one cold start (as the kernel's test-run `repeat`)
    runs = max(1, min(MAX_RUNS_PER_SAMPLE, int(MIN_SAMPLE_SECONDS / max(first, 1e-9))))
    best = None
    for _ in range(max(1, repeat)):
        start = time.process_time()  # CPU time: robust on a shared, busy machine
        for _ in range(runs):
            result = machine.run(ctx, budget=1 << 40)
        elapsed = (time.process_time() - start) / runs
        best = elapsed if best is None else min(best, elapsed)
    if result.error:
        raise RuntimeError(f"benchmark {name} failed: {result.error}")
    steps = result.steps
    if steps < 0:  # native engines do not count: the interpreter counts the same run
        from runtime.vm import Machine
        steps = Machine(program).run(ctx, budget=1 << 40).steps
    return {"workload": name, "key": name.split()[0], "instructions": steps, "seconds": best,
            "insns_per_second": steps / best, "ns_per_insn": best / steps * 1e9,
            "r0": result.r0, "compile_seconds": built, "runs_per_sample": runs}


def per_call(engine, calls: int, ctx=None) -> float:
    """Seconds per call of a two-instruction XDP program on `ctx` (default: a 64-byte packet):
    the cost of entering and leaving the engine, context set-up included."""
    from cfg.asm import assemble
    from cfg.program import Program
    from runtime import context

    program = Program(assemble("mov %r0, 2\nexit", "ubpf"), name="per_call", type="xdp")
    machine = engine(program)
    ctx = ctx if ctx is not None else context.xdp(bytes(64))
    machine.run(ctx)
    start = time.process_time()
    for _ in range(calls):
        machine.run(ctx)
    return (time.process_time() - start) / calls


def _print_row(row: dict) -> None:
    if row["workload"] == "per call":
        extra = (f" in the kernel's test-run loop; {row['us_per_syscall']:.3f} us per "
                 f"BPF_PROG_TEST_RUN syscall from Python" if "us_per_syscall" in row else "")
        print(f"{row['engine']:10} {'per call (2-insn XDP)':26} {row['us_per_call']:10.3f} us "
              f"per call{extra}", flush=True)
        return
    line = (f"{row['engine']:10} {row['workload']:26} {row['instructions']:>10} insns "
            f"{row['seconds'] * 1e3:10.3f} ms {row['insns_per_second'] / 1e6:9.2f} M insn/s "
            f"{row['ns_per_insn']:8.3f} ns/insn")
    if "overhead_ns_per_run" in row:
        line += (f" (x{row['repeat']}; includes {row['overhead_ns_per_run']} ns/run "
                 f"test-run overhead; net {row['ns_per_insn_net']:.3f})")
    print(line, flush=True)


def _kernel_rows(args: argparse.Namespace, only: bool, out: list[dict]) -> bool:
    """Append the kernel's rows to `out`; False (after one line saying why) when the kernel
    cannot run them, an error when the kernel was the only engine asked for."""
    import sys

    from cfg.errors import BpfcheckError
    from verifier.bench import run_kernel

    ok, why = run_kernel.usable()
    if not ok:
        if only:
            raise BpfcheckError(f"the kernel cannot run the benchmark: {why}")
        print(f"kernel     not measured: {why}",
              file=sys.stdout if args.format == "text" else sys.stderr, flush=True)
        out.append({"engine": "kernel", "workload": None, "unavailable": why})
        return False
    n = args.kernel_n if args.kernel_n is not None else min(args.n, run_kernel.KERNEL_MAX_N)
    for name, text, packet in workloads(n):
        row = run_kernel.measure_kernel(name, text, packet, max(3, args.repeat))
        row["engine"] = "kernel"
        out.append(row)
        if args.format == "text":
            _print_row(row)
    out.append(run_kernel.kernel_per_call(max(3, args.repeat)))
    if args.format == "text":
        _print_row(out[-1])
    return True


def _jit_overheads(engine, n: int) -> dict[str, float]:
    """The JIT's seconds per run of the 2-instruction program on each workload's input."""
    from runtime import context

    return {name.split()[0]: per_call(engine, 200, context.xdp(packet) if packet is not None
                                      else context.Context("none"))
            for name, _text, packet in workloads(n)}


def run_bench(args: argparse.Namespace) -> int:
    from cfg.errors import BpfcheckError
    from runtime.engines import ENGINES

    names = args.engine or sorted(ENGINES)
    with_kernel = args.kernel or "kernel" in names
    names = [n for n in names if n != "kernel"]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise BpfcheckError(f"unknown engine {unknown[0]!r} (known: "
                            f"{', '.join(sorted(ENGINES))}, kernel)")
    rows = []
    for engine_name in names:
        for name, text, packet in workloads(args.n):
            row = measure(ENGINES[engine_name], name, text, packet, args.repeat)
            row["engine"] = engine_name
            rows.append(row)
            if args.format == "text":
                _print_row(row)
        seconds = per_call(ENGINES[engine_name], 2000)
        rows.append({"engine": engine_name, "workload": "per call", "seconds": seconds,
                     "us_per_call": seconds * 1e6})
        if args.format == "text":
            _print_row(rows[-1])
    if with_kernel and _kernel_rows(args, not names, rows) and "jit" in names:
        from verifier.bench import run_kernel

        for ratio in run_kernel.ratios(rows, _jit_overheads(ENGINES["jit"], args.n)):
            rows.append(ratio)
            if args.format == "text":
                net = ratio["ratio_net"]
                print(f"{'jit/kernel':10} {ratio['workload']:26} {ratio['ratio']:8.2f} x "
                      f"(net of per-run overheads: "
                      f"{'n/a' if net is None else f'{net:.2f} x'})", flush=True)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    return 0
