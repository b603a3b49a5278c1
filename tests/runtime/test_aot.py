"""The AOT engine (eBPF -> C -> shared library): same results as the interpreter on every
`.data` test that runs to completion, on random ALU programs and on the Linux corpus; readable C;
a clear error without a C compiler."""
from __future__ import annotations

import glob
import os
import pathlib
import re
import struct

import pytest
from hypothesis import given, settings, strategies as st

from cfg import isa
from cfg.asm import assemble
from cfg.datafile import read_data_file
from cfg.elf import load_object
from cfg.errors import BpfcheckError, ProgramError
from cfg.program import Program
from runtime.packets import samples
from runtime import aot, vm
from runtime.maps import MapSet, ProgArrayMap

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = sorted((ROOT / "tests" / "data").glob("*.data"))


def _outcome(result: vm.Result) -> tuple:
    error = None if result.error is None else re.sub(r"0x[0-9a-f]+", "ADDR", result.error)
    return (None if result.error else result.r0, error, result.mem)


def _runnable():
    """The .data tests the interpreter runs to completion (the AOT engine, like the JIT, runs
    programs that do not trap: a wild access in native code is not caught)."""
    out = []
    for path in DATA:
        test = read_data_file(path)
        if test.load_error is None and test.error is None:
            out.append(pytest.param(path, id=path.stem))
    return out


RUNNABLE = _runnable()


def test_most_of_the_suite_is_compared():
    assert len(RUNNABLE) >= 0.7 * len(DATA)


@pytest.mark.parametrize("path", RUNNABLE)
def test_data_suite_matches_the_interpreter(path):
    test = read_data_file(path)
    program = Program(test.insns, maps=test.maps)
    expected = vm.run(program, mem=test.mem or None, budget=1_000_000)
    assert expected.error is None, expected.error
    got = aot.AotMachine(program).run(vm.make_context(mem=test.mem or None))
    assert _outcome(got) == _outcome(expected)


# --- random programs --------------------------------------------------------------------------
@st.composite
def alu_program(draw):
    """Random ALU / jump programs over r0-r5 in a counted loop, with 64-bit constants,
    both widths, both source forms, signed division forms and byte swaps."""
    insns = [isa.lddw(r, draw(st.integers(0, (1 << 64) - 1))) for r in range(6)]
    body = []
    for _ in range(draw(st.integers(1, 20))):
        cls = draw(st.sampled_from([isa.CLS_ALU, isa.CLS_ALU64]))
        code = draw(st.sampled_from(list(isa.ALU_OP_NAMES)))
        dst, src = draw(st.integers(0, 5)), draw(st.integers(0, 5))
        variant = 1 if code in (isa.ALU_DIV, isa.ALU_MOD) and draw(st.booleans()) else 0
        if draw(st.booleans()):
            body.append(isa.Insn(cls | isa.SRC_X | code, dst, src, variant, 0))
        else:
            imm = draw(st.sampled_from([0, 1, -1, 7, -(1 << 31), (1 << 31) - 1])
                       | st.integers(-(1 << 31), (1 << 31) - 1))
            if code in (isa.ALU_LSH, isa.ALU_RSH, isa.ALU_ARSH):
                imm &= 31 if cls == isa.CLS_ALU else 63
            body.append(isa.Insn(cls | code, dst, 0, variant, imm))
        if draw(st.integers(0, 5)) == 0:
            body.append(isa.Insn(isa.CLS_ALU64 | isa.ALU_END, dst, 0, 0,
                                 draw(st.sampled_from([16, 32, 64]))))
        if draw(st.integers(0, 3)) == 0:
            jcls = draw(st.sampled_from([isa.CLS_JMP, isa.CLS_JMP32]))
            jop = draw(st.sampled_from(list(isa.JMP_OP_NAMES)))
            if draw(st.booleans()):
                body.append(isa.Insn(jcls | isa.SRC_X | jop, draw(st.integers(0, 5)),
                                     draw(st.integers(0, 5)), 1, 0))
            else:
                body.append(isa.Insn(jcls | jop, draw(st.integers(0, 5)), 0, 1,
                                     draw(st.integers(-(1 << 31), (1 << 31) - 1))))
            body.append(isa.Insn(isa.CLS_ALU64 | isa.ALU_ADD, 0, 0, 0, 1))
    loop = [isa.Insn(isa.CLS_ALU64 | isa.ALU_MOV, 9, 0, 0, draw(st.integers(1, 3)))]
    tail = [isa.Insn(isa.CLS_ALU64 | isa.ALU_SUB, 9, 0, 0, 1),
            isa.Insn(isa.CLS_JMP | isa.JMP_JNE, 9, 0, -(len(body) + 2), 0),
            isa.Insn(isa.CLS_ALU64 | isa.SRC_X | isa.ALU_XOR, 0, 1, 0, 0),
            isa.Insn(isa.CLS_ALU64 | isa.SRC_X | isa.ALU_ADD, 0, 2, 0, 0),
            isa.Insn(isa.CLS_JMP | isa.JMP_EXIT)]
    return Program(insns + loop + body + tail)


