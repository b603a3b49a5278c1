"""`run_harness`: tasks -> executor -> results file, the function behind `bpfcheck bench
verify` and the notebook API (`from verifier.research.harness import run_harness`)."""
from __future__ import annotations

import os
import time
from typing import Callable, Sequence

from verifier.research.executors import run_tasks
from verifier.research.store import ResultStore, finished_keys, load
from verifier.research.tasks import Task, make_tasks

__all__ = ["run_harness", "objects"]


def objects(paths: Sequence[str]) -> list[str]:
    """The ELF objects named by `paths` (directories: their build/*.o, or *.o)."""
    import glob
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            out.extend(sorted(glob.glob(os.path.join(p, "build", "*.o")))
                       or sorted(glob.glob(os.path.join(p, "*.o"))))
        elif os.path.exists(p):
            out.append(p)
        else:
            from cfg.errors import BpfcheckError
            raise BpfcheckError(f"{p}: no such file or directory")
    return out


def run_harness(paths: Sequence[str], domains: Sequence[str], *, repeat: int = 1,
                output: str | None = None, resume: bool = False, executor: str = "local",
                workers: int = 1, scheduler: str | None = None, client=None,
                time_limit: float = 60.0, memory_mb: int = 2048, termination: bool = False,
                tasks: list[Task] | None = None,
                progress: Callable[[dict, int, int], None] | None = None):
    """Run every program x domain x repeat; stream rows into `output` (CSV or Parquet) as they
    finish; with `resume`, skip the tasks already in it. Returns all rows as a DataFrame and
    the wall time in seconds of the tasks run now (`df.attrs["wall_s"]`)."""
    import pandas as pd

    from domains.registry import get_domain
    for d in domains:
        try:
            get_domain(d)
        except ValueError as exc:
            from cfg.errors import BpfcheckError
            raise BpfcheckError(str(exc)) from None
    if tasks is None:
        tasks = make_tasks(objects(paths), list(domains), repeat, time_limit, memory_mb, termination)
    done = finished_keys(output) if (output and resume) else set()
    todo = [t for t in tasks if t.key not in done]
    todo.sort(key=lambda t: -t.instructions)  # longest first: the last worker idles least
    if executor == "local":
        from verifier.research.tasks import warm_up
        for d in domains:
            warm_up(d)
    rows: list[dict] = []
    store = ResultStore(output, resume=resume) if output else None
    t0 = time.perf_counter()
    try:
        for i, row in enumerate(run_tasks(todo, executor, workers, scheduler, client), 1):
            if store is not None:
                store.add(row)
            rows.append(row)
            if progress is not None:
                progress(row, i, len(todo))
    finally:
        wall = time.perf_counter() - t0
        if store is not None:
            store.close()
    df = load(output) if output else pd.DataFrame(rows)
    keys = {t.key for t in tasks}
    if len(df):
        df = df[df["key"].isin(keys)].reset_index(drop=True)
    df.attrs["wall_s"] = wall
    df.attrs["ran"] = len(todo)
    return df
