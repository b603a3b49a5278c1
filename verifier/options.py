"""Analysis options (`verifier.analyze(..., options=Options(...))`)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    """What to check and how hard to try.

    termination: prove every loop terminates (loop counters `pc[head]` bounded by
    `max_loop_iterations` per entry into the loop). allow_division_by_zero: eBPF defines
    x/0 = 0, so dividing by zero is accepted unless this is False. privileged: what root
    programs may do (the kernel with CAP_PERFMON): compare pointers to numbers, store pointers
    into maps, return a pointer where the program type does not check the return value.
    assume_assertions: after a failed check, go on as if it had held (one bug, one error); when
    False the path ends there (PREVAIL's default, used by YAML tests). widening_delay:
    iterations at a loop head before widening. stack_top: the entry frame's r10 stack offset
    (each call frame is `stack_size` bytes lower). collect_invariants: keep the per-block
    invariants in the report.
    """

    termination: bool = False
    max_loop_iterations: int = 100000
    allow_division_by_zero: bool = True
    privileged: bool = False
    assume_assertions: bool = True
    big_endian: bool = False
    widening_delay: int = 2
    narrowing_passes: int = 1
    stack_size: int = 512
    stack_top: int = 4096
    collect_invariants: bool = True
    max_iterations: int = 200000
    # YAML tests: exits added by the runner (no r0 check; `hidden_exits` are also left out of
    # the exit invariant, e.g. the dead end of a PREVAIL `assume`)
    unchecked_exits: frozenset = frozenset()
    hidden_exits: frozenset = frozenset()
