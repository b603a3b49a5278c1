"""The registry of execution engines that `bpfcheck run` and the differential tests can pick.

An engine is a factory `(program, maps=None, helpers=None, checked=True, seed=0) -> machine`
whose `machine.run(context, budget=..., trace=None) -> runtime.vm.Result` runs the program once
(maps persist across runs of one machine). The JITs and the AOT engine register here (`jit`, `pyjit`, `aot`).
"""
from __future__ import annotations

from typing import Callable

from runtime.vm import Machine



def _native(*args, **kwargs):
    from runtime.jit.native import NativeMachine
    return NativeMachine(*args, **kwargs)


def _pyjit(*args, **kwargs):
    from runtime.jit.python import PyJitMachine
    return PyJitMachine(*args, **kwargs)


def _aot(*args, **kwargs):
    from runtime.aot import AotMachine
    return AotMachine(*args, **kwargs)


ENGINES: dict[str, Callable] = {"interp": Machine, "jit": _native, "pyjit": _pyjit, "aot": _aot}


def default_engine() -> str:
    """The native JIT where it applies (x86-64 Linux), the portable JIT elsewhere."""
    from runtime.jit.native import available
    return "jit" if available()[0] else "pyjit"


def get_engine(name: str) -> Callable:
    """The engine factory called `name` (KeyError listing the known ones)."""
    try:
        return ENGINES[name]
    except KeyError:
        raise KeyError(f"unknown engine {name!r} (known: {', '.join(sorted(ENGINES))})") \
            from None
