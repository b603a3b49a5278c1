"""The portable JIT's two dialects (CPython and numba) against the interpreter: every ALU
operation at both widths and every jump condition on edge values, register and immediate
forms; the numba code never computes in floating point; dialect selection; tier-up."""
from __future__ import annotations

import itertools
import pathlib
import re

import pytest

from cfg import isa
from cfg.errors import BpfcheckError
from cfg.program import Program
from runtime import vm
from runtime.jit import numba_support
from runtime.jit import python as pyjit
from runtime.jit.python import PyJitMachine

NUMBA, WHY = numba_support.available()
needs_numba = pytest.mark.skipif(not NUMBA, reason=WHY or "numba")
DIALECTS = ["cpython", pytest.param("numba", marks=needs_numba)]

M64 = (1 << 64) - 1
INT_MIN, INT_MAX = 1 << 63, (1 << 63) - 1
EDGES = [0, 1, M64, INT_MIN, INT_MAX, 0x80000000, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF80000000,
         2, 3, 7, 31, 32, 63, 64, 65, 0x123456789ABCDEF0]
IMMS = [0, 1, -1, -(1 << 31), (1 << 31) - 1, 31, 63, 64, 65, -7]
PAIRS = list(itertools.product(EDGES, repeat=2))

ALU = isa.ALU_OP_NAMES
JMP = {code: name for code, name in isa.JMP_OP_NAMES.items()}
SHIFTS = (isa.ALU_LSH, isa.ALU_RSH, isa.ALU_ARSH)


