"""The ELF loader: programs, subprograms, relocations, maps, line info, CO-RE, bad input."""
from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfg.elf import load_object, load_programs
from cfg.errors import BpfcheckError, ElfError
from cfg.isa import (CALL_KFUNC, CALL_LOCAL, LDDW_CODE, LDDW_MAP_IDX, LDDW_MAP_IDX_VALUE,
                     OPCODE_LDDW, decode)
from cfg.program import MAP_TYPE_IDS
from cfg.sections import SECTION_TYPES, program_type_for_section
from _elf_helpers import (CORPUS, all_objects, fixture, llvm_tool, objdump_code_sections,
                          patch, readelf_functions, section_file_range,
                          section_header_offset, symbol_entry_offset, symbol_value)
from verifier.cli import main

CALLS = fixture("calls_and_data.o")
MAPS = fixture("btf_maps.o")
CORE = fixture("core_btf.o")
TEXT_ONLY = fixture("text_only.o")
OPS = fixture("struct_ops_legacy.o")


def raw_function(path, section: str, name: str) -> list:
    """The instructions of a function exactly as the ELF file holds them."""
    elf = ELFFile(open(path, "rb"))
    sec = elf.get_section_by_name(section)
    sym = next(s for s in elf.get_section_by_name(".symtab").iter_symbols()
               if s.name == name and elf.get_section(s["st_shndx"]).name == section)
    return decode(sec.data()[sym["st_value"]: sym["st_value"] + sym["st_size"]])


def local_calls(program):
    return [(pc, insn) for pc, insn in program.items()
            if insn.opcode == 0x85 and insn.src == CALL_LOCAL]


# --- programs and subprograms ------------------------------------------------------------
def test_every_function_of_a_program_section_is_a_program():
    obj = load_object(CALLS)
    assert [(p.section, p.name, p.type) for p in obj.programs] == [
        ("xdp", "first", "xdp"), ("xdp", "second", "xdp"), ("tc", "third", "sched_cls")]
    assert all(p.file == str(CALLS) and p.maps == tuple(obj.maps) for p in obj.programs)


def test_subprograms_are_appended_depth_first_and_calls_land_on_their_start():
    obj = load_object(CALLS)
    first = obj.program(function="first")
    assert [f.name for f in first.functions] == ["first", "global_helper", "twice_plus_one",
                                                 "add_one"]
    starts = {f.start: f.name for f in first.functions}
    for pc, insn in local_calls(first):
        assert pc + insn.imm + 1 in starts
    # The call sites name the callee the C source calls (checked through the source text).
    callee_at = {pc: starts[pc + i.imm + 1] for pc, i in local_calls(first)}
    for pc, callee in callee_at.items():
        assert callee in first.source(pc).text


def test_copied_functions_keep_their_instructions_except_relocated_fields():
    for prog in load_object(CALLS).programs:
        for fn in prog.functions:
            section = prog.section if fn.name == prog.name else ".text"
            original = raw_function(CALLS, section, fn.name)
            copied = [prog.at(pc) for pc in prog.pcs if fn.start <= pc < fn.end]
            assert len(original) == len(copied)
            for a, b in zip(original, copied):
                if a.opcode == 0x85 and a.src == CALL_LOCAL or a.opcode == OPCODE_LDDW:
                    assert (a.opcode, a.dst) == (b.opcode, b.dst)
                else:
                    assert a == b


def test_callback_address_is_a_code_reference_to_the_callback():
    second = load_object(CALLS).program(function="second")
    refs = [(pc, i) for pc, i in second.items() if i.opcode == OPCODE_LDDW and i.src == LDDW_CODE]
    assert len(refs) == 1
    pc, insn = refs[0]
    target = second.function_at(pc + insn.imm + 1)
    assert target.name == "loop_cb" and target.start == pc + insn.imm + 1