@settings(max_examples=25, deadline=None)
@given(program=alu_program())
def test_random_alu_programs_match_the_interpreter(program):
    expected = vm.run(program)
    assert expected.error is None
    assert aot.AotMachine(program).run(vm.make_context()).r0 == expected.r0


# --- the Linux corpus ---------------------------------------------------------------------
PACKETS = list(samples().values())
RUNNABLE_TYPES = ("xdp", "sched_cls", "socket_filter")


def _corpus():
    out = []
    for path in sorted(glob.glob(str(ROOT / "corpus" / "build" / "*.o"))):
        name = os.path.basename(path)
        if name.startswith("bad_"):
            continue
        try:
            obj = load_object(path)
        except BpfcheckError:
            continue
        for i, p in enumerate(obj.programs):
            if p.type in RUNNABLE_TYPES and not p.core_relocs:
                out.append(pytest.param(path, i, id=f"{name}:{p.name}"))
    return out


def _corpus_runs(engine, path: str, index: int) -> list[tuple]:
    obj = load_object(path)
    program = obj.programs[index]
    others = [p for p in obj.programs if p.type == program.type]
    maps = MapSet(program.maps)
    for m in maps:
        if isinstance(m, ProgArrayMap):
            for slot in range(min(8, m.max_entries)):
                m.set_program(slot, others[slot % len(others)])
    machine = engine(program, maps)
    out = []
    for packet in PACKETS:
        res = machine.run(vm.make_context(packet=packet, program_type=program.type))
        out.append((res.r0, res.error, res.packet, maps.dump(), res.trace_output))
    return out


def _engines():
    from runtime.jit.native import NativeMachine, available
    from runtime.jit.python import PyJitMachine

    out = [pytest.param(aot.AotMachine, id="aot"), pytest.param(PyJitMachine, id="pyjit")]
    if available()[0]:
        out.append(pytest.param(NativeMachine, id="jit"))
    return out


@pytest.mark.parametrize("engine", _engines())
@pytest.mark.parametrize("path,index", _corpus())
def test_corpus_program_matches_the_interpreter(engine, path, index):
    """Every engine gives the interpreter's r0, packet, maps and trace output on each sample
    packet (maps persist across the runs of one machine, so their history is compared too)."""
    expected = _corpus_runs(vm.Machine, path, index)
    if any(error for _, error, *_ in expected):
        pytest.skip("the interpreter traps on one of the sample packets")
    assert _corpus_runs(engine, path, index) == expected


# --- the translation ----------------------------------------------------------------------
CALLS = """
r1 = 6
call double
r6 = r0
r1 = 5
call double
r0 += r6
exit
double:
r0 = r1
r0 += r1
exit
"""


def test_translation_is_readable_c_with_one_function_per_ebpf_function():
    source = aot.translate(Program(assemble(CALLS)))
    text = source.text
    assert text.count("static uint64_t fn_") == 4        # two prototypes, two definitions
    assert "uint64_t bpf_prog(uint64_t r1, uint64_t r2" in text
    assert "/* 4: call" in text and "r0 = fn_7(" in text
    assert source.helpers == () and source.lddw == ()
    assert aot.AotMachine(Program(assemble(CALLS))).run().r0 == 22


