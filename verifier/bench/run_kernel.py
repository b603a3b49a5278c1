"""The Linux kernel's x86-64 JIT (a JIT written in C) on the workloads of `bpfcheck bench run`.

Each workload is loaded as an XDP program through bpf(2) and run by BPF_PROG_TEST_RUN with
`repeat` repetitions; the kernel reports the mean nanoseconds per repetition, and the best of
several calls is kept (the kernel's timer stops while the task is rescheduled). The kernel
verifier walks bounded loops iteration by iteration (1 M processed instructions, 8,192 pending
branches), so its loop count is smaller than the other engines'; executed instructions are
counted by our interpreter on the identical program and input, so ns per instruction compares.

Nothing is subtracted silently: `ns_per_insn` includes the per-repetition cost of the test-run
loop, which is measured on its own (the program `mov r0, 2; exit` with the same input and
repeat, `overhead_ns_per_run`); `ns_per_insn_net` is the figure with it subtracted. r0 is
checked against our interpreter's, both halves (the kernel returns a u32, so a second program
returns r0 >> 32): a timing of a program that computes something else is refused.
"""
from __future__ import annotations

import os
import time

TARGET_NS = 20_000_000      # one test-run call lasts about this long
MAX_REPEAT = 1_000_000
KERNEL_MAX_N = 20_000       # loop count the kernel verifier accepts for every workload
NOP = "mov %r0, 2\nexit"
SYSCALL_CALLS = 200


def usable() -> tuple[bool, str]:
    """(True, "") when the kernel can load, test-run and JIT-compile programs, else why not."""
    from runtime import kernel

    ok, why = kernel.available()
    if ok:
        ok, why = kernel.jit_enabled()
    return ok, why


def _load(text_or_insns, name: str) -> int:
    from cfg.asm import assemble
    from cfg.errors import BpfcheckError
    from runtime import kernel

    insns = assemble(text_or_insns, "ubpf") if isinstance(text_or_insns, str) else text_or_insns
    try:
        fd, _log = kernel.load_insns(insns, "xdp", name, log_level=0)
    except kernel.KernelError as exc:
        raise BpfcheckError(f"the kernel refuses the {name} workload ({exc}); a smaller "
                            f"--kernel-n keeps its verifier within its limits") from None
    return fd


def time_fd(fd: int, data: bytes, runs: int, repeat: int | None = None) -> tuple[int, int]:
    """(best mean ns per repetition over `runs` test-run calls, repeat); `repeat` is chosen
    so that one call lasts about TARGET_NS when not given."""
    from runtime import kernel

    if repeat is None:
        probe = kernel.test_run(fd, data, repeat=10).duration_ns
        repeat = max(1, min(MAX_REPEAT, TARGET_NS // max(1, probe)))
    best = min(kernel.test_run(fd, data, repeat=repeat).duration_ns
               for _ in range(max(1, runs)))
    return best, repeat


def kernel_r0(insns, data: bytes, name: str) -> int:
    """The 64-bit r0 of one kernel run of `insns` on packet `data` (two programs: low and
    high half)."""
    from runtime import kernel

    halves = []
    for program in (insns, kernel.high_half(list(insns))):
        fd = _load(program, name)
        try:
            halves.append(kernel.test_run(fd, data).retval)
        finally:
            os.close(fd)
    return halves[0] | (halves[1] << 32)


def measure_kernel(name: str, text: str, packet: bytes | None, runs: int) -> dict:
    """One workload in the kernel: a row with the fields of `run.measure`, plus `repeat`,
    `overhead_ns_per_run` and `ns_per_insn_net`."""
    from cfg.asm import assemble
    from cfg.errors import BpfcheckError
    from cfg.program import Program
    from runtime import context
    from runtime.vm import Machine

    key = name.split()[0]
    insns = assemble(text, "ubpf")
    data = packet if packet is not None else bytes(64)
    start = time.perf_counter()
    fd = _load(insns, key)
    loaded = time.perf_counter() - start   # the kernel verifier and JIT
    try:
        ns, repeat = time_fd(fd, data, runs)
    finally:
        os.close(fd)
    nop = _load(NOP, "nop")
    try:
        overhead, _ = time_fd(nop, data, runs, repeat)
    finally:
        os.close(nop)
    r0 = kernel_r0(insns, data, key)
    ours = Machine(Program(insns, name=key, type="xdp")).run(context.xdp(data), budget=1 << 40)
    if ours.error or ours.r0 != r0:
        raise BpfcheckError(f"the kernel's r0 for {name} ({r0:#x}) is not our interpreter's "
                            f"({ours.r0:#x}, {ours.error}): the timing would not compare")
    steps = ours.steps
    return {"workload": name, "key": key, "instructions": steps, "seconds": ns / 1e9,
            "insns_per_second": steps / (max(ns, 1) / 1e9), "ns_per_insn": ns / steps,
            "r0": r0, "compile_seconds": loaded, "repeat": repeat,
            "overhead_ns_per_run": overhead,
            "ns_per_insn_net": max(ns - overhead, 0) / steps}


def kernel_per_call(runs: int) -> dict:
    """The in-kernel cost of one test-run repetition of the 2-instruction program on a 64-byte
    packet (`us_per_call`: the syscall is paid once per `repeat` repetitions and is not
    included) and, apart, one whole BPF_PROG_TEST_RUN call from Python (`us_per_syscall`,
    wall time: the kernel's time is not our process's CPU time)."""
    from runtime import kernel

    fd = _load(NOP, "nop")
    try:
        ns, repeat = time_fd(fd, bytes(64), runs)
        syscall = None
        for _ in range(max(1, runs)):
            start = time.perf_counter()
            for _ in range(SYSCALL_CALLS):
                kernel.test_run(fd, bytes(64))
            elapsed = (time.perf_counter() - start) / SYSCALL_CALLS
            syscall = elapsed if syscall is None else min(syscall, elapsed)
    finally:
        os.close(fd)
    return {"engine": "kernel", "workload": "per call", "seconds": ns / 1e9,
            "us_per_call": ns / 1e3, "repeat": repeat, "us_per_syscall": syscall * 1e6}


def ratios(rows: list[dict], jit_overheads: dict[str, float]) -> list[dict]:
    """jit/kernel per workload: ns per instruction of our native JIT over the kernel's, as
    measured (`ratio`) and with each side's per-run overhead on the same input subtracted
    (`ratio_net`; `jit_overheads` maps a workload key to the JIT's seconds per run of the
    2-instruction program on that workload's input)."""
    jit = {r["key"]: r for r in rows if r.get("engine") == "jit" and "key" in r}
    out = []
    for row in rows:
        if row.get("engine") != "kernel" or row.get("key") not in jit:
            continue
        ours = jit[row["key"]]
        net = max(ours["seconds"] - jit_overheads.get(row["key"], 0.0), 0.0)
        net_ns = net / ours["instructions"] * 1e9
        out.append({"engine": "jit/kernel", "workload": row["key"],
                    "ratio": ours["ns_per_insn"] / row["ns_per_insn"],
                    "ratio_net": (net_ns / row["ns_per_insn_net"]
                                  if row["ns_per_insn_net"] > 0 else None),
                    "jit_overhead_seconds": jit_overheads.get(row["key"], 0.0),
                    "kernel_overhead_ns": row["overhead_ns_per_run"]})
    return out
