"""Worker processes for the lint run: each verifies one program at a time under a memory limit
(RLIMIT_AS on the worker) while the parent enforces the time budget by killing a worker that
overruns and starting a fresh one; the run always goes on.

Workers are forked early and import the verifier while the parent is still reading the objects;
each says when it is ready, and a program's time budget starts when a ready worker receives it.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import deque
from typing import Any, Callable

from cfg.errors import BpfcheckError

_HEAVY = ("verifier.analyze", "verifier.semantics", "verifier.fixpoint", "verifier.checks",
          "verifier.platform", "verifier.report", "cfg.graph", "cfg.wto", "domains.registry",
          "domains.zone", "domains.interval")


def _program_id(prog: Any) -> dict[str, Any]:
    return {"file": prog.file, "section": prog.section, "function": prog.name,
            "type": prog.type}


def _vm_size() -> int:
    """The worker's current virtual memory size in bytes (0 when unknown)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _limit_memory(mib: int) -> None:
    """Let the next program (receiving it and verifying it) grow the worker's address space by
    at most `mib` MiB: the soft RLIMIT_AS, reset before every program, so the budget is per
    program. Approximate: memory the worker freed earlier is reused without counting."""
    if not mib:
        return
    try:
        import resource
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = _vm_size() + mib * 1024 * 1024
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError, OverflowError):  # too large to set: no limit
        pass


def _worker_main(conn: Any, opts: Any) -> None:
    """The worker process: serve until told to stop; out of memory anywhere (even while
    receiving a program) ends the process quietly, and the parent reports the budget."""
    try:
        _serve(conn, opts)
    except BaseException:
        os._exit(3)


def _serve(conn: Any, opts: Any) -> None:
    """Receive (index, program), answer (index, kind, payload) until told to stop (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import importlib
    for name in _HEAVY:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    from verifier.lint.runner import analyze_entry
    conn.send((None, "ready", None))   # the time budget starts with the first task
    while True:
        _limit_memory(opts.memory)   # the program itself counts: set before receiving it
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        idx, prog = msg
        try:
            reply = (idx, "ok", analyze_entry(prog, opts))
        except MemoryError:
            reply = None
        except RecursionError:
            reply = (idx, "problem", "analysis too deep (recursion limit)")
        except BpfcheckError as exc:
            reply = (idx, "problem", str(exc))
        except Exception as exc:  # a bug of ours: one line, the run goes on
            reply = (idx, "problem", f"internal error: {type(exc).__name__}: {exc}")
        if reply is None:
            try:
                conn.send((idx, "memory", ""))
            finally:
                os._exit(3)  # the heap may be in pieces: start afresh
        conn.send(reply)


class _Worker:
    def __init__(self, ctx: Any, opts: Any) -> None:
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, opts), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        self.task: tuple[int, Any] | None = None
        self.started = 0.0
        self.ready = False

    def send(self, task: tuple[int, Any]) -> None:
        self.task = task
        self.started = time.monotonic()
        self.conn.send(task)

    def stop(self, kill: bool = False) -> None:
        try:
            if kill:
                self.proc.kill()
            else:
                self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(timeout=None if kill else 5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _died(w: _Worker, workers: list[_Worker], opts: Any, done: Callable, kind: str) -> None:
    """A worker ran out of memory or died (the kernel's OOM killer, a signal): report its
    program as over the memory budget and drop the worker (a new one is started)."""
    from verifier.lint.runner import budget_entry
    idx, prog = w.task
    w.task = None
    w.stop(kill=True)
    code = w.proc.exitcode
    workers.remove(w)
    done(idx, budget_entry(_program_id(prog), "memory-budget",
                           f"analysis exceeded the memory budget of {opts.memory} MiB"
                           if kind == "memory" or opts.memory else
                           f"the worker process died (exit code {code})"))


class Pool:
    """Worker processes, started early (`start`) so that they import the verifier while the
    parent is still reading objects; `run` verifies tasks on them."""

    def __init__(self, opts: Any) -> None:
        self.opts = opts
        self.ctx = multiprocessing.get_context("fork")
        self.workers: list[_Worker] = []
        self.failed_starts = 0

    def start(self, n: int) -> None:
        while len(self.workers) < n:
            self.workers.append(_Worker(self.ctx, self.opts))

    def close(self) -> None:
        for w in self.workers:
            w.stop(kill=w.task is not None or not w.ready)
        self.workers = []

    def run(self, tasks: list[tuple[int, Any]], done: Callable[[int, Any], None]) -> None:
        """Verify `tasks` ((slot index, Program)) on up to `opts.workers()` processes;
        `done(index, result-or-Problem)` is called in the parent as each finishes."""
        from multiprocessing.connection import wait

        from verifier.lint.runner import Problem, budget_entry
        opts, workers = self.opts, self.workers
        # longest first, so that one big program does not start last and hold up the run
        # (results are reported in input order whatever the order of work)
        queue = deque(sorted(tasks, key=lambda t: -len(t[1].insns)))
        n = max(1, min(opts.workers(), len(tasks)))
        for w in [w for w in workers if w.task is None][: max(0, len(workers) - n)]:
            w.stop(kill=True)   # more workers than programs
            workers.remove(w)
        while queue or any(w.task for w in workers):
            self.start(n if queue else 0)
            for w in list(workers):
                if w.ready and w.task is None and queue:
                    try:
                        w.send(queue.popleft())
                    except (OSError, ValueError):  # the worker is gone: report, replace
                        _died(w, workers, opts, done, "died")
            waiting = [w for w in workers if w.task is not None or not w.ready]
            if not waiting:
                continue
            timeout = None
            busy = [w for w in waiting if w.task is not None]
            if opts.timeout and busy:
                now = time.monotonic()
                timeout = max(0.0, min(w.started + opts.timeout for w in busy) - now)
            ready = wait([w.conn for w in waiting], timeout)
            for w in list(waiting):
                if w.conn not in ready:
                    continue
                try:
                    _r, kind, payload = w.conn.recv()
                except (EOFError, OSError):
                    kind, payload = "died", ""
                if kind == "ready":
                    w.ready = True
                    continue
                if w.task is None:   # died before it was ready: start another
                    w.stop(kill=True)
                    workers.remove(w)
                    self.failed_starts += 1
                    if self.failed_starts > 2 * n + 2:   # no worker can even start
                        while queue:
                            idx, prog = queue.popleft()
                            done(idx, budget_entry(
                                _program_id(prog), "memory-budget",
                                f"no worker process could start within the memory budget "
                                f"of {opts.memory} MiB"))
                    continue
                idx, prog = w.task
                if kind == "ok":
                    w.task = None
                    done(idx, payload)
                elif kind == "problem":
                    w.task = None
                    done(idx, Problem(prog.file, f"{prog.section}/{prog.name}: {payload}"))
                else:
                    _died(w, workers, opts, done, kind)
            if opts.timeout:
                now = time.monotonic()
                for w in [w for w in workers if w.task and now - w.started >= opts.timeout]:
                    idx, prog = w.task
                    w.task = None
                    w.stop(kill=True)
                    workers.remove(w)
                    done(idx, budget_entry(_program_id(prog), "time-budget",
                                           f"analysis exceeded the time budget of "
                                           f"{opts.timeout:g} s"))


def run_pool(tasks: list[tuple[int, Any]], opts: Any,
             done: Callable[[int, Any], None]) -> None:
    """Verify `tasks` on a fresh Pool (see Pool.run)."""
    pool = Pool(opts)
    try:
        pool.run(tasks, done)
    finally:
        pool.close()