def test_labels_helpers_and_maps_go_through_the_env():
    text = """
    r1 = 0
    *(u32 *)(r10 - 4) = r1
    r1 = map_by_idx(0)
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto out
    r0 = *(u64 *)(r0 + 0)
    out:
    exit
    """
    from cfg.program import MapDef
    program = Program(assemble(text), maps=(MapDef("a", 2, 4, 8, 1),))
    source = aot.translate(program)
    assert source.helpers == (1,) and len(source.lddw) == 1
    assert "env->helpers[0]" in source.text and "env->lddw[0]" in source.text
    assert re.search(r"goto L_(\d+);", source.text).group(1) + ":;" in source.text
    machine = aot.AotMachine(program)
    machine.maps[0].update(b"\0" * 4, struct.pack("<Q", 77))
    assert machine.run().r0 == 77


def test_same_source_builds_once(tmp_path):
    source = aot.translate(Program(assemble("r0 = 1\nexit")))
    first = aot.build(source, tmp_path)
    mtime = first.stat().st_mtime_ns
    assert aot.build(source, tmp_path) == first and first.stat().st_mtime_ns == mtime


def test_no_c_compiler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    with pytest.raises(BpfcheckError, match="C compiler"):
        aot.compiler()
    assert aot.available()[0] is False
    with pytest.raises(BpfcheckError, match="C compiler"):
        aot.AotMachine(Program(assemble("r0 = 1\nexit")))


def test_untranslatable_programs_are_program_errors():
    with pytest.raises(ProgramError, match="kfunc"):
        aot.translate(Program(assemble("call runtime 42\nexit", syntax="ubpf")))
    with pytest.raises(ProgramError, match="no instruction of this function"):
        aot.translate(Program(assemble("mov %r1, 1\ncall local f\nja +1\nf:\nmov %r0, 1\nexit",
                                       syntax="ubpf")))


def test_tail_call_number_is_a_parameter():
    program = Program(assemble("call 5\nexit"))
    assert "tail call" in aot.translate(program, tail_call_helper=5).text
    assert "tail call" not in aot.translate(program).text


# --- the command line ---------------------------------------------------------------------
def test_cli_compile_writes_c_and_a_library(tmp_path, capsys):
    from verifier.cli import main
    obj = ROOT / "corpus" / "windows" / "build" / "xdp_tail_dispatch.o"
    out, lib = tmp_path / "prog.c", tmp_path / "prog.so"
    assert main(["compile", str(obj), "--function", "xdp_tail_dispatch", "--platform",
                 "windows", "-o", str(out), "--shared", str(lib)]) == 0
    text = out.read_text()
    assert "uint64_t bpf_prog(" in text and "tail call" in text and lib.stat().st_size > 0
    import ctypes
    assert ctypes.CDLL(str(lib)).bpf_prog  # the library exports the entry point


def test_cli_compile_bad_input_is_a_one_line_error(tmp_path, capsys):
    from verifier.cli import main
    obj = ROOT / "corpus" / "windows" / "build" / "xdp_tail_dispatch.o"
    assert main(["compile", str(obj), "--section", "nope"]) == 2
    assert main(["compile", str(tmp_path / "missing.o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("bpfcheck: error:") for line in err)


def test_cli_run_and_bench_with_the_aot_engine(capsys):
    import json
    from verifier.cli import main
    assert main(["run", str(ROOT / "tests" / "data" / "loop_sum_1_to_100.data"), "--engine", "aot",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["r0"] == 5050
    assert main(["bench", "run", "--engine", "aot", "--engine", "interp", "--n", "1000",
                 "--repeat", "1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["engine"] for r in rows if r["workload"] == "per call"} == {"aot", "interp"}
    by = {(r["engine"], r["workload"]): r for r in rows if r["workload"] != "per call"}
    for (engine, workload), row in by.items():
        twin = by[("interp" if engine == "aot" else "aot", workload)]
        assert row["instructions"] == twin["instructions"] > 0 and row["r0"] == twin["r0"]
