"""The eBPF for Windows corpus: manifest entries agree with the sources and committed objects.

Same checks as the Linux manifest test (objects exist and are EM_BPF ELF, BUG markers match the
entries, sections and functions are where the manifest says) plus Windows facts read back from
the objects: the header's context layouts (from DWARF) are eBPF for Windows' layouts, programs
call only the helpers their program type has (except the `unknown-helper` ones, which call
exactly one it lacks), legacy maps use the 32-byte Windows map definition.
"""

from __future__ import annotations

import importlib.util
import re
import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

import _manifest_checks as checks

CORPUS = checks.CORPUS
WINDOWS = CORPUS / "windows"
EM_BPF = checks.EM_BPF
KINDS = {
    "packet-bounds", "stack-bounds", "ctx-access", "map-value-bounds", "null-deref",
    "uninit-register", "uninit-stack", "pointer-leak", "helper-arg", "termination",
    "pointer-arith", "exit-value", "invalid-memory", "division-by-zero", "unknown-helper",
    "invalid-call", "pointer-compare",
}
# The bugs the brief asks for (the pointer return may be exit-value; a leak is pointer-leak).
REQUIRED_KINDS = {"unknown-helper", "ctx-access", "null-deref", "packet-bounds", "uninit-stack",
                  "exit-value", "pointer-leak"}
SECTION_TYPES = {
    "xdp": "xdp", "bind": "bind", "sockops": "sock_ops",
    "cgroup/connect4": "cgroup_sock_addr", "cgroup/connect6": "cgroup_sock_addr",
    "cgroup/recv_accept4": "cgroup_sock_addr", "cgroup/recv_accept6": "cgroup_sock_addr",
}
# eBPF for Windows: general helpers 1..32 for every type; program-type helpers from 65536.
GENERAL_HELPERS = set(range(1, 33))
TYPE_HELPERS = {"xdp": {65536}, "bind": set(), "cgroup_sock_addr": {65536, 65537},
                "sock_ops": set()}
# (struct, member) -> byte offset, and struct sizes, in eBPF for Windows' headers (x64).
LAYOUTS = {
    "xdp_md": (32, {"data": 0, "data_end": 8, "data_meta": 16, "ingress_ifindex": 24}),
    "_bind_md": (56, {"app_id_start": 0, "app_id_end": 8, "process_id": 16,
                      "socket_address": 24, "socket_address_length": 40, "operation": 44,
                      "protocol": 48}),
    "bpf_sock_addr": (64, {"family": 0, "msg_src_ip4": 4, "msg_src_ip6": 4, "msg_src_port": 20,
                           "user_ip4": 24, "user_ip6": 24, "user_port": 40, "protocol": 44,
                           "compartment_id": 48, "interface_luid": 56}),
    "bpf_sock_ops": (64, {"op": 0, "family": 4, "local_ip4": 8, "local_ip6": 8, "local_port": 24,
                          "remote_ip4": 28, "remote_ip6": 28, "remote_port": 44, "protocol": 48,
                          "compartment_id": 52, "interface_luid": 56}),
}
CONTEXT_STRUCTS = {"xdp": "xdp_md", "bind": "_bind_md", "cgroup_sock_addr": "bpf_sock_addr",
                   "sock_ops": "bpf_sock_ops"}
WINDOWS_MAP_TYPES = set(range(1, 15))
LEGACY_MAP_SIZE = 32  # struct _ebpf_map_definition_in_file: eight u32
OPCODE_CALL, OPCODE_LDDW = 0x85, 0x18



PROGRAMS = checks.manifest("windows")
OBJECTS = sorted({p["object"] for p in PROGRAMS})


_id = checks.entry_id


def _function_code(elf: ELFFile, section: str, function: str) -> bytes:
    """The bytes of one function symbol of a section."""
    index = elf.get_section_index(section)
    for sym in elf.get_section_by_name(".symtab").iter_symbols():
        if sym.name == function and sym["st_shndx"] == index:
            data = elf.get_section(index).data()
            return data[sym["st_value"]:sym["st_value"] + sym["st_size"]]
    raise AssertionError(f"{function} not in {section}")


