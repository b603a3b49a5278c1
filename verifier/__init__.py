"""eBPF semantics over abstract domains: the verifier, its reports and cross-checks, the CLI.

`verifier.analyze(program, ...) -> Report`, `verifier.Options` and `verifier.Report` are
imported lazily so that `import verifier` stays cheap. (`verifier.analyze` is also the name of
the module; the module is callable, so `verifier.analyze(program)` works either way.)
"""
from __future__ import annotations

import importlib

__all__ = ["analyze", "Options", "Report"]


def __getattr__(name: str):
    if name in __all__:
        module = importlib.import_module("verifier.analyze")
        return getattr(module, name)
    raise AttributeError(f"module 'verifier' has no attribute {name!r}")
