"""The portable JIT's instruction budget: a run that exhausts it stops where the interpreter
stops (same error, steps, pc and r0), in both dialects, whatever the control flow: loops with
one or many blocks, loops with calls, and loop-free programs whose nested bpf-to-bpf calls run
far more steps than the program has instructions (no loop head to check at)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from cfg.asm import assemble
from cfg.program import Program
from runtime import vm
from runtime.jit import numba_support
from runtime.jit.python import PyJitMachine

NUMBA, WHY = numba_support.available()
DIALECTS = ["cpython", pytest.param("numba", marks=pytest.mark.skipif(not NUMBA, reason=WHY))]


def _nested_calls(depth: int, fanout: int) -> str:
    """f0 calls f1 `fanout` times, ..., f{depth-1} counts in r0: fanout**depth leaf calls
    from a program without a backward jump."""
    text = "mov %r0, 0\ncall local f0\nexit\n"
    for level in range(depth):
        body = (f"call local f{level + 1}\n" * fanout) if level + 1 < depth else ""
        text += f"f{level}:\n{body}add %r0, 1\nexit\n"
    return text


PROGRAMS = {
    "one-block loop": "mov %r0, 0\nmov %r1, 300\nloop:\nadd %r0, %r1\nsub %r1, 1\n"
                      "jne %r1, 0, loop\nexit",
    # a loop body of several blocks, some iterations taking the longer path
    "branchy loop": "mov %r0, 0\nmov %r1, 200\nloop:\nmov %r2, %r1\nand %r2, 3\n"
                    "jeq %r2, 0, skip\nadd %r0, 7\nxor %r0, %r1\nmul %r0, 3\nskip:\nadd %r0, 1\n"
                    "sub %r1, 1\njne %r1, 0, loop\nexit",
    "loop with calls": "mov %r6, 100\nmov %r0, 0\nloop:\ncall local f\nsub %r6, 1\n"
                       "jne %r6, 0, loop\nexit\nf:\nadd %r0, 2\nmov %r1, %r0\nrsh %r1, 1\n"
                       "add %r0, %r1\nexit",
    "nested calls": _nested_calls(6, 3),
}


def _program(name: str) -> Program:
    return Program(assemble(PROGRAMS[name], "ubpf"), name=name.replace(" ", "_"))


def _outcome(result: vm.Result) -> tuple:
    return (result.r0, result.error, result.steps, result.pc)


def test_the_nested_calls_run_far_more_steps_than_the_program_has_instructions():
    program = _program("nested calls")
    steps = vm.run(program).steps
    assert steps > 10 * program.end_pc
    assert not any(insn.is_jump() and insn.jump_offset < 0 for _, insn in program.items())


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", sorted(PROGRAMS))
@settings(max_examples=25, deadline=None)
@given(fraction=st.floats(0, 1.05))
def test_the_budget_ends_a_run_where_the_interpreter_ends_it(dialect, name, fraction):
    program = _program(name)
    full = vm.run(program).steps
    budget = max(1, int(full * fraction))
    expected = vm.run(program, budget=budget)
    got = PyJitMachine(program, dialect=dialect).run(budget=budget)
    assert _outcome(got) == _outcome(expected)
    assert got.steps <= budget


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_budget_near_the_end_matches(dialect, name):
    """Budgets just below, at and above a run's length, on one machine run after run."""
    program = _program(name)
    full = vm.run(program).steps
    machine = PyJitMachine(program, dialect=dialect)
    for budget in range(full - 12, full + 3):
        assert _outcome(machine.run(budget=budget)) == _outcome(vm.run(program, budget=budget))
