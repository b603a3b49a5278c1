"""Runs in a row on one machine: every engine restores an equal context from its saved bytes
instead of installing it anew, so these tests check that nothing of one run (packet, meta, ctx
and stack writes, moved packet bounds, trace output) reaches the next, that alternating
contexts give what a fresh machine gives, and that maps do persist."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from cfg.asm import assemble
from cfg.program import MAP_TYPE_IDS, MapDef, Program
from runtime import context, vm
from runtime.engines import ENGINES
from runtime.jit import numba_support
from runtime.jit.native import available
from runtime.jit.python import PyJitMachine

PACKET = bytes(range(64))
# "pyjit" runs its CPython dialect here (the auto dialect tiers up only hot loops)
PYJIT_DIALECTS = {"pyjit-cpython": "cpython", "pyjit-numba": "numba"}
NAMES = (["interp", "pyjit", "pyjit-cpython", "aot"] + (["jit"] if available()[0] else [])
         + (["pyjit-numba"] if numba_support.available()[0] else []))


def prog(text: str, type_: str = "xdp", maps=()) -> Program:
    return Program(assemble(text, "ubpf"), maps=maps, type=type_, name="p")


def machine(name: str, program: Program):
    if name in PYJIT_DIALECTS:
        return PyJitMachine(program, dialect=PYJIT_DIALECTS[name])
    return ENGINES[name](program)


# Increments packet byte 0 and returns its old value.
BUMP_BYTE = """
ldxw %r2, [%r1+0]
ldxb %r0, [%r2+0]
mov %r3, %r0
add %r3, 1
stxb [%r2+0], %r3
exit
"""

# Returns (data - data_meta) << 32 | (data_end - data), then moves data by 14 and meta by -8.
MOVE_BOUNDS = """
mov %r6, %r1
ldxw %r2, [%r6+0]
ldxw %r3, [%r6+4]
ldxw %r4, [%r6+8]
mov %r7, %r3
sub %r7, %r2
mov %r8, %r2
sub %r8, %r4
lsh %r8, 32
or %r7, %r8
mov %r1, %r6
mov %r2, 14
call 44
mov %r1, %r6
mov %r2, -8
call 54
mov %r0, %r7
exit
"""


@pytest.mark.parametrize("name", NAMES)
def test_packet_writes_do_not_reach_the_next_run(name):
    m = machine(name, prog(BUMP_BYTE))
    ctx = context.xdp(PACKET)
    results = [m.run(ctx) for _ in range(3)]
    assert [r.r0 for r in results] == [PACKET[0]] * 3
    expected = bytes([PACKET[0] + 1]) + PACKET[1:]
    assert [r.packet for r in results] == [expected] * 3


@pytest.mark.parametrize("name", NAMES)
def test_moved_packet_and_meta_bounds_come_back(name):
    m = machine(name, prog(MOVE_BOUNDS))
    ctx = context.xdp(PACKET)
    for _ in range(3):
        r = m.run(ctx)
        assert r.error is None
        assert r.r0 == len(PACKET)          # full length, meta empty: as installed anew
        assert r.packet == PACKET[14:]


@pytest.mark.parametrize("name", NAMES)
def test_ctx_field_writes_do_not_reach_the_next_run(name):
    text = "ldxw %r0, [%r1+8]\nmov %r2, %r0\nadd %r2, 100\nstxw [%r1+8], %r2\nexit"
    m = machine(name, prog(text, type_="sched_cls"))
    ctx = context.skb(PACKET, mark=5)
    assert [m.run(ctx).r0 for _ in range(3)] == [5, 5, 5]
    assert m.run(context.skb(PACKET, mark=9)).r0 == 9


@pytest.mark.parametrize("name", NAMES)
def test_mem_writes_do_not_reach_the_next_run(name):
    text = "ldxb %r0, [%r1+1]\nstb [%r1+1], 0xee\nexit"
    m = machine(name, prog(text, type_="unspec"))
    ctx = context.raw_memory(b"\x01\x02\x03")
    for _ in range(3):
        r = m.run(ctx)
        assert (r.r0, r.mem) == (2, b"\x01\xee\x03")


@pytest.mark.parametrize("name", NAMES)
def test_stack_starts_zero_in_every_frame_the_last_run_used(name):
    text = ("ldxdw %r6, [%r10-8]\nstdw [%r10-8], 0x55\ncall local f\nadd %r0, %r6\nexit\n"
            "f:\nldxdw %r0, [%r10-16]\nstdw [%r10-16], 0x77\nexit")
    m = machine(name, prog(text))
    assert [m.run(context.xdp(PACKET)).r0 for _ in range(3)] == [0, 0, 0]


# Frame `depth` (bpf-to-bpf calls chosen by the packet's first byte) reads, then dirties, a
# stack slot; r0 is what it read. A deep run, a shallow one, a deep one again: each reads 0.
DEEP_THEN_SHALLOW = "ldxw %r2, [%r1+0]\nldxb %r1, [%r2+0]\ncall local f1\nexit\n" + "".join(
    f"f{d}:\njeq %r1, {d}, leaf{d}\ncall local f{d + 1}\nexit\n"
    f"leaf{d}:\nldxdw %r0, [%r10-40]\nstdw [%r10-40], 0x5a\nexit\n" for d in (1, 2)) + (
    "f3:\nldxdw %r0, [%r10-40]\nstdw [%r10-40], 0x5a\nexit\n")


@pytest.mark.parametrize("name", NAMES)
def test_no_run_sees_a_frame_an_earlier_run_dirtied(name):
    m = machine(name, prog(DEEP_THEN_SHALLOW))
    for depth in (3, 1, 3, 2, 3, 3):
        r = m.run(context.xdp(bytes([depth]) + PACKET[1:]))
        assert (r.error, r.r0) == (None, 0)


@pytest.mark.parametrize("name", NAMES)
def test_maps_persist_across_runs(name):
    counter = MapDef("count", MAP_TYPE_IDS["array"], 4, 8, 1)
    text = "lddw %r1, map_value(0)+0\nldxdw %r0, [%r1+0]\nadd %r0, 1\nstxdw [%r1+0], %r0\nexit"
    m = machine(name, prog(text, maps=[counter]))
    ctx = context.xdp(PACKET)
    assert [m.run(ctx).r0 for _ in range(4)] == [1, 2, 3, 4]


@pytest.mark.parametrize("name", NAMES)
def test_a_result_keeps_its_own_trace_output(name):
    fmt = int.from_bytes(b"n=%d\0\0\0\0", "little")
    text = (f"lddw %r1, {fmt:#x}\nstxdw [%r10-8], %r1\nmov %r1, %r10\nadd %r1, -8\n"
            "mov %r2, 8\nmov %r3, 7\ncall 6\nmov %r0, 0\nexit")
    m = machine(name, prog(text))
    first = m.run(context.xdp(PACKET))
    second = m.run(context.xdp(PACKET))
    assert first.trace_output == ["n=7"] and second.trace_output == ["n=7"]
    assert first.trace_output is not second.trace_output


# A program whose effects depend on the packet: flips byte 1, moves data by (byte 0 & 7) and
# returns (new length << 8) | flipped byte; a short packet returns 1.
MIXED = """
mov %r6, %r1
ldxw %r2, [%r6+0]
ldxw %r3, [%r6+4]
mov %r4, %r2
add %r4, 2
jgt %r4, %r3, short
ldxb %r7, [%r2+0]
ldxb %r8, [%r2+1]
xor %r8, 0xff
stxb [%r2+1], %r8
and %r7, 7
mov %r1, %r6
mov %r2, %r7
call 44
ldxw %r2, [%r6+0]
ldxw %r3, [%r6+4]
mov %r0, %r3
sub %r0, %r2
lsh %r0, 8
or %r0, %r8
exit
short:
mov %r0, 1
exit
"""


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None)
@given(pool=st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=3),
       steps=st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=2, max_size=8))
def test_any_sequence_of_contexts_gives_what_fresh_machines_give(name, pool, steps):
    program = prog(MIXED)
    m = machine(name, program)
    contexts = [context.xdp(p) for p in pool]
    for index, fresh_copy in steps:
        data = pool[index % len(pool)]
        ctx = context.xdp(data) if fresh_copy else contexts[index % len(pool)]
        got = m.run(ctx)
        want = vm.run(program, ctx=context.xdp(data))
        assert (got.r0, got.error, got.packet) == (want.r0, want.error, want.packet)


@settings(max_examples=50, deadline=None)
@given(r0=st.integers(0, (1 << 64) - 1), error=st.none() | st.text(max_size=5),
       steps=st.integers(-1, 100), packet=st.none() | st.binary(max_size=8),
       mem=st.none() | st.binary(max_size=8), out=st.lists(st.text(max_size=3), max_size=2),
       pc=st.none() | st.integers(0, 100))
def test_make_result_is_the_frozen_dataclass(r0, error, steps, packet, mem, out, pc):
    fast = vm.make_result(r0, error, steps, packet, mem, None, out, pc)
    slow = vm.Result(r0, error, steps, packet, mem, None, out, pc)
    assert fast == slow and repr(fast) == repr(slow)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.r0 = 1


@pytest.mark.parametrize("name", NAMES)
def test_each_new_context_brings_its_own_r1_and_r2(name):
    m = machine(name, prog("mov %r0, %r2\nldxb %r3, [%r1+0]\nlsh %r3, 8\nor %r0, %r3\nexit",
                           type_="unspec"))
    for data in (b"\x07\x00\x00", b"\x09" * 5, b"\x07\x00\x00", b"\x02"):
        assert m.run(context.raw_memory(data)).r0 == len(data) | data[0] << 8


@pytest.mark.parametrize("name", [n for n in NAMES if n in ENGINES])
def test_windows_contexts_with_eight_byte_pointers_come_back_too(name):
    from runtime import windows
    text = f"""
    mov %r6, %r1
    ldxdw %r2, [%r6+0]
    ldxdw %r3, [%r6+8]
    mov %r7, %r3
    sub %r7, %r2
    ldxb %r8, [%r2+14]
    add %r8, 1
    stxb [%r2+14], %r8
    mov %r1, %r6
    mov %r2, 14
    call {windows.EXT_HELPER_BASE + 1}
    mov %r0, %r7
    exit
    """
    program = Program(assemble(text, "ubpf"), type="xdp", section="xdp", name="w")
    m = windows.machine(program, name)
    ctx = windows.xdp(PACKET)
    expected = bytes([PACKET[14] + 1]) + PACKET[15:]
    for _ in range(3):
        r = m.run(ctx)
        assert (r.error, r.r0, r.packet) == (None, len(PACKET), expected)