def test_global_data_references_carry_the_map_index_and_the_symbol_offset():
    data = CALLS.read_bytes()
    obj = load_object(CALLS)
    names = [m.name for m in obj.maps]
    assert names == [".data", ".rodata", ".bss"]
    data_map = obj.maps[0]
    assert data_map.kind == "data" and data_map.type == MAP_TYPE_IDS["array"]
    assert data_map.initial_value == ELFFile(io.BytesIO(data)).get_section_by_name(".data").data()
    assert obj.maps[1].readonly and obj.maps[2].initial_value == bytes(obj.maps[2].value_size)
    second = obj.program(function="second")
    refs = [i for _, i in second.items() if i.opcode == OPCODE_LDDW and i.src == LDDW_MAP_IDX_VALUE]
    table, counter = refs[0], refs[1]
    assert (table.imm, table.next_imm) == (0, symbol_value(data, "table"))
    assert (counter.imm, counter.next_imm) == (0, symbol_value(data, "counter"))
    # A static variable is reached through the section symbol; its offset is in the insn.
    cb = second.function_at(next(f.start for f in second.functions if f.name == "loop_cb"))
    bss_refs = [second.at(pc) for pc in second.pcs if cb.start <= pc < cb.end
                and second.at(pc).opcode == OPCODE_LDDW]
    assert [(i.src, names[i.imm]) for i in bss_refs] == [(LDDW_MAP_IDX_VALUE, ".bss")]
    assert 0 <= bss_refs[0].next_imm < obj.maps[2].value_size


def test_btf_maps_are_decoded_from_their_type_description():
    obj = load_object(MAPS)
    maps = {m.name: m for m in obj.maps}
    flows = maps["flows"]
    assert (flows.type_name, flows.key_size, flows.value_size, flows.max_entries, flows.flags) \
        == ("hash", obj.btf.size_of(obj.btf.find("flow_key").id), 8, 1024, 1)
    stats = maps["stats"]
    assert (stats.type_name, stats.key_size, stats.value_size, stats.max_entries,
            stats.pinning) == ("percpu_array", 4, 16, 8, 1)
    assert (maps["events"].type_name, maps["events"].max_entries) == ("ringbuf", 4096)
    outer = maps["outer"]
    assert outer.type_name == "array_of_maps" and outer.value_size == 4
    assert (outer.inner.type_name, outer.inner.max_entries) == ("array", 2)
    assert maps["jumps"].type_name == "prog_array"
    seen = maps["seen"]
    assert (seen.type_name, seen.key_size, seen.value_size, seen.max_entries) == (
        "bloom_filter", 0, 4, 64)
    assert all(m.kind == "btf" for m in obj.maps)
    # Maps are ordered by their place in .maps, as libbpf orders them.
    data = MAPS.read_bytes()
    assert [m.name for m in obj.maps] == sorted(maps, key=lambda n: symbol_value(data, n))


def test_ulong_map_attributes():
    """`__ulong(name, N)` is a pointer to an enum whose one value is N (newer libbpf)."""
    (wide,) = load_object(fixture("ulong_maps.o")).maps
    assert (wide.type_name, wide.key_size, wide.value_size, wide.max_entries) == (
        "bloom_filter", 0, 8, 128)


def test_map_references_use_the_map_index():
    obj = load_object(MAPS)
    prog = obj.program(function="use_maps")
    refs = [obj.maps[i.imm].name for _, i in prog.items()
            if i.opcode == OPCODE_LDDW and i.src == LDDW_MAP_IDX]
    assert refs == ["flows", "stats", "outer", "events", "seen", "jumps", "progs"]


def test_initial_slots_of_map_in_map_and_prog_array():
    obj = load_object(MAPS)
    assert obj.initial_slots == {"outer": {1: "inner_a"}, "progs": {0: "tail_target"}}
    progs = next(m for m in obj.maps if m.name == "progs")
    assert (progs.type_name, progs.key_size, progs.value_size, progs.max_entries) == (
        "prog_array", 4, 4, 4)


def test_legacy_maps_section():
    obj = load_object(CORPUS / "xdp_legacy_maps.o")
    assert [(m.name, m.type_name, m.key_size, m.value_size, m.max_entries, m.kind)
            for m in obj.maps] == [("proto_count", "array", 4, 8, 256, "legacy"),
                                   ("src_bytes", "hash", 4, 8, 4096, "legacy")]


