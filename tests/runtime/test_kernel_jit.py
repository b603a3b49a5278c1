"""runtime.kernel additions for the side-by-side benchmark: the kernel JIT's code of a loaded
program, whether the JIT is on, and the high-half variant of a program (r0 >> 32 at exit)."""
from __future__ import annotations

import os

import pytest
from hypothesis import given, settings, strategies as st

from cfg.asm import assemble
from cfg.program import Program
from runtime import kernel, vm


def _need_kernel() -> None:
    ok, why = kernel.available()
    if not ok:
        pytest.skip(why)


@pytest.mark.kernel
def test_jited_code_is_the_native_code_of_the_loaded_program() -> None:
    _need_kernel()
    ok, why = kernel.jit_enabled()
    if not ok:
        pytest.skip(why)
    codes = []
    for text in ("mov %r0, 2\nexit",
                 "mov %r0, 0\nmov %r1, 0x1a5\nloop:\nadd %r0, %r1\nsub %r1, 1\n"
                 "jne %r1, 0, loop\nexit"):
        fd, _ = kernel.load_insns(assemble(text, "ubpf"), "xdp", "jited")
        try:
            codes.append(kernel.jited_code(fd))
        finally:
            os.close(fd)
    nop, loop = codes
    assert 0 < len(nop) < len(loop)
    assert (0x1a5).to_bytes(4, "little") in loop   # mov $imm, %edi
    assert (0x1a5).to_bytes(4, "little") not in nop


@pytest.mark.parametrize("value, ok", [("0", False), ("1", True), ("2", True)])
def test_jit_enabled_reads_the_sysctl(tmp_path, value, ok) -> None:
    knob = tmp_path / "bpf_jit_enable"
    knob.write_text(value + "\n")
    got, why = kernel.jit_enabled(str(knob))
    assert got is ok and (why == "") is ok


MAIN = "lddw %r6, {value}\ncall local f\nadd %r6, %r0\nmov %r0, %r6\n{branch}exit\n" \
       "f:\nlddw %r0, 0x7fff00001111\nexit"


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**64 - 1), st.booleans())
def test_high_half_returns_the_high_32_bits_and_leaves_callees_alone(value, branch) -> None:
    text = MAIN.format(value=value, branch="jne %r0, 0, out\nexit\nout:\n" if branch else "")
    insns = assemble(text, "ubpf")
    low = vm.run(Program(insns)).r0
    assert low == (value + 0x7fff00001111) % 2**64   # the callee's r0 is whole
    assert vm.run(Program(kernel.high_half(insns))).r0 == low >> 32
