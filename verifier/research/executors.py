"""Executors: where the tasks run. `local`: N threads on this machine, each driving one worker
process per task (`tasks.execute`), so at most N analyses run at once. `dask`: the same
`tasks.execute` submitted to a Dask distributed cluster; each Dask worker starts the task's own
worker process there. Both yield result rows as tasks finish (any order)."""
from __future__ import annotations

from typing import Iterator

from verifier.research.tasks import Task, execute

__all__ = ["run_local", "run_dask", "run_tasks"]


def run_local(tasks: list[Task], workers: int = 1) -> Iterator[dict]:
    """Rows of `tasks` run on this machine, `workers` at a time."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
    if not tasks:
        return
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending = set()
        queue = iter(tasks)
        for t in queue:
            pending.add(pool.submit(execute, t))
            if len(pending) >= 2 * max(1, workers):
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(execute, nxt))


def run_dask(tasks: list[Task], scheduler: str | None = None, client=None) -> Iterator[dict]:
    """Rows of `tasks` run on a Dask cluster (`scheduler` address such as
    `tcp://10.0.0.5:8786`, or an existing `client`). Every worker must be able to import
    bpfcheck and read the object files at the same paths."""
    from distributed import Client, as_completed
    if not tasks:
        return
    own = client is None
    if own:
        if not scheduler:
            from cfg.errors import BpfcheckError
            raise BpfcheckError("--executor dask needs --scheduler ADDRESS")
        client = Client(scheduler)
    try:
        futures = [client.submit(execute, t, pure=False) for t in tasks]
        for fut in as_completed(futures):
            yield fut.result()
            fut.release()
    finally:
        if own:
            client.close()


def run_tasks(tasks: list[Task], executor: str = "local", workers: int = 1,
              scheduler: str | None = None, client=None) -> Iterator[dict]:
    """Dispatch to the named executor."""
    if executor == "local":
        return run_local(tasks, workers)
    if executor == "dask":
        return run_dask(tasks, scheduler, client)
    from cfg.errors import BpfcheckError
    raise BpfcheckError(f"unknown executor {executor!r} (known: local, dask)")
