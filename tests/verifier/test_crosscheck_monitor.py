"""The cross-check safety monitor (verifier.crosscheck.monitor, behind `bpfcheck run --checked`)
on hand-written programs: it reports uninitialised register and stack reads where they happen,
and takes the registers the run's context sets at entry as written."""
from __future__ import annotations

from cfg.asm import assemble
from cfg.program import Program
from runtime import context as C
from runtime.vm import Machine
from verifier.crosscheck import monitor


def _watch(text: str, ctx, ptype: str = "socket_filter"):
    program = Program(assemble(text), name="t", section="socket", type=ptype)
    machine = Machine(program, checked=True)
    hook, findings = monitor(program, machine)
    result = machine.run(ctx, 1000, hook)
    return result, findings


def test_the_length_register_of_a_memory_context_is_written_at_entry():
    result, findings = _watch("r0 = r2\nexit", C.raw_memory(b"abcd"))
    assert result.r0 == 4
    assert findings == []


def test_r2_is_not_set_for_a_packet_context():
    _, findings = _watch("r0 = r2\nexit", C.xdp(b"abcd"), "xdp")
    assert findings == [(0, "uninit-register", "r2 read before any write on this run")]


def test_a_register_read_before_its_write_is_reported_at_the_read():
    _, findings = _watch("r2 = 1\nr0 = r2\nr0 += r3\nexit", C.raw_memory(b""))
    assert findings == [(2, "uninit-register", "r3 read before any write on this run")]


def test_a_stack_read_before_its_write_names_the_first_unwritten_byte():
    text = "*(u16 *)(r10 - 8) = 1\nr0 = *(u32 *)(r10 - 8)\nexit"
    _, findings = _watch(text, C.xdp(b""), "xdp")
    assert findings == [(1, "uninit-stack",
                         "stack bytes at offset -6 from r10 read before any write on this run")]
    _, findings = _watch("*(u32 *)(r10 - 8) = 1\nr0 = *(u32 *)(r10 - 8)\nexit", C.xdp(b""),
                         "xdp")
    assert findings == []
