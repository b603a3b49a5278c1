"""Bad input never gives a traceback: damaged corpus objects, raw instruction bytes and target
BTF files fed through the library entry points the CLI uses (load -> sections / disasm ->
CFG -> analysis -> interpreter run with a small budget). Each either works or raises a
`BpfcheckError` whose message is one clear line; any other exception is a bug.

The normal run is a few seconds (derandomized, so CI sees the same examples every time); the
`slow` tests are the long campaign: BPFCHECK_FUZZ_EXAMPLES sets their size and
BPFCHECK_FUZZ_SEED (an integer) explores new examples instead of the derandomized ones.
"""
from __future__ import annotations

import contextlib
import io
import os
import re

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from cfg.elf import load_object
from cfg.errors import BpfcheckError
from cfg.graph import build
from cfg.isa import decode
from cfg.program import Program
from runtime import vm
from verifier.analyze import Options, analyze
from verifier.cli import main
from verifier.cli.disasm import listing
from verifier.cli.sections import describe, render_text
from _bad_input_mutators import (CORPUS, MUTATORS, SMALL_OBJECTS, btf_array_size,
                                 btf_header_field, btf_type_record, damaged_objects,
                                 damaged_section, instruction_bytes, jump_out_of_range, layout,
                                 lddw_damage)

# A Python exception type inside a message: a check we lack, wrapped by a catch-all.
WRAPPED_EXCEPTION = re.compile(
    r"\b(IndexError|KeyError|TypeError|ValueError|AttributeError|OverflowError|AssertionError|"
    r"RecursionError|ZeroDivisionError|UnicodeDecodeError|EOFError|MemoryError|struct\.error|"
    r"error|ELFError|ELFParseError)\b: ")
RUN_BUDGET = 20_000
ANALYSIS = Options(termination=True, max_iterations=5_000)


def assert_clear(exc: BpfcheckError) -> None:
    message = str(exc)
    assert message.strip(), f"empty message from {type(exc).__name__}"
    assert "\n" not in message, f"message of several lines: {message!r}"
    assert not WRAPPED_EXCEPTION.search(message), f"unclear message: {message!r}"


def run_program(program: Program) -> None:
    """What `bpfcheck cfg`, `verify` and `run` do with one loaded program."""
    listing(program.insns)
    build(program)
    analyze(program, ANALYSIS)
    vm.run(program, budget=RUN_BUDGET, ctx=vm.make_context(program_type=program.type))


def load_and_run(data: bytes, target_btf=None) -> None:
    obj = load_object("fuzz.o", data, target_btf=target_btf)
    describe(obj)
    render_text(obj)
    for program in obj.programs:
        run_program(program)


def works_or_fails_clearly(action, *args) -> None:
    try:
        action(*args)
    except BpfcheckError as exc:
        assert_clear(exc)


def campaign(examples: int):
    """Settings for a long run: BPFCHECK_FUZZ_EXAMPLES / BPFCHECK_FUZZ_SEED override."""
    examples = int(os.environ.get("BPFCHECK_FUZZ_EXAMPLES", examples))
    chosen = os.environ.get("BPFCHECK_FUZZ_SEED")

    def wrap(test):
        test = settings(max_examples=examples, deadline=None, database=None,
                        derandomize=chosen is None,
                        suppress_health_check=list(HealthCheck))(test)
        return seed(int(chosen))(test) if chosen is not None else test
    return wrap


def quick(examples: int) -> settings:
    """The normal run: a few examples, the same ones every time."""
    return settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def quick_and_campaign(prop, examples: int, campaign_examples: int, **strategies):
    """Two tests of one property: the quick one and its `slow` campaign."""
    return (quick(examples)(given(**strategies)(prop)),
            pytest.mark.slow(campaign(campaign_examples)(given(**strategies)(prop))))


# --- damaged objects ---------------------------------------------------------------------

@pytest.mark.parametrize("mutator", sorted(MUTATORS))
@quick(12)
@given(data=st.data())
def test_each_kind_of_damage_loads_or_fails_clearly(mutator, data):
    path = data.draw(st.sampled_from(SMALL_OBJECTS))
    damaged = MUTATORS[mutator](path.read_bytes(), layout(path), data.draw)
    works_or_fails_clearly(load_and_run, damaged)