def _helper_calls(code: bytes) -> list[int]:
    """Helper ids of the `call` instructions (src 0) in a function's bytes."""
    ids, i = [], 0
    while i + 8 <= len(code):
        op, regs, _, imm = struct.unpack_from("<BBhi", code, i)
        if op == OPCODE_CALL and regs >> 4 == 0:
            ids.append(imm)
        i += 16 if op == OPCODE_LDDW else 8
    return ids


def test_corpus_size_and_mix() -> None:
    rejects = [p for p in PROGRAMS if p["verdict"] == "reject"]
    accepts = [p for p in PROGRAMS if p["verdict"] == "accept"]
    assert len(PROGRAMS) >= 18
    assert len(rejects) >= 7
    assert {p["type"] for p in accepts} == set(TYPE_HELPERS), "a safe program for every type"
    assert {p["section"] for p in accepts} == set(SECTION_TYPES), "every attach point"
    assert REQUIRED_KINDS <= {p["kind"] for p in rejects}


def test_entries_are_unique_and_well_formed() -> None:
    keys = [(p["object"], p["section"], p["function"]) for p in PROGRAMS]
    assert len(keys) == len(set(keys))
    for p in PROGRAMS:
        assert p["object"].startswith("windows/build/") and p["source"].startswith("windows/src/")
        assert p["verdict"] in {"accept", "reject"}, _id(p)
        assert p["type"] == SECTION_TYPES[p["section"]], _id(p)
        assert p["cpu"] == "generic", _id(p)
        assert p["kernel"] == "not-applicable", _id(p)
        assert "kernel_unprivileged" not in p and "kernel_error" not in p, _id(p)
        assert p["description"].strip(), _id(p)
        if p["verdict"] == "reject":
            assert p["kind"] in KINDS and isinstance(p["line"], int), _id(p)
            assert Path(p["source"]).name.startswith("bad_"), _id(p)
        else:
            assert "kind" not in p and "line" not in p, _id(p)
            assert not Path(p["source"]).name.startswith("bad_"), _id(p)


def test_sources_include_only_our_header() -> None:
    for src in sorted((WINDOWS / "src").glob("*.[ch]")):
        includes = re.findall(r"^\s*#\s*include\s*(\S+)", src.read_text(), re.M)
        assert includes == ([] if src.suffix == ".h" else ['"ebpf_windows.h"']), src.name


def test_every_source_is_in_the_manifest() -> None:
    checks.every_source_is_in_the_manifest(PROGRAMS, "windows/src", "windows/build")
    assert {f"windows/build/{p.name}" for p in (WINDOWS / "build").glob("*.o")} == set(OBJECTS)


@pytest.mark.parametrize("obj", OBJECTS)
def test_object_has_the_listed_sections_and_functions(obj: str) -> None:
    with (CORPUS / obj).open("rb") as fh:
        elf = ELFFile(fh)
        assert elf.get_section_by_name(".ebpf_for_windows") is not None, "Windows tag section"
        symtab = elf.get_section_by_name(".symtab")
        for p in (p for p in PROGRAMS if p["object"] == obj):
            index = elf.get_section_index(p["section"])
            assert index is not None, f"{obj} has no section {p['section']}"
            syms = symtab.get_symbol_by_name(p["function"]) or []
            assert any(s["st_shndx"] == index and s["st_info"]["type"] == "STT_FUNC"
                       for s in syms), f"{obj}: {p['function']} not a function of {p['section']}"


@pytest.mark.parametrize("entry", PROGRAMS, ids=_id)
def test_programs_call_only_their_types_helpers(entry: dict) -> None:
    with (CORPUS / entry["object"]).open("rb") as fh:
        calls = _helper_calls(_function_code(ELFFile(fh), entry["section"], entry["function"]))
    allowed = GENERAL_HELPERS | TYPE_HELPERS[entry["type"]]
    foreign = [c for c in calls if c not in allowed]
    if entry.get("kind") == "unknown-helper":
        assert len(foreign) == 1 and foreign[0] >= 65536, (entry["function"], calls)
    else:
        assert not foreign, (entry["function"], foreign)


