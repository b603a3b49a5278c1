"""The corpus manifest agrees with the C sources and the committed objects."""

from __future__ import annotations

import importlib.util
import struct

import pytest
from elftools.elf.elffile import ELFFile

import _manifest_checks as checks

CORPUS = checks.CORPUS
EM_BPF = checks.EM_BPF
KINDS = {
    "packet-bounds", "stack-bounds", "ctx-access", "map-value-bounds", "null-deref",
    "uninit-register", "uninit-stack", "pointer-leak", "helper-arg", "termination",
    "pointer-arith", "exit-value", "invalid-memory",
}
TYPES = {"xdp", "sched_cls", "socket_filter", "kprobe", "tracepoint", "cgroup_skb"}
KERNEL = {"accept", "reject", "not-loadable"}



PROGRAMS = checks.manifest("linux")
OBJECTS = sorted({p["object"] for p in PROGRAMS})


_id = checks.entry_id


def test_corpus_size_and_mix() -> None:
    rejects = [p for p in PROGRAMS if p["verdict"] == "reject"]
    v4 = {p["object"] for p in PROGRAMS if p["cpu"] == "v4"}
    assert len(PROGRAMS) >= 45
    assert len(rejects) >= 16
    assert len(v4) >= 6
    assert {p["type"] for p in PROGRAMS} == TYPES
    assert {p["kind"] for p in rejects} == KINDS, "every error kind has an unsafe example"


def test_entries_are_unique_and_well_formed() -> None:
    keys = [(p["object"], p["section"], p["function"]) for p in PROGRAMS]
    assert len(keys) == len(set(keys))
    for p in PROGRAMS:
        assert p["verdict"] in {"accept", "reject"}, _id(p)
        assert p["type"] in TYPES, _id(p)
        assert p["platform"] == "linux"
        assert p["description"].strip(), _id(p)
        if p["verdict"] == "reject":
            assert p["kind"] in KINDS and isinstance(p["line"], int), _id(p)
        else:
            assert "kind" not in p and "line" not in p, _id(p)
        for field in ("kernel", "kernel_unprivileged"):
            assert p.get(field, "accept") in KERNEL, _id(p)


def test_every_source_is_in_the_manifest() -> None:
    checks.every_source_is_in_the_manifest(PROGRAMS, "src", "build")


@pytest.mark.parametrize("obj", OBJECTS)
def test_object_has_the_listed_sections_and_functions(obj: str) -> None:
    with (CORPUS / obj).open("rb") as fh:
        elf = ELFFile(fh)
        symtab = elf.get_section_by_name(".symtab")
        for p in (p for p in PROGRAMS if p["object"] == obj):
            index = elf.get_section_index(p["section"])
            assert index is not None, f"{obj} has no section {p['section']}"
            syms = symtab.get_symbol_by_name(p["function"]) or []
            assert any(s["st_shndx"] == index and s["st_info"]["type"] == "STT_FUNC"
                       for s in syms), f"{obj}: {p['function']} not a function of {p['section']}"


def _v4_opcodes(code: bytes) -> set[str]:
    """Names of the ISA v4 instruction forms present in a program's bytes."""
    found, i = set(), 0
    while i + 8 <= len(code):
        op, off = code[i], struct.unpack_from("<h", code, i + 2)[0]
        cls, alu_op = op & 7, op & 0xF0
        if op == 0x18:  # lddw takes two slots
            i += 16
            continue
        if cls in (4, 7) and alu_op in (0x30, 0x90) and off == 1:
            found.add("sdiv/smod")
        elif cls in (4, 7) and alu_op == 0xB0 and off in (8, 16, 32):
            found.add("movsx")
        elif cls == 1 and op & 0xE0 == 0x80:
            found.add("ldsx")
        elif op == 0xD7:
            found.add("bswap")
        elif op == 0x06:
            found.add("gotol")
        i += 8
    return found


def test_v4_objects_use_v4_instructions() -> None:
    seen: set[str] = set()
    for obj in sorted({p["object"] for p in PROGRAMS if p["cpu"] == "v4"}):
        with (CORPUS / obj).open("rb") as fh:
            elf = ELFFile(fh)
            ops = set()
            for sec in elf.iter_sections():
                if sec["sh_flags"] & 0x4 and sec["sh_type"] == "SHT_PROGBITS":
                    ops |= _v4_opcodes(sec.data())
        assert ops, f"{obj} is built for v4 but uses no v4 instruction"
        seen |= ops
    assert seen == {"sdiv/smod", "movsx", "ldsx", "bswap", "gotol"}


def test_generic_objects_use_no_v4_instructions() -> None:
    for obj in sorted({p["object"] for p in PROGRAMS if p["cpu"] == "generic"}):
        with (CORPUS / obj).open("rb") as fh:
            elf = ELFFile(fh)
            for sec in elf.iter_sections():
                if sec["sh_flags"] & 0x4 and sec["sh_type"] == "SHT_PROGBITS":
                    assert not _v4_opcodes(sec.data()), obj


def test_recorded_kernel_verdicts_agree() -> None:
    for p in PROGRAMS:
        if "kernel" not in p:
            continue
        seen = {p["kernel"], p.get("kernel_unprivileged")}
        if p["verdict"] == "accept":
            assert p["kernel"] == "accept", _id(p)
        else:
            assert "reject" in seen, _id(p)


def test_manifest_is_generated_from_the_sources() -> None:
    spec = importlib.util.spec_from_file_location("gen_manifest", CORPUS / "gen_manifest.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.entries() == PROGRAMS, "run: python3 corpus/gen_manifest.py"


@pytest.mark.parametrize("entry", PROGRAMS, ids=_id)
def test_source_defines_the_program(entry: dict) -> None:
    checks.source_defines_the_program(entry)


@pytest.mark.parametrize("entry", [p for p in PROGRAMS if p["verdict"] == "reject"], ids=_id)
def test_reject_line_holds_its_bug_marker(entry: dict) -> None:
    checks.reject_line_holds_its_bug_marker(entry)


def test_every_bug_marker_has_an_entry() -> None:
    checks.every_bug_marker_has_an_entry(PROGRAMS, "src")


@pytest.mark.parametrize("obj", OBJECTS)
def test_object_is_a_bpf_elf(obj: str) -> None:
    checks.object_is_a_bpf_elf(obj)
