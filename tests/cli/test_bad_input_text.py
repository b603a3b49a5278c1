"""Damaged text inputs never give a traceback: assembly listings, YAML verifier tests and .data
test files, mutated from real ones (the disassembly of corpus programs, tests/yaml, tests/data),
either work or raise a `BpfcheckError` with one clear line."""
from __future__ import annotations

import re
from pathlib import Path

import yaml
from hypothesis import strategies as st

from cfg.asm import assemble, disassemble
from cfg.datafile import read_data_file
from cfg.elf import load_object
from cfg.program import Program
from runtime import context, vm
from verifier.yamltest import run_file
from _bad_input_mutators import SMALL_OBJECTS
from test_bad_input_fuzz import quick_and_campaign, run_program, works_or_fails_clearly

TESTS = Path(__file__).resolve().parents[1]
YAML_FILES = sorted((TESTS / "yaml").glob("*.yaml"))
DATA_FILES = sorted((TESTS / "data").glob("*.data"))
# Tokens that tend to break a parser: registers out of range, huge and odd numbers, unknown
# labels and sections, YAML structure, NULs, non-ASCII, unbalanced brackets.
TOKENS = ("r11", "r99", "w12", "%r15", "0xffffffffffffffffff", "-0x8000000000000001",
          "99999999999999999999999", "0x", "-", "+", "goto", "goto LBB0_999", "if r1 > ",
          "LBB0_3:", "*(u64 *)", "*(u8 *)(r10 - 513)", "call", "call -1", "lddw", "ja",
          "= ll", ":", "\t", "\0", "\u00e9", "\ufeff", "[", "]", "(", ")", "{", "}", "---",
          "code:", "pre: [", "post:", "messages: [", "- ", "<start>: |", "test-case:",
          "maps: [{type: 9999999999}]", "options: [", "-- asm", "-- raw", "-- result",
          "-- mem", "-- error", "-- c", "0x1 0x2 0x3", "exit", "r0 = ", "#", ";", "\n\n")
NUMBER = re.compile(r"-?(0x[0-9a-fA-F]+|\d+)")
EDGE_NUMBERS = ("0", "-1", "0x7fffffff", "0x80000000", "0xffffffff", "4294967296",
                "0xffffffffffffffff", "18446744073709551616", "-9223372036854775809", "65536",
                "32768", "-32769", "512", "-513")


@st.composite
def damaged_text(draw, text: str) -> str:
    """`text` with a few edits: spans deleted, lines duplicated or swapped, tokens inserted,
    numbers replaced by edge values."""
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        edit = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "number"]))
        if edit == "delete" and text:
            start = draw(st.integers(0, len(text) - 1))
            text = text[:start] + text[start + draw(st.integers(1, 40)):]
        elif edit == "duplicate":
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif edit == "swap" and len(lines) > 1:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif edit == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif edit == "number":
            found = list(NUMBER.finditer(text))
            if found:
                m = draw(st.sampled_from(found))
                text = text[:m.start()] + draw(st.sampled_from(EDGE_NUMBERS)) + text[m.end():]
    return text


# --- assembly text ------------------------------------------------------------------------

def listings() -> list[tuple[str, str]]:
    """(syntax, text) of the first program of a few corpus objects, in both syntaxes."""
    out = []
    for path in SMALL_OBJECTS[::6]:
        program = load_object(path, target_btf=None).programs[0]
        for syntax in ("llvm", "ubpf"):
            out.append((syntax, "\n".join(disassemble(program.insns, syntax, labels=True))))
    return out


LISTINGS = listings()


@st.composite
def damaged_listing(draw):
    syntax, text = draw(st.sampled_from(LISTINGS))
    return syntax, draw(damaged_text(text))


def assemble_and_run(syntax: str, text: str) -> None:
    run_program(Program(assemble(text, syntax), type="xdp"))


def assembly_assembles_or_fails_clearly(case):
    works_or_fails_clearly(assemble_and_run, *case)


test_damaged_assembly, test_damaged_assembly_campaign = quick_and_campaign(
    assembly_assembles_or_fails_clearly, 60, 5_000, case=damaged_listing())


# --- YAML verifier tests --------------------------------------------------------------------

YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.text(max_size=8),
              st.sampled_from(TOKENS)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6)


@st.composite
def damaged_yaml(draw):
    """One case (a `---` document) of a tests/yaml file, damaged as text, or with a field's
    value replaced by any YAML value (a number where a list belongs, ...)."""
    text = draw(st.sampled_from(YAML_FILES)).read_text()
    cases = [c for c in text.split("\n---\n") if c.strip()]
    case = draw(st.sampled_from(cases))
    doc = yaml.safe_load(case)
    if isinstance(doc, dict) and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(doc) + ["maps", "observe", "options"]))
        if isinstance(doc.get(key), list) and doc[key] and draw(st.booleans()):
            doc[key][draw(st.integers(0, len(doc[key]) - 1))] = draw(YAML_VALUES)
        else:
            doc[key] = draw(YAML_VALUES)
        return yaml.safe_dump(doc)
    return draw(damaged_text(case))


def run_yaml(tmp_dir: Path, text: str) -> None:
    path = tmp_dir / "case.yaml"
    path.write_text(text, encoding="utf-8")
    run_file(path)


def yaml_tests_run_or_fail_clearly(tmp_path_factory, text):
    works_or_fails_clearly(run_yaml, tmp_path_factory.mktemp("yaml"), text)


test_damaged_yaml_tests, test_damaged_yaml_campaign = quick_and_campaign(
    yaml_tests_run_or_fail_clearly, 60, 5_000, text=damaged_yaml())


# --- .data test files ------------------------------------------------------------------------

@st.composite
def damaged_data_file(draw):
    return draw(damaged_text(draw(st.sampled_from(DATA_FILES)).read_text()))


def run_data(tmp_dir: Path, text: str) -> None:
    """What `bpfcheck run FILE.data` does with the interpreter."""
    path = tmp_dir / "case.data"
    path.write_text(text, encoding="utf-8")
    test = read_data_file(path)
    if test.load_error is None:
        program = Program(test.insns, name=test.name, maps=getattr(test, "maps", ()))
        ctx = context.raw_memory(test.mem) if test.mem else context.Context("none")
        vm.Machine(program, checked=True).run(ctx, budget=20_000)


def data_files_run_or_fail_clearly(tmp_path_factory, text):
    works_or_fails_clearly(run_data, tmp_path_factory.mktemp("data"), text)


test_damaged_data_files, test_damaged_data_files_campaign = quick_and_campaign(
    data_files_run_or_fail_clearly, 60, 5_000, text=damaged_data_file())
