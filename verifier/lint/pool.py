"""Worker processes for the lint run: each verifies one program at a time under a memory limit
(RLIMIT_AS on the worker) while the parent enforces the time budget by killing a worker that
overruns and starting a fresh one; the run always goes on.

Workers are forked after the verifier's modules are imported, so they start in milliseconds and
share those pages with the parent.
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
    if opts.memory:
        try:
            import resource
            limit = _vm_size() + opts.memory * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass
    from verifier.lint.runner import analyze_entry
    while True:
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


def run_pool(tasks: list[tuple[int, Any]], opts: Any,
             done: Callable[[int, Any], None]) -> None:
    """Verify `tasks` ((slot index, Program)) on `opts.workers()` processes; `done(index,
    result-or-Problem)` is called in the parent as each finishes."""
    import importlib

    from verifier.lint.runner import Problem, budget_entry
    from multiprocessing.connection import wait

    for name in _HEAVY:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    ctx = multiprocessing.get_context("fork")
    # longest first, so that one big program does not start last and hold up the run
    # (results are reported in input order whatever the order of work)
    queue = deque(sorted(tasks, key=lambda t: -len(t[1].insns)))
    workers: list[_Worker] = []
    n = max(1, min(opts.workers(), len(tasks)))
    try:
        while queue or any(w.task for w in workers):
            while len(workers) < n and queue:
                workers.append(_Worker(ctx, opts))
            for w in list(workers):
                if w.task is None and queue:
                    try:
                        w.send(queue.popleft())
                    except (OSError, ValueError):  # the worker is gone: report, replace
                        _died(w, workers, opts, done, "died")
            busy = [w for w in workers if w.task is not None]
            if not busy:
                continue
            timeout = None
            if opts.timeout:
                now = time.monotonic()
                timeout = max(0.0, min(w.started + opts.timeout for w in busy) - now)
            ready = wait([w.conn for w in busy], timeout)
            for w in list(busy):
                if w.conn not in ready:
                    continue
                idx, prog = w.task
                try:
                    r_idx, kind, payload = w.conn.recv()
                except (EOFError, OSError):
                    kind, payload = "died", ""
                w.task = None
                if kind == "ok":
                    done(idx, payload)
                    continue
                if kind == "problem":
                    done(idx, Problem(prog.file, f"{prog.section}/{prog.name}: {payload}"))
                    continue
                w.task = (idx, prog)
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
    finally:
        for w in workers:
            w.stop(kill=w.task is not None)
