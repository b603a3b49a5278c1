"""The shadow of what a concrete run has written (verifier.difftest.ShadowState): registers and
stack bytes become written by the instructions that write them, and calls forget what the
callee (or a helper) does not keep."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cfg.asm import assemble
from cfg.program import Program
from runtime import context as C
from runtime.vm import Machine
from verifier.difftest import ENTRY_REGISTERS, ShadowState, entry_registers, frame_top
from verifier.options import Options


def _shadow_run(text: str, ctx=None, live: int = ENTRY_REGISTERS):
    """Run `text` on the checked interpreter with a ShadowState; for every executed pc, the
    written registers and, per probe offset from the current frame's r10, the first unwritten
    byte of the 8 there (None: all written)."""
    program = Program(assemble(text), name="t", section="xdp", type="xdp")
    machine = Machine(program, checked=True)
    shadow = ShadowState(program, live=live)
    seen: list[tuple[int, set[int], dict[int, int | None]]] = []

    def trace(pc: int, regs: list, memory) -> None:
        r10 = regs[10]
        probes = {off: shadow.unwritten(machine, r10 + off, 8) for off in (-8, -16)}
        seen.append((pc, {r for r in range(11) if shadow.written(r)}, probes))
        shadow.step(machine, pc, regs)

    result = machine.run(ctx or C.xdp(b"\0" * 32), 10_000, trace)
    assert result.error is None, result.error
    return seen, shadow


def test_entry_registers_are_r1_and_r10_and_r2_for_memory():
    assert entry_registers(C.xdp(b"")) == (1 << 1) | (1 << 10)
    assert entry_registers(C.raw_memory(b"abcd")) == (1 << 1) | (1 << 2) | (1 << 10)


def test_frame_tops_step_down_by_the_frame_size():
    opts = Options()
    assert frame_top(opts, 0) == opts.stack_top
    assert frame_top(opts, 3) == opts.stack_top - 3 * opts.stack_size


def test_register_writes_and_helper_clobbers():
    seen, _ = _shadow_run("r3 = 1\nr4 = r3\ncall 5\nr0 = 0\nexit")   # 5: ktime_get_ns
    regs = [written for _, written, _ in seen]
    assert regs[0] == {1, 10}
    assert regs[1] == {1, 3, 10}
    assert regs[2] == {1, 3, 4, 10}
    assert regs[3] == {0, 10}                     # the helper clobbered r1-r5, returned r0


def test_stores_mark_exactly_their_bytes():
    seen, shadow = _shadow_run("*(u32 *)(r10 - 8) = 1\n*(u64 *)(r10 - 16) = r1\n"
                               "*(u32 *)(r10 - 4) = 2\nr0 = 0\nexit")
    probes = [p for _, _, p in seen]
    assert probes[0] == {-8: -8, -16: -16}
    assert probes[1] == {-8: -4, -16: -16}        # bytes -8..-5 written, -4 not yet
    assert probes[2] == {-8: -4, -16: None}
    assert probes[3] == {-8: None, -16: None}
    top = Options().stack_top
    assert shadow.stack == ((1 << 16) - 1) << (top - 16)


def test_addresses_off_the_stack_are_not_located():
    program = Program(assemble("r0 = 0\nexit"), name="t", section="xdp", type="xdp")
    machine = Machine(program, checked=True)
    shadow = ShadowState(program)
    machine.run(C.xdp(b"abcd"), 100)
    packet = machine.ctx.packet.start
    assert shadow.locate(machine, packet) is None
    assert shadow.unwritten(machine, packet, 4) is None
    shadow.mark(machine, packet, 4)
    assert shadow.stack == 0


def test_a_helper_write_through_a_pointer_marks_its_size():
    seen, _ = _shadow_run("r1 = r10\nr1 += -16\nr2 = 12\ncall 16\nr0 = 0\nexit")
    assert seen[3][2] == {-8: -8, -16: -16}       # before get_current_comm
    assert seen[4][2] == {-8: -4, -16: None}      # it wrote 12 bytes at r10 - 16


def test_local_calls_forget_the_callee_frame_and_restore_callee_saved_registers():
    text = ("r6 = 7\n*(u64 *)(r10 - 8) = r6\ncall f\nr0 = r6\nexit\n"
            "f:\n*(u64 *)(r10 - 16) = r1\nr0 = 1\nexit")
    seen, _ = _shadow_run(text)
    pcs = [pc for pc, _, _ in seen]
    at = {pc: i for i, pc in reversed(list(enumerate(pcs)))}
    callee = at[5]                                # first instruction of f
    _, regs, probes = seen[callee]
    assert 6 not in regs and 0 not in regs        # r6-r9 and r0 undefined in the callee
    assert probes == {-8: -8, -16: -16}            # a fresh frame: nothing written
    _, regs, probes = seen[callee + 2]             # f's exit
    assert probes == {-8: -8, -16: None}
    _, regs, probes = seen[at[3]]                  # back in the caller
    assert regs == {0, 6, 10}                      # r6 restored, r0 returned, r1-r5 not
    assert probes == {-8: None, -16: -16}


def test_a_second_call_does_not_see_the_first_calls_frame():
    text = ("call f\ncall f\nr0 = 0\nexit\n"
            "f:\nr2 = *(u8 *)(r10 - 1)\n*(u8 *)(r10 - 1) = 1\nr0 = 0\nexit")
    program = Program(assemble(text), name="t", section="xdp", type="xdp")
    machine = Machine(program, checked=True)
    shadow = ShadowState(program)
    at_load: list[int | None] = []

    def trace(pc: int, regs: list, memory) -> None:
        if pc == 4:
            at_load.append(shadow.unwritten(machine, regs[10] - 1, 1))
        shadow.step(machine, pc, regs)

    assert machine.run(C.xdp(b""), 100, trace).error is None
    assert at_load == [-1, -1]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from((1, 2, 4, 8)), st.integers(1, 64)), max_size=6))
def test_stored_bytes_are_the_union_of_the_stores(stores):
    """Law: after any stores (size, offset below r10, aligned down to the size), a byte reads
    as written exactly when some store covered it."""
    ops = []
    covered: set[int] = set()
    for size, off in stores:
        off = -((off + size - 1) // size * size)
        width = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}[size]
        ops.append(f"*({width} *)(r10 {off}) = 0")
        covered |= set(range(off, off + size))
    seen, shadow = _shadow_run("\n".join(ops + ["r0 = 0", "exit"]))
    top = Options().stack_top
    for byte in range(-72, 0):
        assert bool(shadow.stack >> (top + byte) & 1) == (byte in covered)
