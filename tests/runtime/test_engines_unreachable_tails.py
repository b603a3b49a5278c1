"""Code past a function's last `exit`, and what the interpreter traps on only when it runs it,
on every engine: what the interpreter does is the rule.

The instructions are one flat sequence. Dead code after a function's `exit` is never run, so
it changes nothing; control that does run past a function's last instruction goes on into the
next function in the same frame, and past the program's last instruction the run traps. A
jump outside the program traps when it runs (taken or not), a write to r10 too. The verifier
(like the kernel) refuses all of these statically; the engines must still agree.
"""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from cfg import isa
from cfg.asm import assemble
from cfg.errors import ProgramError
from cfg.graph import build
from cfg.program import Program
from runtime import aot, vm
from runtime.engines import ENGINES
from runtime.jit import native

ALL = [name for name, ok in (("interp", True), ("pyjit", True), ("jit", native.available()[0]),
                             ("aot", aot.available()[0])) if ok]


def _program(text: str) -> Program:
    return Program(assemble(text, syntax="ubpf"))


def _outcome(program: Program, engine: str) -> tuple:
    result = ENGINES[engine](program).run(vm.make_context())
    error = None if result.error is None else re.sub(r"0x[0-9a-f]+", "ADDR", result.error)
    return (None if error else result.r0, error)


DEAD_TAILS = {
    # the entry function ends in dead code before its callee (bpf_conformance's old
    # call_local has this shape)
    "before_a_callee": ("mov %r1, 5\ncall local double\nexit\nmov %r0, 7\n"
                        "double:\nmov %r0, %r1\nadd %r0, %r1\nexit", 10),
    "at_the_program_end": ("mov %r0, 3\nexit\nmov %r0, 7\nadd %r0, 1", 3),
    "a_conditional_jump_last": ("mov %r0, 3\nexit\njeq %r0, 1, -2", 3),
    "after_a_callee_exit": ("mov %r1, 4\ncall local f\nexit\nf:\nmov %r0, %r1\nexit\n"
                            "lddw %r0, 0x1122334455667788", 4),
}


@pytest.mark.parametrize("engine", ALL)
@pytest.mark.parametrize("name", DEAD_TAILS)
def test_dead_code_after_the_last_exit_changes_nothing(name, engine):
    text, r0 = DEAD_TAILS[name]
    program = _program(text)
    assert _outcome(program, engine) == (r0, None)


def test_the_verifier_refuses_such_programs():
    for text, _ in DEAD_TAILS.values():
        with pytest.raises(ProgramError, match="falls off the end"):
            build(_program(text))


@pytest.mark.parametrize("engine", ALL)
def test_running_past_a_function_end_goes_on_into_the_next_function(engine):
    # the call returns 5, +1, then control runs on into `add` of the callee: 6 + 5
    program = _program("mov %r1, 5\ncall local f\nadd %r0, 1\nf:\nadd %r0, %r1\nexit")
    assert _outcome(program, engine) == (11, None)


@pytest.mark.parametrize("engine", ALL)
def test_running_past_the_program_end_traps(engine):
    program = _program("mov %r0, 3\nja +0\nmov %r0, 4")
    assert _outcome(program, engine) == (None, "pc 3: fell off the end of the program")


RUN_TIME_TRAPS = {
    "a jump to the program's end": ("mov %r0, 2\njeq %r0, 2, +1\nexit",
                                    "pc 1: jump to 3 outside the program [0, 3)"),
    "a jump before the program, not taken": ("mov %r0, 2\njeq %r0, 3, -3\nexit",
                                             "pc 1: jump to -1 outside the program [0, 3)"),
    "a write to r10": ("mov %r0, 2\nmov %r10, 1\nexit", "pc 1: r10 is read-only"),
    "an lddw into r10": ("mov %r0, 2\nlddw %r10, 5\nexit", "pc 1: r10 is read-only"),
}


@pytest.mark.parametrize("engine", ALL)
@pytest.mark.parametrize("name", RUN_TIME_TRAPS)
def test_what_the_interpreter_traps_on_when_run_traps_alike(name, engine):
    text, error = RUN_TIME_TRAPS[name]
    assert _outcome(_program(text), engine) == (None, error)


@pytest.mark.parametrize("engine", ALL)
def test_a_jump_to_the_end_of_a_function_runs_on_into_the_next(engine):
    program = _program("mov %r1, 5\ncall local f\nadd %r0, 1\njeq %r0, 6, +0\n"
                       "f:\nadd %r0, %r1\nexit")
    assert _outcome(program, engine) == (11, None)


@pytest.mark.parametrize("engine", ALL)
@pytest.mark.parametrize("dead", ["mov %r10, 1\nexit", "ja -5", "jeq %r0, 7, +9\nexit"])
def test_dead_traps_change_nothing(dead, engine):
    program = _program("mov %r0, 7\nexit\n" + dead)
    assert _outcome(program, engine) == (7, None)


@pytest.mark.parametrize("engine", ALL)
def test_control_runs_on_through_several_functions_in_one_frame(engine):
    # the entry runs on into f (a stack slot of the entry frame read back there), f into g
    program = _program("mov %r1, 3\nstxdw [%r10-8], %r1\nmov %r0, 0\ncall local g\n"
                       "mov %r2, 2\nf:\nldxdw %r3, [%r10-8]\nadd %r0, %r3\nadd %r0, %r2\n"
                       "g:\nadd %r0, 10\nexit")
    assert _outcome(program, engine) == (25, None)


def test_aot_translation_says_where_control_goes_past_the_end():
    text = aot.translate(_program("mov %r1, 5\ncall local f\nadd %r0, 1\nf:\nexit")).text
    assert "on into the next function" in text
    assert "fell off the end" not in text
    assert "fell off the end" in aot.translate(_program("mov %r0, 1")).text


# --- random dead code -------------------------------------------------------------------------
_ALU = [isa.CLS_ALU64 | op for op in (isa.ALU_ADD, isa.ALU_SUB, isa.ALU_XOR, isa.ALU_MOV,
                                      isa.ALU_OR, isa.ALU_AND)]


@st.composite
def dead_tail(draw):
    """ALU instructions, exits and in-range jumps: any of them may end the tail."""
    n = draw(st.integers(1, 6))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from(["alu", "exit", "jump"]))
        if kind == "alu":
            out.append(isa.Insn(draw(st.sampled_from(_ALU)), draw(st.integers(0, 9)), 0, 0,
                                draw(st.integers(-(1 << 31), (1 << 31) - 1))))
        elif kind == "exit":
            out.append(isa.Insn(isa.CLS_JMP | isa.JMP_EXIT))
        else:  # back to the tail's first instruction: stays inside the function
            out.append(isa.Insn(isa.CLS_JMP | isa.JMP_JEQ, draw(st.integers(0, 9)), 0,
                                -(i + 1), draw(st.integers(-5, 5))))
    return out


@pytest.mark.parametrize("engine", ALL)
@settings(max_examples=12, deadline=None)
@given(tail=dead_tail(), r0=st.integers(0, (1 << 32) - 1))
def test_random_dead_tails_agree_with_the_interpreter(engine, tail, r0):
    body = [isa.lddw(0, r0), isa.Insn(isa.CLS_JMP | isa.JMP_EXIT)]
    program = Program(body + tail)
    assert _outcome(program, engine) == (r0, None)
