"""Every `.data` test of tests/data on the interpreter, and against the live kernel.

Expected values in the files were computed by hand (see each file's comment) and checked on
the kernel; the kernel comparison runs every test the kernel verifier accepts (as XDP, with
the prologue of `runtime.kernel.data_test_program`).
"""
from __future__ import annotations

import pathlib

import pytest

from cfg.datafile import read_data_file
from cfg.program import Program
from runtime import kernel, vm

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"
FILES = sorted(DATA.glob("*.data"))


def test_suite_is_large() -> None:
    assert len(FILES) >= 150


def _run(path: pathlib.Path):
    test = read_data_file(path)
    assert test.load_error is None, test.load_error
    # a smaller budget than the CLI's keeps the endless-loop tests fast
    return test, vm.run(Program(test.insns, maps=test.maps), mem=test.mem or None,
                        budget=1_000_000)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_interpreter(path: pathlib.Path) -> None:
    test, result = _run(path)
    if test.error is not None:
        assert result.error is not None, f"expected an error, got r0 = {result.r0:#x}"
        assert test.error in result.error
    else:
        assert result.error is None, result.error
        assert result.r0 == test.result, f"r0 = {result.r0:#x}, expected {test.result:#x}"


@pytest.mark.kernel
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_kernel_agrees(path: pathlib.Path) -> None:
    ok, why = kernel.available()
    if not ok:
        pytest.skip(why)
    test, result = _run(path)
    r0, refused = kernel.run_data_test(test.insns, test.mem, test.maps)
    if r0 is None:
        # The kernel verifier refuses the program (memory errors, endless loops, dead code
        # the kernel will not load, division by an immediate zero...): nothing to compare.
        pytest.skip(f"kernel refuses: {refused}")
    assert result.error is None, f"the kernel ran it (r0 = {r0:#x}) but we trapped: {result.error}"
    assert result.r0 == r0


def test_suite_covers_every_instruction_of_the_isa() -> None:
    from cfg import isa
    seen = set()
    for path in FILES:
        for insn in read_data_file(path).insns:
            seen.add((insn.opcode, isa._variant(insn.opcode, insn.src, insn.off, insn.imm)))
    missing = sorted(s.name for key, s in isa.SPECS.items() if key not in seen)
    assert not missing
