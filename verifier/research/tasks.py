"""Tasks of the harness: one (program, domain, repeat) each, run in a fresh worker process with
its own time limit (the parent kills it) and memory limit (RLIMIT_AS set in the worker)."""
from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass

__all__ = ["Task", "make_tasks", "run_task", "execute", "COLUMNS"]

# the columns of a result row, in file order
COLUMNS = ("key", "object", "section", "function", "domain", "repeat", "status", "reason",
           "verdict", "errors", "error_kinds", "instructions", "iterations", "widenings",
           "constraints", "invariant_size", "time_ms", "peak_kib", "mem_kib", "worker")


@dataclass(frozen=True)
class Task:
    """One analysis to run: the program (object path + function), the domain, which repeat, and
    the limits of its worker."""

    object: str
    function: str
    section: str
    domain: str
    repeat: int = 0
    time_limit: float = 60.0
    memory_mb: int = 2048  # how much the worker may grow (address space and data), MiB
    termination: bool = False
    instructions: int = 0  # the program's size: executors start big tasks first

    @property
    def key(self) -> str:
        """Identifies the task across runs (`--resume` skips keys already in the file)."""
        return f"{self.object}::{self.function}::{self.domain}::{self.repeat}"


def make_tasks(objects: list[str], domains: list[str], repeat: int = 1, time_limit: float = 60.0,
               memory_mb: int = 2048, termination: bool = False) -> list[Task]:
    """Every program of every object x every domain x every repeat, program-major order."""
    tasks = []
    for path in objects:
        obj = _load(path)
        for prog in obj.programs:
            for k in range(repeat):
                for d in domains:
                    tasks.append(Task(path, prog.name, prog.section or "", d, k, time_limit,
                                      memory_mb, termination, len(prog.insns)))
    return tasks


_OBJECTS: dict = {}  # objects loaded in this process; forked workers inherit them


def _load(path: str):
    from cfg.elf import load_object
    if path not in _OBJECTS:
        _OBJECTS[path] = load_object(path)
    return _OBJECTS[path]


def _base_row(task: Task) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(key=task.key, object=os.path.basename(task.object), section=task.section,
               function=task.function, domain=task.domain, repeat=task.repeat,
               worker=f"{socket.gethostname()}:{os.getpid()}")
    return row


def run_task(task: Task) -> dict:
    """Run one analysis in this process and return its result row (status "ok" or "error")."""
    import resource

    from verifier.analyze import Options, analyze
    row = _base_row(task)
    try:
        prog = _load(task.object).program(function=task.function)
        row["instructions"] = len(prog.insns)
        rss0 = _vm_kib("VmRSS")
        t0 = time.perf_counter()
        rep = analyze(prog, Options(termination=task.termination, collect_invariants=True),
                      domain=task.domain)
        row["time_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        row["peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # the worker's peak RSS
        row["mem_kib"] = max(0, _vm_kib("VmHWM") - rss0)  # what the analysis added to it
        states = rep._states.values()
        row.update(status="ok", reason="", verdict="accept" if rep.ok else "reject",
                   errors=len(rep.errors),
                   error_kinds=",".join(sorted({e.kind for e in rep.errors})),
                   iterations=rep.stats.get("iterations", 0),
                   widenings=rep.stats.get("widenings", 0),
                   invariant_size=rep.stats.get("invariant_size", 0),
                   constraints=sum(len(s.num.constraints()) for s in states))
    except MemoryError:
        row.update(status="memory", reason=f"memory limit {task.memory_mb} MiB exceeded")
    except Exception as exc:  # a bad object or an analysis crash is a result, not the end
        row.update(status="error", reason=f"{type(exc).__name__}: {exc}"[:500])
    return row


def _vm_kib(field: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _limit_memory(mb: int) -> None:
    """Let this (forked) worker grow by at most `mb` MiB: RLIMIT_AS and RLIMIT_DATA set to its
    current address space / data size plus `mb` (malloc arenas a threaded parent reserved are
    writable data, which RLIMIT_AS alone does not see)."""
    import resource
    extra = mb * 1024 * 1024
    for res, field in ((resource.RLIMIT_AS, "VmSize"), (resource.RLIMIT_DATA, "VmData")):
        limit = _vm_kib(field) * 1024 + extra
        try:
            resource.setrlimit(res, (limit, limit))
        except (ValueError, OSError):
            pass


def _child(task: Task, fd: int) -> None:
    """Worker process body: set the memory limit, run, write the pickled row, exit at once."""
    import pickle
    code = 0
    try:
        _limit_memory(task.memory_mb)
        try:
            row = run_task(task)
        except MemoryError:
            row = _base_row(task)
            row.update(status="memory", reason=f"memory limit {task.memory_mb} MiB exceeded")
        data = pickle.dumps(row)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except MemoryError:
        code = 3
    except BaseException:
        code = 1
    finally:
        os._exit(code)


_WARM: set[str] = set()


def warm_up(domain: str) -> None:
    """Import the verifier and build its tables once in this (parent) process, so that the
    forked workers start ready and timings measure the analysis only."""
    if domain in _WARM:
        return
    from cfg.asm import assemble
    from cfg.program import Program
    from verifier.analyze import analyze
    try:
        analyze(Program(assemble("r0 = 0\nexit"), type="xdp"), domain=domain)
        analyze(Program(assemble("r0 = 0\nexit"), type="socket_filter"), domain=domain)
    except Exception:  # an unknown domain is reported by the task itself
        pass
    _WARM.add(domain)


def execute(task: Task) -> dict:
    """Run `task` in a fresh worker process (forked: cheap, needs no importable `__main__`,
    works inside Dask's daemonic workers) with its limits; a time-out, a memory overflow or a
    dead worker is recorded in the row (status, reason) instead of raising."""
    import pickle
    import select
    import signal
    warm_up(task.domain)
    try:
        _load(task.object)  # cached here, inherited by this and later workers
    except Exception:
        pass  # the worker reports it
    r, w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(task, w)
    os.close(w)
    chunks: list[bytes] = []
    timed_out = False
    try:
        while True:
            left = task.time_limit - (time.perf_counter() - t0)
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                b = os.read(r, 1 << 16)
                if not b:
                    break
                chunks.append(b)
    finally:
        os.close(r)
        if timed_out:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
    row = None
    if not timed_out and chunks:
        try:
            row = pickle.loads(b"".join(chunks))
        except Exception:
            row = None
    if row is None:
        row = _base_row(task)
        row["worker"] = f"{socket.gethostname()}:{pid}"
        if timed_out:
            row.update(status="timeout", reason=f"time limit {task.time_limit:g} s exceeded",
                       time_ms=round((time.perf_counter() - t0) * 1000, 3))
        elif os.WIFSIGNALED(status):
            row.update(status="crashed", reason=f"worker died (killed by signal {os.WTERMSIG(status)})")
        else:
            code = os.WEXITSTATUS(status)
            row.update(status="memory" if code == 3 else "crashed",
                       reason=f"worker died (exit code {code})")
    return row


def task_dict(task: Task) -> dict:
    """The task as plain data (what executors ship to remote workers)."""
    return asdict(task)