def test_iproute2_map_definitions_struct_ops_and_version():
    obj = load_object(OPS)
    assert [(m.name, m.type_name, m.key_size, m.value_size, m.max_entries, m.kind)
            for m in obj.maps] == [("counters", "percpu_array", 4, 8, 16, "legacy"),
                                   ("peers", "lru_hash", 16, 4, 512, "legacy"),
                                   ("demo_ops", "struct_ops", 4, 32, 1, "struct_ops")]
    ops = obj.maps[2]
    assert ops.initial_value[16:24] == b"bpfcheck"
    assert obj.kernel_version == 0x050A00 and obj.license == "GPL"
    assert [(p.name, p.type) for p in obj.programs] == [
        ("ops_init", "struct_ops"), ("ops_release", "struct_ops"), ("legacy_cls", "sched_cls")]


def test_kconfig_externs_live_in_one_readonly_map_and_kfuncs_become_kfunc_calls():
    obj = load_object(CORE)
    kconfig = [e for e in obj.externs if e.kind == "kconfig"]
    assert {e.name for e in kconfig} == {"CONFIG_HZ", "CONFIG_BPF_SYSCALL",
                                         "LINUX_KERNEL_VERSION"}
    kmap_index = next(i for i, m in enumerate(obj.maps) if m.kind == "kconfig")
    kmap = obj.maps[kmap_index]
    assert kmap.readonly
    spans = sorted((e.offset, e.offset + e.size) for e in kconfig)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no overlap
    assert spans[-1][1] == kmap.value_size
    prog = obj.program(function="probe")
    offsets = {i.next_imm for _, i in prog.items() if i.opcode == OPCODE_LDDW
               and i.src == LDDW_MAP_IDX_VALUE and i.imm == kmap_index}
    assert offsets == {e.offset for e in kconfig}
    kfuncs = [i for _, i in prog.items() if i.opcode == 0x85 and i.src == CALL_KFUNC]
    assert [obj.btf.type(i.imm).name for i in kfuncs] == ["bpf_rcu_read_lock",
                                                         "bpf_rcu_read_unlock"]


# --- line info and CO-RE -------------------------------------------------------------------
@pytest.mark.parametrize("path", [CALLS, MAPS, CORE], ids=lambda p: p.name)
def test_line_info_text_is_the_source_line(path):
    source = path.with_suffix(".c").read_text().splitlines()
    for prog in load_object(path).programs:
        assert prog.line_info
        for pc, info in prog.line_info.items():
            assert prog.index_of(pc) is not None
            assert info.file.endswith(path.with_suffix(".c").name)
            assert info.text == source[info.line - 1]