# With `own_target`, CO-RE relocations are applied (not only parsed) against the undamaged
# object's own BTF, so the run does not depend on the machine's kernel.
@quick(60)
@given(damaged_objects(), st.booleans())
def test_combined_damage_loads_or_fails_clearly(case, own_target):
    path, _names, damaged = case
    works_or_fails_clearly(load_and_run, damaged, str(path) if own_target else None)


@pytest.mark.slow
@campaign(20_000)
@given(damaged_objects(sorted(CORPUS.glob("*.o")), max_mutations=4), st.booleans())
def test_damaged_corpus_campaign(case, own_target):
    path, _names, damaged = case
    works_or_fails_clearly(load_and_run, damaged, str(path) if own_target else None)


# --- raw instruction bytes (disasm and cfg take them without an ELF) -----------------------

CODE_DAMAGE = (instruction_bytes, lddw_damage, jump_out_of_range)


RAW_TYPES = ("xdp", "socket_filter", "kprobe", "sched_cls", "cgroup_skb", "tracepoint")


def raw_program(blob: bytes, program_type: str = "xdp") -> None:
    program = Program(decode(blob), type=program_type)
    run_program(program)


@st.composite
def damaged_code(draw):
    _path, code = damaged_section(draw, SMALL_OBJECTS, CODE_DAMAGE,
                                  lambda lay: max(lay.code, key=lambda s: s.size))
    cut = draw(st.one_of(st.none(), st.integers(0, len(code))))
    return code if cut is None else code[:cut]


def raw_instructions_decode_or_fail_clearly(blob, program_type):
    works_or_fails_clearly(raw_program, blob, program_type)


test_damaged_raw_instructions, test_damaged_raw_instructions_campaign = quick_and_campaign(
    raw_instructions_decode_or_fail_clearly, 60, 5_000, blob=damaged_code(),
    program_type=st.sampled_from(RAW_TYPES))


# --- a damaged target BTF (`--btf`) for an object with CO-RE relocations ---------------------

CORE_OBJECT = CORPUS / "kprobe_core_facts.o"
BTF_SOURCES = [CORE_OBJECT, CORPUS / "kprobe_core_task.o", CORPUS / "xdp_map_in_map.o"]
BTF_DAMAGE = (btf_header_field, btf_type_record, btf_array_size)


@st.composite
def damaged_btf(draw):
    """Raw BTF (the `.BTF` of a corpus object, damaged), as a vmlinux file would hold it."""
    _path, btf = damaged_section(draw, BTF_SOURCES, BTF_DAMAGE,
                                 lambda lay: lay.named(".BTF")[0])
    return btf


def load_against(tmp_dir, blob: bytes) -> None:
    target = tmp_dir / "target.btf"
    target.write_bytes(blob)
    load_and_run(CORE_OBJECT.read_bytes(), target_btf=str(target))


def target_btf_fails_clearly(tmp_path_factory, blob):
    works_or_fails_clearly(load_against, tmp_path_factory.mktemp("btf"), blob)


test_damaged_target_btf, test_damaged_target_btf_campaign = quick_and_campaign(
    target_btf_fails_clearly, 40, 3_000, blob=damaged_btf())


# --- the commands themselves, in process ----------------------------------------------------------

COMMANDS = (["sections"], ["sections", "--format", "json"], ["disasm"], ["disasm", "--labels"],
            ["cfg"], ["cfg", "--format", "json"], ["cfg", "--inline"],
            ["run", "--engine", "interp", "--budget", "20000"])


def command_refuses_in_one_line(folder, command: list[str], damaged: bytes) -> None:
    """`bpfcheck COMMAND damaged.o`: exit 0 or 1, or 2 with one line on stderr (an exception
    escaping main() is the traceback a user would see)."""
    path = folder / "damaged.o"
    path.write_bytes(damaged)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*command, str(path)])
    assert code in (0, 1, 2)
    if code == 2:
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"bpfcheck: error: {path}"), lines


def commands_refuse_in_one_line(tmp_path_factory, case, command):
    _path, _names, damaged = case
    command_refuses_in_one_line(tmp_path_factory.mktemp("cli"), command, damaged)


test_commands_on_damaged_objects, test_commands_on_damaged_objects_campaign = \
    quick_and_campaign(commands_refuse_in_one_line, 30, 3_000, case=damaged_objects(),
                       command=st.sampled_from(COMMANDS))