def test_legacy_maps_use_the_windows_definition() -> None:
    seen = 0
    for obj in OBJECTS:
        with (CORPUS / obj).open("rb") as fh:
            sec = ELFFile(fh).get_section_by_name("maps")
            if sec is None:
                continue
            data = sec.data()
            assert len(data) % LEGACY_MAP_SIZE == 0, obj
            for off in range(0, len(data), LEGACY_MAP_SIZE):
                map_type, key_size, value_size, max_entries = struct.unpack_from("<4I", data, off)
                assert map_type in WINDOWS_MAP_TYPES and key_size and value_size and max_entries
                seen += 1
    assert seen >= 3


def _member_offsets(die, base: int = 0) -> dict[str, int]:
    """Member name -> byte offset of a DWARF struct, anonymous structs and unions flattened."""
    out: dict[str, int] = {}
    for child in die.iter_children():
        if child.tag != "DW_TAG_member":
            continue
        loc = child.attributes.get("DW_AT_data_member_location")
        offset = base + (loc.value if loc else 0)
        if "DW_AT_name" in child.attributes:
            out[child.attributes["DW_AT_name"].value.decode()] = offset
        else:
            out.update(_member_offsets(child.get_DIE_from_attribute("DW_AT_type"), offset))
    return out


def _dwarf_layouts() -> dict[str, tuple[int, dict[str, int]]]:
    """Struct name -> (size, member offsets) for the context structs found in the objects."""
    found: dict[str, tuple[int, dict[str, int]]] = {}
    for obj in OBJECTS:
        with (CORPUS / obj).open("rb") as fh:
            for cu in ELFFile(fh).get_dwarf_info(relocate_dwarf_sections=False).iter_CUs():
                for die in cu.iter_DIEs():
                    name = die.attributes.get("DW_AT_name")
                    if die.tag == "DW_TAG_structure_type" and name:
                        name = name.value.decode()
                        if name in LAYOUTS and name not in found and die.has_children:
                            found[name] = (die.attributes["DW_AT_byte_size"].value,
                                           _member_offsets(die))
    return found


def test_context_layouts_are_the_windows_ones() -> None:
    assert _dwarf_layouts() == LAYOUTS


def test_manifest_is_generated_from_the_sources() -> None:
    spec = importlib.util.spec_from_file_location("gen_manifest", CORPUS / "gen_manifest.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.entries("windows") == PROGRAMS, "run: python3 corpus/gen_manifest.py"


def test_the_windows_platform_table_agrees_with_the_corpus_header() -> None:
    """verifier/platforms/windows.py and our header encode the same facts (types, layouts, helper ids)."""
    from verifier.platform import get_platform

    platform = get_platform("windows")
    for entry in PROGRAMS:
        pt = platform.program_type(entry["section"])
        assert pt.base == entry["type"], _id(entry)
        size, members = LAYOUTS[CONTEXT_STRUCTS[entry["type"]]]
        assert pt.context.size == size, _id(entry)
        for offset in members.values():
            field = pt.context.field_containing(offset)
            assert field is not None and field.offset == offset, (pt.context.name, offset)
        assert {h.id for h in pt.own_helpers} == TYPE_HELPERS[entry["type"]], _id(entry)
    assert GENERAL_HELPERS <= set(platform.helpers)
    assert WINDOWS_MAP_TYPES <= set(platform.map_types)


@pytest.mark.parametrize("entry", PROGRAMS, ids=_id)
def test_source_defines_the_program(entry: dict) -> None:
    checks.source_defines_the_program(entry)


@pytest.mark.parametrize("entry", [p for p in PROGRAMS if p["verdict"] == "reject"], ids=_id)
def test_reject_line_holds_its_bug_marker(entry: dict) -> None:
    checks.reject_line_holds_its_bug_marker(entry)


def test_every_bug_marker_has_an_entry() -> None:
    checks.every_bug_marker_has_an_entry(PROGRAMS, "windows/src")


@pytest.mark.parametrize("obj", OBJECTS)
def test_object_is_a_bpf_elf(obj: str) -> None:
    checks.object_is_a_bpf_elf(obj)