def test_core_relocations_match_llvm_objdump():
    if not llvm_tool("llvm-objdump-19"):
        pytest.skip("llvm-objdump-19 is not installed")
    out = subprocess.run(["llvm-objdump-19", "-d", "-r", str(CORE)], check=True,
                         capture_output=True, text=True).stdout
    expected = set()
    func = section = None
    for line in out.splitlines():
        if m := re.match(r"Disassembly of section (\S+):", line):
            section = m.group(1)
        elif m := re.match(r"[0-9a-f]+ <(\w+)>:", line):
            func = m.group(1)
        elif m := re.search(r"([0-9a-f]+):\s+CO-RE <(\w+)>", line):
            expected.add((section, func, int(m.group(1), 16) // 8, m.group(2)))
    obj = load_object(CORE)
    got = set()
    for prog in obj.programs:
        for rel in prog.core_relocs:
            fn = prog.function_at(rel.pc)
            section = prog.section if fn.name == prog.name else ".text"
            elf_start = symbol_value(CORE.read_bytes(), fn.name) // 8
            got.add((section, fn.name, elf_start + rel.pc - fn.start, rel.kind))
    short = {"field_byte_offset": "byte_off", "field_exists": "field_exists",
             "type_exists": "type_exists", "type_size": "type_size",
             "enumval_exists": "enumval_exists", "enumval_value": "enumval_value"}
    assert {(s, f, pc, short[k]) for s, f, pc, k in got} == expected
    assert all(r.spec for p in obj.programs for r in p.core_relocs)


# --- selection and types --------------------------------------------------------------------
def test_program_selection_errors_name_the_choices():
    obj = load_object(CALLS)
    with pytest.raises(ElfError, match="2 programs with section 'xdp'"):
        obj.program(section="xdp")
    with pytest.raises(ElfError, match="no program with function 'nope'.*xdp/first"):
        obj.program(function="nope")
    assert obj.program(section="xdp", function="second").name == "second"
    progs = load_programs(str(CALLS), section="xdp", type="sched_cls")
    assert [(p.name, p.type) for p in progs] == [("first", "sched_cls"), ("second", "sched_cls")]


def test_object_with_only_text_and_old_style_sections():
    obj = load_object(TEXT_ONLY)
    # A lone function without SEC() is a program (libbpf's rule); xdp_prog has no typed
    # function symbol, so the section is one program named by its symbol (bpfcheck's leniency).
    assert [(p.section, p.name, p.type, p.end_pc) for p in obj.programs] == [
        (".text", "helper_only", "unspec", 2), ("xdp_prog", "old_style", "xdp", 2)]
    assert [f.name for f in obj.functions] == ["helper_only"]


def test_without_sec_programs_the_global_text_functions_are_programs():
    obj = load_object(fixture("text_pair.o"))
    assert [(p.name, [f.name for f in p.functions]) for p in obj.programs] == [
        ("outer_fn", ["outer_fn", "inner_fn", "local_fn"]), ("inner_fn", ["inner_fn", "local_fn"])]
    for prog in obj.programs:
        starts = {f.start for f in prog.functions}
        assert all(pc + i.imm + 1 in starts for pc, i in local_calls(prog))


@pytest.mark.parametrize("section, expected", [
    ("xdp", "xdp"), ("xdp.frags", "xdp"), ("tc", "sched_cls"), ("tcx/ingress", "sched_cls"),
    ("classifier", "sched_cls"), ("action", "sched_act"), ("socket", "socket_filter"),
    ("kprobe/do_sys_open", "kprobe"), ("kretprobe/x", "kprobe"), ("uprobe", "kprobe"),
    ("tracepoint/sched/sched_switch", "tracepoint"), ("tp/a/b", "tracepoint"),
    ("raw_tracepoint/sys_enter", "raw_tracepoint"), ("raw_tp/x", "raw_tracepoint"),
    ("tp_btf/sched_switch", "tracing"), ("fentry/f", "tracing"), ("fexit/f", "tracing"),
    ("lsm/file_open", "lsm"), ("cgroup_skb/ingress", "cgroup_skb"),
    ("cgroup_skb/egress", "cgroup_skb"), ("cgroup/skb", "cgroup_skb"),
    ("cgroup/sock", "cgroup_sock"), ("cgroup/connect4", "cgroup_sock_addr"),
    ("cgroup/sendmsg6", "cgroup_sock_addr"), ("sockops", "sock_ops"), ("sk_skb", "sk_skb"),
    ("sk_msg", "sk_msg"), ("lwt_in", "lwt_in"), ("lwt_xmit", "lwt_xmit"),
    ("perf_event", "perf_event"), ("flow_dissector", "flow_dissector"),
    ("struct_ops/x", "struct_ops"), ("syscall", "syscall"), ("iter/task", "tracing"),
    ("cgroup/dev", "cgroup_device"), ("cgroup/sysctl", "cgroup_sysctl"),
    ("mystery", "unspec"), (".text", "unspec"),
    # libbpf < 1.0 prefix matching, still common in old objects
    ("xdp_redirect_prog", "xdp"), ("socket1", "socket_filter"), ("kprobe__sys_open", "kprobe"),
])
def test_program_type_for_section(section, expected):
    assert program_type_for_section(section) == expected


def test_strict_patterns_take_precedence_over_prefixes():
    for pattern, prog_type in SECTION_TYPES:
        name = pattern.rstrip("+") + ("/x" if pattern.endswith("+") else "")
        assert program_type_for_section(name) == prog_type, name


# --- sections agrees with llvm-readelf --------------------------------------------------------
def sections_json(path) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["sections", str(path), "--format", "json"]) == 0
    return json.loads(buf.getvalue())


@pytest.mark.parametrize("path", all_objects(), ids=lambda p: p.name)
def test_sections_agrees_with_llvm_readelf(path):
    if not (llvm_tool("llvm-readelf-19") and llvm_tool("llvm-objdump-19")):
        pytest.skip("llvm-readelf-19 / llvm-objdump-19 are not installed")
    funcs = readelf_functions(path)
    code = objdump_code_sections(path)
    report = sections_json(path)
    entries = {k for k in funcs if k[0] != ".text"}
    listed = {(p["section"], p["function"]) for p in report["programs"]}
    if entries:
        assert listed == entries
    obj = load_object(path)
    for prog, item in zip(obj.programs, report["programs"]):
        assert item["type"] == prog.type == program_type_for_section(prog.section)
        sizes = []
        for fn in prog.functions:
            section = prog.section if fn.start == 0 else ".text"
            if (section, fn.name) in funcs:
                assert (fn.end - fn.start) * 8 == funcs[(section, fn.name)]
            sizes.append(fn.end - fn.start)
        assert item["instructions"] == sum(sizes) == prog.end_pc
        assert prog.functions[0].end * 8 <= code[prog.section]
    # Every non-empty code section but .text holds programs, and together their entry
    # functions cover it whole (clang leaves no gaps).
    for section, size in code.items():
        if section != ".text" and size:
            entries = [p for p in obj.programs if p.section == section]
            assert sum(p.functions[0].end - p.functions[0].start for p in entries) * 8 == size
    assert [m["name"] for m in report["maps"]] == [m.name for m in obj.maps]
    for m in report["maps"]:
        assert set(m) == {"name", "type", "key_size", "value_size", "max_entries"}


def test_sections_text_output_lists_programs_maps_and_core(capsys):
    assert main(["sections", str(CORE)]) == 0
    out = capsys.readouterr().out
    assert "kprobe/do_nanosleep" in out and "probe" in out and ".kconfig" in out
    assert "CO-RE field_byte_offset struct task_like::parent" in out
    report = sections_json(CORE)
    assert {r["kind"] for r in report["core_relocations"]} >= {"field_byte_offset",
                                                               "type_exists"}


def test_every_corpus_object_loads():
    objects = sorted(CORPUS.glob("*.o"))
    if not objects:
        pytest.skip("corpus/build has no objects yet")
    for path in objects:
        obj = load_object(path)
        assert obj.programs, path


# --- bad input -----------------------------------------------------------------------------
def load_bytes(data: bytes):
    return load_object("bad.o", data)


def test_truncated_and_not_elf():
    data = CALLS.read_bytes()
    with pytest.raises(ElfError, match=r"^bad\.o: truncated"):
        load_bytes(data[:40])
    with pytest.raises(ElfError, match="bad.o: .*truncated"):
        load_bytes(data[: len(data) // 2])
    with pytest.raises(ElfError, match="not an ELF file"):
        load_bytes(b"\x00" * 100)


def test_wrong_machine():
    data = patch(CALLS.read_bytes(), 18, "<H", 62)  # e_machine = EM_X86_64
    with pytest.raises(ElfError, match="wrong machine"):
        load_bytes(data)


def test_missing_symbol_table():
    data = CALLS.read_bytes()
    data = patch(data, section_header_offset(data, ".symtab") + 4, "<I", 1)  # now PROGBITS
    with pytest.raises(ElfError, match="missing section.*symbol table"):
        load_bytes(data)


def test_relocation_to_unknown_symbol():
    data = CALLS.read_bytes()
    off, _ = section_file_range(data, ".relxdp")
    data = patch(data, off + 8, "<Q", (9999 << 32) | 1)
    with pytest.raises(ElfError, match="relocation to unknown symbol #9999"):
        load_bytes(data)


def test_relocation_on_an_ordinary_instruction():
    data = CALLS.read_bytes()
    off, _ = section_file_range(data, ".relxdp")
    data = patch(data, off, "<Q", 16)  # r_offset of the first relocation -> an ldx
    with pytest.raises(ElfError, match="neither lddw nor call"):
        load_bytes(data)


@pytest.mark.parametrize("field, value, message", [
    (16, 12, "bad symbol size 12"),          # st_size not a multiple of 8
    (16, 1 << 20, "bad symbol size"),        # runs past the section
    (8, 4, "bad symbol offset 4"),           # st_value misaligned
])
def test_bad_function_symbol(field, value, message):
    data = CALLS.read_bytes()
    data = patch(data, symbol_entry_offset(data, "first") + field, "<Q", value)
    with pytest.raises(ElfError, match=message):
        load_bytes(data)


def test_overlapping_functions():
    data = CALLS.read_bytes()
    size = symbol_value(data, "second") + 16
    data = patch(data, symbol_entry_offset(data, "first") + 16, "<Q", size)
    with pytest.raises(ElfError, match="overlapping functions 'first' and 'second'"):
        load_bytes(data)


def symbol_index(data: bytes, name: str) -> int:
    symtab = ELFFile(io.BytesIO(data)).get_section_by_name(".symtab")
    return next(i for i, s in enumerate(symtab.iter_symbols()) if s.name == name)


def test_lddw_to_a_section_without_maps_or_data():
    data = CALLS.read_bytes()
    off, _ = section_file_range(data, ".relxdp")
    data = patch(data, off + 8, "<Q", (symbol_index(data, "LICENSE") << 32) | 1)
    with pytest.raises(ElfError, match="'LICENSE' in section 'license', which holds neither"):
        load_bytes(data)


def test_call_to_data_is_rejected():
    data = CALLS.read_bytes()
    off, _ = section_file_range(data, ".relxdp")
    # the second relocation of xdp is the call to global_helper; point it at `counter`
    data = patch(data, off + 16 + 8, "<Q", (symbol_index(data, "counter") << 32) | 10)
    with pytest.raises(ElfError, match="call at 'first'.* to 'counter', which is not code"):
        load_bytes(data)


def test_btf_maps_need_btf():
    data = MAPS.read_bytes()
    data = patch(data, section_header_offset(data, ".BTF"), "<I", 0)  # the section loses its name
    with pytest.raises(ElfError, match="'.maps' needs BTF"):
        load_bytes(data)


def test_garbage_btf():
    data = bytearray(CALLS.read_bytes())
    off, size = section_file_range(bytes(data), ".BTF")
    data[off + 24: off + size] = b"\xfe" * (size - 24)  # keep the header, ruin the rest
    with pytest.raises(ElfError, match="bad.o: BTF"):
        load_bytes(bytes(data))


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    bad = tmp_path / "broken.o"
    bad.write_bytes(CALLS.read_bytes()[:300])
    assert main(["sections", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bpfcheck: error: {bad}: ")


MUTATION_TARGETS = [CALLS.read_bytes(), MAPS.read_bytes(), CORE.read_bytes()]


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for pos, value in edits:
        out[pos % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


def _load_or_project_error(data: bytes) -> None:
    try:
        load_bytes(data)
    except BpfcheckError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(MUTATION_TARGETS))),
       st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6),
       st.one_of(st.none(), st.integers(0, 20000)))
def test_mutated_objects_load_or_raise_a_project_error(which, edits, cut):
    _load_or_project_error(mutate(MUTATION_TARGETS[which], edits, cut))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(MUTATION_TARGETS))), st.data())
def test_bit_flips_in_interesting_sections(which, data):
    """Flip bits where they matter most: symbols, relocations, BTF and BTF.ext."""
    blob = MUTATION_TARGETS[which]
    elf = ELFFile(io.BytesIO(blob))
    ranges = [(s["sh_offset"], s["sh_size"]) for s in elf.iter_sections()
              if s.name in (".symtab", ".BTF", ".BTF.ext", ".maps") or s.name.startswith(".rel")]
    ranges.append((elf.header["e_shoff"], elf.num_sections() * 64))
    out = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4))):
        start, size = data.draw(st.sampled_from(ranges))
        pos = start + data.draw(st.integers(0, max(size - 1, 0)))
        out[pos] ^= 1 << data.draw(st.integers(0, 7))
    _load_or_project_error(bytes(out))


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CORPUS.glob("*.o")) or [CALLS]),
       st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=8),
       st.one_of(st.none(), st.integers(0, 40000)))
def test_mutated_corpus_objects_slow(path, edits, cut):
    _load_or_project_error(mutate(path.read_bytes(), edits, cut))
