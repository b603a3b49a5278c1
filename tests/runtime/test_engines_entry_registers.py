"""Registers the program has not written read 0 at entry on every engine, as on the interpreter:
the verifier refuses such reads, but an unverified run must not see the host's values (on the
native JIT they held host addresses)."""
from __future__ import annotations

import pytest

from cfg.asm import assemble
from cfg.program import Program
from runtime import aot, vm
from runtime.engines import ENGINES
from runtime.jit import native

ENGINE_NAMES = [name for name, ok in (("interp", True), ("pyjit", True),
                                      ("jit", native.available()[0]),
                                      ("aot", aot.available()[0])) if ok]


def _r0(text: str, engine: str) -> int:
    result = ENGINES[engine](Program(assemble(text, syntax="ubpf"))).run(vm.make_context())
    assert result.error is None
    return result.r0


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("register", [3, 4, 5, 6, 7, 8, 9])
def test_an_unwritten_register_reads_zero(register, engine):
    assert _r0(f"mov %r0, %r{register}\nexit", engine) == 0


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_r0_reads_zero_before_it_is_written(engine):
    assert _r0("add %r0, 5\nexit", engine) == 5


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_register_read_only_in_a_callee_reads_zero(engine):
    text = "call local f\nexit\nf:\nmov %r0, %r7\nadd %r0, %r9\nadd %r0, 1\nexit"
    assert _r0(text, engine) == 1
