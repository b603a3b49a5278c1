"""The registry of execution engines that `bpfcheck run` and the differential tests can pick.

An engine is a factory `(program, maps=None, helpers=None, checked=True, seed=0) -> machine`
whose `machine.run(context, budget=..., trace=None) -> runtime.vm.Result` runs the program once
(maps persist across runs of one machine). The JITs register themselves here (`jit`, `pyjit`).
"""
from __future__ import annotations

from typing import Callable

from runtime.vm import Machine

ENGINES: dict[str, Callable] = {"interp": Machine}


def get_engine(name: str) -> Callable:
    """The engine factory called `name` (KeyError listing the known ones)."""
    try:
        return ENGINES[name]
    except KeyError:
        raise KeyError(f"unknown engine {name!r} (known: {', '.join(sorted(ENGINES))})") \
            from None