def _ins(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> isa.Insn:
    return isa.Insn(op, dst, src, off, imm)


def _valid(insn: isa.Insn) -> bool:
    try:
        isa.check(insn)
        return True
    except BpfcheckError:
        return False


def _over_pairs(body: list[isa.Insn], slots: int) -> Program:
    """A loop over the (a, b) records of `mem` (r6 -> record, r7 counts): each record is
    a, b, then `slots` result words that `body` fills (r1 = a, r2 = b on entry)."""
    record = 8 * (2 + slots)
    head = [_ins(isa.CLS_ALU64 | isa.SRC_X | isa.ALU_MOV, 6, 1),
            _ins(isa.CLS_ALU64 | isa.ALU_MOV, 7, 0, 0, len(PAIRS))]
    loop = [*body,
            _ins(isa.CLS_ALU64 | isa.ALU_ADD, 6, 0, 0, record),
            _ins(isa.CLS_ALU64 | isa.ALU_SUB, 7, 0, 0, 1)]
    back = _ins(isa.CLS_JMP | isa.JMP_JNE, 7, 0, -(len(loop) + 1), 0)
    return Program(head + loop + [back, _ins(isa.CLS_ALU64 | isa.ALU_MOV, 0, 0, 0, 7),
                                  _ins(isa.CLS_JMP | isa.JMP_EXIT)])


def _records(slots: int) -> bytes:
    return b"".join(a.to_bytes(8, "little") + b.to_bytes(8, "little") + bytes(8 * slots)
                    for a, b in PAIRS)


def _load_ab() -> list[isa.Insn]:
    return [_ins(isa.CLS_LDX | isa.MODE_MEM | isa.SIZE_DW, 1, 6, 0),
            _ins(isa.CLS_LDX | isa.MODE_MEM | isa.SIZE_DW, 2, 6, 8)]


def _alu_program(width: int) -> tuple[Program, int]:
    """Every ALU operation of `width` (and its signed variant), register form and each
    immediate of IMMS, on every pair of EDGES."""
    cls = isa.CLS_ALU64 if width == 64 else isa.CLS_ALU
    body, slot = [], 0
    for code in ALU:
        for variant in ((0, 1) if code in (isa.ALU_DIV, isa.ALU_MOD) else (0,)):
            forms = [_ins(cls | isa.SRC_X | code, 1, 2, variant)]
            forms += [_ins(cls | code, 1, 0, variant, imm) for imm in IMMS]
            for op in forms:
                if not _valid(op):
                    continue
                body += [*_load_ab(), op,
                         _ins(isa.CLS_STX | isa.MODE_MEM | isa.SIZE_DW, 6, 1, 16 + 8 * slot)]
                slot += 1
    for op in ([_ins(cls | isa.ALU_NEG, 1)]
               + [_ins(cls | isa.SRC_X | isa.ALU_MOV, 1, 2, bits) for bits in (8, 16, 32)]
               + [_ins(isa.CLS_ALU | src | isa.ALU_END, 1, 0, 0, bits) for src in
                  (isa.SRC_K, isa.SRC_X) for bits in (16, 32, 64) if width == 64]
               + [_ins(isa.CLS_ALU64 | isa.ALU_END, 1, 0, 0, bits) for bits in (16, 32, 64)
                  if width == 64]):
        if _valid(op):
            body += [*_load_ab(), op,
                     _ins(isa.CLS_STX | isa.MODE_MEM | isa.SIZE_DW, 6, 1, 16 + 8 * slot)]
            slot += 1
    return _over_pairs(body, slot), slot


def _jmp_program(width: int) -> tuple[Program, int]:
    """Every jump condition of `width` (signed and unsigned), register form and each
    immediate of IMMS, on every pair of EDGES: the record's slot gets 1 when taken."""
    cls = isa.CLS_JMP if width == 64 else isa.CLS_JMP32
    body, slot = [], 0
    for code in JMP:
        forms = [_ins(cls | isa.SRC_X | code, 1, 2, 1)]
        forms += [_ins(cls | code, 1, 0, 1, imm) for imm in IMMS]
        for op in forms:
            if not _valid(op):
                continue
            body += [*_load_ab(), _ins(isa.CLS_ALU64 | isa.ALU_MOV, 3, 0, 0, 0), op,
                     _ins(isa.CLS_JMP | isa.JMP_JA, 0, 0, 1),
                     _ins(isa.CLS_ALU64 | isa.ALU_MOV, 3, 0, 0, 1),
                     _ins(isa.CLS_STX | isa.MODE_MEM | isa.SIZE_DW, 6, 3, 16 + 8 * slot)]
            slot += 1
    return _over_pairs(body, slot), slot


def _same_as_interpreter(program: Program, mem: bytes, dialect: str) -> PyJitMachine:
    expected = vm.run(program, mem=mem)
    assert expected.error is None, expected.error
    machine = PyJitMachine(program, dialect=dialect)
    got = machine.run(vm.make_context(mem=mem))
    assert (got.r0, got.error, got.steps) == (expected.r0, None, expected.steps)
    if got.mem != expected.mem:  # name the first differing result for the failure message
        words = [(int.from_bytes(got.mem[i:i + 8], "little"),
                  int.from_bytes(expected.mem[i:i + 8], "little"), i)
                 for i in range(0, len(mem), 8)]
        g, e, at = next(w for w in words if w[0] != w[1])
        pytest.fail(f"{dialect}: word {at // 8} is {g:#x}, the interpreter says {e:#x}")
    return machine


# numba compiles these 500-instruction programs (twice: cached and typed) for minutes
@pytest.mark.parametrize("dialect", ["cpython", pytest.param("numba", marks=[
    needs_numba, pytest.mark.slow])])
@pytest.mark.parametrize("width", [64, 32])
def test_every_alu_operation_on_edge_values(dialect, width):
    program, slots = _alu_program(width)
    assert slots > 14 * len(IMMS) // 2  # the table above really covers the operations
    machine = _same_as_interpreter(program, _records(slots), dialect)
    if dialect == "numba":
        _assert_no_float(machine)


# numba compiles this 850-instruction program for a minute or more on a busy machine
@pytest.mark.parametrize("dialect", ["cpython", pytest.param("numba", marks=[
    needs_numba, pytest.mark.slow])])
@pytest.mark.parametrize("width", [64, 32])
def test_every_jump_condition_on_edge_values(dialect, width):
    program, slots = _jmp_program(width)
    assert slots >= len(JMP) * 2
    _same_as_interpreter(program, _records(slots), dialect)


def _assert_no_float(machine: PyJitMachine) -> None:
    """No variable of a numba-compiled program is a float (int64 op uint64 gives float64)."""
    unit = machine._units[machine._pid(machine.program)]
    assert unit.numba
    fresh = numba_support.compile_module(unit.source, cache=False)  # cached code has no types
    (overload,) = fresh.overloads.values()
    types_seen = {str(t) for t in overload.type_annotation.typemap.values()}
    assert types_seen and not any("float" in t for t in types_seen), types_seen


def test_edge_values_include_the_division_corner_cases():
    assert (INT_MIN, M64) in PAIRS and (7, 0) in PAIRS  # INT_MIN / -1 and x / 0
    assert {63, 64, 65} <= set(EDGES) and {63, 64, 65} <= set(IMMS)


# --- dialect selection and tier-up ------------------------------------------------------------
COUNT_LOOP = [_ins(isa.CLS_ALU64 | isa.ALU_MOV, 0, 0, 0, 0),
              _ins(isa.CLS_ALU64 | isa.ALU_MOV, 1, 0, 0, 50_000),
              _ins(isa.CLS_ALU64 | isa.SRC_X | isa.ALU_ADD, 0, 1),
              _ins(isa.CLS_ALU64 | isa.ALU_SUB, 1, 0, 0, 1),
              _ins(isa.CLS_JMP | isa.JMP_JNE, 1, 0, -3, 0),
              _ins(isa.CLS_JMP | isa.JMP_EXIT)]


def test_the_environment_picks_the_dialect(monkeypatch):
    monkeypatch.setenv("BPFCHECK_PYJIT", "cpython")
    assert PyJitMachine(Program(COUNT_LOOP)).dialect == "cpython"
    monkeypatch.setenv("BPFCHECK_PYJIT", "nonsense")
    with pytest.raises(BpfcheckError, match="BPFCHECK_PYJIT"):
        PyJitMachine(Program(COUNT_LOOP))
    with pytest.raises(BpfcheckError, match="dialect"):
        PyJitMachine(Program(COUNT_LOOP), dialect="fortran")


def test_cpython_dialect_never_compiles_with_numba():
    machine = PyJitMachine(Program(COUNT_LOOP), dialect="cpython")
    result = machine.run()
    assert result.r0 == sum(range(1, 50_001)) and result.steps == 3 + 3 * 50_000
    assert not machine._numba_units


@needs_numba
def test_auto_dialect_tiers_up_a_hot_loop_mid_run():
    machine = PyJitMachine(Program(COUNT_LOOP), dialect="auto")
    assert not machine._numba_units
    result = machine.run()
    assert machine._numba_units, "a 150,000-step run should have been compiled by numba"
    assert result.r0 == sum(range(1, 50_001)) and result.steps == 3 + 3 * 50_000


def test_auto_dialect_keeps_cold_programs_in_cpython():
    program = Program(COUNT_LOOP[:1] + COUNT_LOOP[-1:])
    machine = PyJitMachine(program, dialect="auto")
    for _ in range(3):
        assert machine.run().r0 == 0
    assert not machine._numba_units


@needs_numba
def test_auto_dialect_goes_back_to_cpython_for_a_loop_around_a_helper():
    # numba hands every helper call to the driver: here once per 4 steps, slower than CPython
    from cfg.asm import assemble
    text = ("mov %r6, 30000\nmov %r7, 0\nloop:\ncall 7\nadd %r7, %r0\nsub %r6, 1\n"
            "jne %r6, 0, loop\nmov %r0, %r7\nexit")
    program = Program(assemble(text, "ubpf"))
    machine = PyJitMachine(program, dialect="auto")
    got, expected = machine.run(), vm.run(program)
    assert machine._numba_units, "the hot loop was compiled"
    assert not machine._units[machine._pid(program)].numba, "and went back to CPython"
    assert (got.r0, got.steps) == (expected.r0, expected.steps)


def test_auto_dialect_keeps_programs_too_big_for_numba_in_cpython():
    # a hot loop in a program of more blocks (checked loads) than numba compiles quickly
    load = _ins(isa.CLS_LDX | isa.MODE_MEM | isa.SIZE_B, 2, 6, 0)
    loads = [load] * (pyjit.NUMBA_MAX_BLOCKS + 1)
    program = Program([_ins(isa.CLS_ALU64 | isa.SRC_X | isa.ALU_MOV, 6, 1), *COUNT_LOOP[:2],
                       *loads, *COUNT_LOOP[2:]])
    assert not pyjit.numba_fits(program) and pyjit.numba_fits(Program(COUNT_LOOP))
    machine = PyJitMachine(program, dialect="auto")
    result = machine.run(vm.make_context(mem=b"\x01"))
    assert result.r0 == sum(range(1, 50_001)) and not machine._numba_units


# every budget, before and inside the loop (tests/runtime/test_pyjit_budget.py: other shapes)
@pytest.mark.parametrize("dialect,budget", [
    *(("cpython", b) for b in (3, 4, 5, 6, 7, 100, 1001)),
    *(pytest.param("numba", b, marks=needs_numba) for b in (1, 2, 3, 4, 5, 6, 7, 100, 1001))])
def test_the_budget_ends_where_the_interpreter_ends(dialect, budget):
    program = Program(COUNT_LOOP)
    expected = vm.run(program, budget=budget)
    got = PyJitMachine(program, dialect=dialect).run(budget=budget)
    assert (got.error, got.steps, got.pc) == (expected.error, expected.steps, expected.pc)
    assert expected.error is not None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_fault_reports_the_interpreters_steps_pc_and_r0(dialect):
    program = Program([_ins(isa.CLS_ALU64 | isa.ALU_MOV, 0, 0, 0, 9),
                       _ins(isa.CLS_ALU64 | isa.ALU_MOV, 1, 0, 0, 0),
                       _ins(isa.CLS_ALU64 | isa.ALU_ADD, 0, 0, 0, 1),
                       _ins(isa.CLS_LDX | isa.MODE_MEM | isa.SIZE_W, 2, 1, 4),
                       _ins(isa.CLS_JMP | isa.JMP_EXIT)])
    expected = vm.run(program)
    got = PyJitMachine(program, dialect=dialect).run()
    assert expected.error and "null" in expected.error
    assert (got.r0, got.error, got.steps, got.pc) == \
        (expected.r0, expected.error, expected.steps, expected.pc)


# --- the .data suite in the numba dialect ------------------------------------------------------
DATA = sorted((pathlib.Path(__file__).resolve().parents[1] / "data").glob("*.data"))


def _outcome(result: vm.Result) -> tuple:
    error = None if result.error is None else re.sub(r"0x[0-9a-f]+", "ADDR", result.error)
    return (None if result.error else result.r0, error, result.mem, result.steps)


def _data_matches(path: pathlib.Path, dialect: str) -> None:
    from cfg.datafile import read_data_file
    test = read_data_file(path)
    program = Program(test.insns, maps=test.maps)
    expected = vm.run(program, mem=test.mem or None, budget=200_000)
    got = PyJitMachine(program, dialect=dialect).run(vm.make_context(mem=test.mem or None),
                                                     budget=200_000)
    assert _outcome(got) == _outcome(expected)


# every 12th file in `make test` (numba compiles each program for about half a second)
@needs_numba
@pytest.mark.parametrize("path", DATA[::12], ids=[p.stem for p in DATA[::12]])
def test_data_sample_matches_the_interpreter_in_numba(path):
    _data_matches(path, "numba")


@pytest.mark.slow
@needs_numba
@pytest.mark.parametrize("path", DATA, ids=[p.stem for p in DATA])
def test_every_data_file_matches_the_interpreter_in_numba(path):
    _data_matches(path, "numba")


@pytest.mark.parametrize("path", DATA, ids=[p.stem for p in DATA])
def test_every_data_file_matches_the_interpreter_in_cpython(path):
    _data_matches(path, "cpython")


def test_tier_up_threshold_is_low_enough_for_short_hot_runs():
    # a hot program that runs ~13,000 steps a call must reach numba by its second call
    assert pyjit.TIER_UP_STEPS <= 2 * 13_000


@needs_numba
def test_numba_source_names_no_host_address():
    # map addresses differ between machines; in the source they would defeat the disk cache
    from cfg.asm import assemble
    from cfg.program import MAP_TYPE_IDS, MapDef
    counter = MapDef("count", MAP_TYPE_IDS["array"], 4, 8, 1)
    program = Program(assemble("lddw %r1, map_value(0)+0\nldxdw %r0, [%r1+0]\nadd %r0, 1\n"
                               "stxdw [%r1+0], %r0\nexit", "ubpf"), maps=[counter])
    first, second = (PyJitMachine(program, dialect="numba") for _ in range(2))
    assert first.maps.memory is not second.maps.memory
    assert first.source == second.source and "V[0]" in first.source
    assert [first.run().r0 for _ in range(2)] + [second.run().r0] == [1, 2, 1]
