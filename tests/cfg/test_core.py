"""CO-RE relocations applied against a target BTF (cfg.core): each relocation kind on small
objects compiled here (a local program and target BTFs with other layouts), flavours, bitfields,
poisoning and the verifier's error for it, the target cache, and the CLI options."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess

import pytest

from _elf_helpers import section_file_range
from cfg.btf import essential_name, parse_btf
from cfg.core import CORE_POISON_HELPER, KERNEL_BTF, target_btf
from cfg.elf import load_object
from cfg.errors import ElfError
from verifier.cli import main

CLANG = shutil.which("clang-19")
needs_clang = pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")

LOCAL_C = r"""
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct foo {
	int a;
	long b;
	unsigned int u;
	short s;
	unsigned int lo: 3, wide: 7;
	char name[8];
} __attribute__((preserve_access_index));

struct foo___v2 {
	int gone;
} __attribute__((preserve_access_index));

enum color { RED = 1, GREEN = 2 };
struct bar { int x; };

SEC("kprobe/core_test")
int core_test(struct foo *f)
{
	long r = f->b;
	r += f->u;
	if (bpf_core_field_exists(f->a))
		r += bpf_core_field_offset(f->a);
	r += BPF_CORE_READ_BITFIELD(f, wide);
	r += f->name[3];
	if (bpf_core_field_exists(((struct foo___v2 *)f)->gone))
		r += ((struct foo___v2 *)f)->gone;
	r += bpf_core_enum_value(enum color, GREEN);
	if (bpf_core_enum_value_exists(enum color, RED))
		r += 1;
	if (bpf_core_type_exists(struct bar))
		r += bpf_core_type_size(struct bar);
	r += bpf_core_field_size(f->name);
	r += f->s;
	return r;
}

char LICENSE[] SEC("license") = "GPL";
"""

# Target 1: another layout; no `a`, a wider unsigned `u` (the load grows to 8 bytes), a wider
# signed `s` (poisoned: a 2-byte load of a 4-byte signed field would be wrong), other bitfield
# widths, enumerators with other values, a bigger `struct bar`.
TARGET1_C = r"""
struct foo {
	long pad;
	unsigned long u;
	long b;
	int s;
	unsigned long long lo: 5, wide: 9;
	char name[16];
};
enum color { GREEN = 7, RED = 9 };
struct bar { int x; int y; };
struct foo *use_foo;
enum color use_color;
struct bar use_bar;
"""

# Target 2: the flavour's field exists, GREEN does not, no `struct bar`; `foo` is reached
# through an anonymous union.
TARGET2_C = r"""
struct foo {
	int a;
	union {
		long b;
		long b_alias;
	};
	unsigned int u;
	short s;
	unsigned int lo: 3, wide: 7;
	char name[8];
	int gone;
};
enum color { RED = 3, BLUE = 4 };
struct foo *use_foo;
enum color use_color;
"""


def _compile(tmp, name: str, source: str) -> str:
    src, obj = tmp / f"{name}.c", tmp / f"{name}.o"
    src.write_text(source)
    arch = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True).stdout.strip()
    include = f"-I/usr/include/{arch or 'x86_64-linux-gnu'}"
    subprocess.run([CLANG, "-O2", "-g", "-target", "bpf", include, "-c", str(src), "-o", str(obj)],
                   check=True, capture_output=True)
    return str(obj)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if CLANG is None:
        pytest.skip("clang-19 is not installed")
    tmp = tmp_path_factory.mktemp("core")
    return {name: _compile(tmp, name, src) for name, src in
            (("local", LOCAL_C), ("target1", TARGET1_C), ("target2", TARGET2_C))}


def _results(program) -> dict[tuple[str, str], object]:
    return {(r.reloc.kind, r.reloc.spec.split(" = ")[0]): r for r in program.core_results}


def _slots(program) -> list[list[int]]:
    raw = program.to_bytes()
    return [list(struct.unpack_from("<BBhi", raw, i * 8)) for i in range(len(raw) // 8)]


def test_essential_names_strip_one_flavour_suffix():
    assert essential_name("task_struct___v2") == "task_struct"
    assert essential_name("a___b___c") == "a___b"
    assert essential_name("x____y") == "x____y"      # four underscores: not a flavour
    assert essential_name("x___") == "x___"          # nothing after the separator
    assert essential_name("___x") == "___x"
    assert essential_name("plain") == "plain"


@needs_clang
def test_fields_follow_the_target_layout(built):
    prog = load_object(built["local"], target_btf=built["target1"]).programs[0]
    assert prog.core_target == built["target1"]
    res = _results(prog)
    assert res[("field_byte_offset", "struct foo::b")].value == 16
    u = res[("field_byte_offset", "struct foo::u")]
    assert (u.local, u.value) == (16, 8)
    assert prog.at(u.reloc.pc).opcode == 0x79  # ldxw grew to ldxdw: unsigned, 4 -> 8 bytes
    assert res[("field_byte_size", "struct foo::name")].value == 16
    assert res[("field_byte_offset", "struct foo::name[3]")].value == 30 + 3
    assert res[("field_exists", "struct foo___v2::gone")].value == 0
    assert res[("field_exists", "struct foo::a")].value == 0
    # bitfield `wide`: 9 bits at bit 28*8 + 5, read as the 8-byte unit at byte 24
    assert res[("field_byte_size", "struct foo::wide")].value == 8
    assert res[("field_byte_offset", "struct foo::wide")].value == 24
    assert res[("field_lshift_u64", "struct foo::wide")].value == 64 - (28 * 8 + 5 + 9 - 24 * 8)
    assert res[("field_rshift_u64", "struct foo::wide")].value == 64 - 9
    assert res[("enumval_value", "enum color::GREEN")].value == 7
    assert res[("enumval_exists", "enum color::RED")].value == 1
    assert res[("type_size", "struct bar")].value == 8


@needs_clang
def test_failed_relocations_poison_the_instruction(built):
    prog = load_object(built["local"], target_btf=built["target1"]).programs[0]
    res = _results(prog)
    gone = res[("field_byte_offset", "struct foo___v2::gone")]
    assert gone.poisoned and gone.failure == "struct foo has no field gone"
    missing = res[("field_byte_offset", "struct foo::a")]
    assert missing.poisoned and "has no field a" in missing.failure
    signed = res[("field_byte_offset", "struct foo::s")]
    assert signed.poisoned and "2 bytes here and 4 in the target" in signed.failure
    for r in (gone, missing, signed):
        insn = prog.at(r.reloc.pc)
        assert (insn.opcode, insn.src, insn.imm) == (0x85, 0, CORE_POISON_HELPER)


@needs_clang
def test_flavours_anonymous_members_and_missing_enumerators(built):
    prog = load_object(built["local"], target_btf=built["target2"]).programs[0]
    res = _results(prog)
    assert res[("field_exists", "struct foo___v2::gone")].value == 1
    assert res[("field_byte_offset", "struct foo___v2::gone")].value == 32
    assert res[("field_byte_offset", "struct foo::b")].value == 8  # inside the union
    assert res[("enumval_exists", "enum color::RED")].value == 1
    green = res[("enumval_value", "enum color::GREEN")]
    assert green.poisoned and green.failure == "enum color has no value GREEN"
    assert res[("type_exists", "struct bar")].value == 0
    assert res[("field_byte_offset", "struct foo::s")].value == 20


@needs_clang
def test_the_verifier_reports_a_reachable_poisoned_relocation(built):
    from verifier import analyze
    prog = load_object(built["local"], target_btf=built["target1"]).programs[0]
    report = analyze(prog)
    poisoned = {r.reloc.pc: r for r in prog.core_results if r.poisoned}
    core_errors = [e for e in report.errors if "CO-RE relocation failed" in e.message]
    assert core_errors and not report.ok
    for err in core_errors:
        assert err.pc in poisoned and poisoned[err.pc].failure in err.message
        assert err.kind == "invalid-call"
    # the flavour's field read sits behind `field_exists` == 0: dead, so never reported
    gone = next(r for r in poisoned.values() if "gone" in r.reloc.spec)
    assert gone.reloc.pc not in {e.pc for e in report.errors}


@needs_clang
def test_no_target_keeps_the_local_values(built, monkeypatch):
    kept = load_object(built["local"], target_btf=None).programs[0]
    assert not kept.core_results
    assert kept.core_target == ""
    data = open(built["local"], "rb").read()
    off, size = section_file_range(data, "kprobe/core_test")
    assert kept.to_bytes() == data[off:off + size]
    monkeypatch.setenv("BPFCHECK_BTF", "none")
    assert load_object(built["local"]).programs[0].to_bytes() == kept.to_bytes()
    monkeypatch.setenv("BPFCHECK_BTF", built["target1"])
    assert load_object(built["local"]).programs[0].core_target == built["target1"]


@needs_clang
def test_a_raw_btf_file_is_the_same_target_as_its_elf(built, tmp_path):
    data = open(built["target1"], "rb").read()
    off, size = section_file_range(data, ".BTF")
    raw = tmp_path / "target1.btf"
    raw.write_bytes(data[off:off + size])
    from_elf = load_object(built["local"], target_btf=built["target1"]).programs[0]
    from_raw = load_object(built["local"], target_btf=str(raw)).programs[0]
    assert from_raw.to_bytes() == from_elf.to_bytes()
    assert [r.value for r in from_raw.core_results] == [r.value for r in from_elf.core_results]
    # a parsed Btf works too
    given = load_object(built["local"], target_btf=parse_btf(raw.read_bytes())).programs[0]
    assert given.to_bytes() == from_elf.to_bytes()


@needs_clang
def test_the_target_is_cached_per_path_and_mtime(built, tmp_path):
    copy = tmp_path / "t.o"
    shutil.copy(built["target1"], copy)
    first = target_btf(copy)
    assert target_btf(str(copy)) is first
    st = os.stat(copy)
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert target_btf(copy) is not first


def test_bad_targets_are_clear_errors(tmp_path):
    with pytest.raises(ElfError, match="target BTF .*missing"):
        target_btf(tmp_path / "missing")
    junk = tmp_path / "junk.btf"
    junk.write_bytes(b"\x00" * 40)
    with pytest.raises(ElfError, match="target BTF .*bad magic"):
        target_btf(junk)
    elf = tmp_path / "nobtf.o"
    elf.write_bytes(b"\x7fELF" + b"\x00" * 60)
    with pytest.raises(ElfError, match="target BTF"):
        target_btf(elf)


@needs_clang
def test_an_instruction_without_the_local_value_is_refused(built, tmp_path):
    prog = load_object(built["local"], target_btf=None).programs[0]
    pc = next(r.pc for r in prog.core_relocs
              if r.kind == "field_byte_size" and r.spec == "struct foo::name")
    data = bytearray(open(built["local"], "rb").read())
    off, _ = section_file_range(bytes(data), "kprobe/core_test")
    struct.pack_into("<i", data, off + pc * 8 + 4, 12345)
    with pytest.raises(ElfError, match="holds 12345, the local BTF says"):
        load_object(tmp_path / "x.o", bytes(data), target_btf=built["target1"])


@needs_clang
def test_sections_shows_applied_values_and_poison(built, capsys):
    assert main(["sections", "--btf", built["target1"], built["local"]]) == 0
    out = capsys.readouterr().out
    assert f"applied against {os.path.abspath(built['target1'])}" in out
    assert "CO-RE field_byte_offset struct foo::b (0:1): 8 -> 16" in out
    assert "poisoned: struct foo has no field gone" in out
    assert main(["sections", "--no-core", "--format", "json", built["local"]]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {r["target"] for r in report["core_relocations"]} == {""}
    assert all("value" not in r for r in report["core_relocations"])
    assert main(["sections", "--btf", built["target2"], "--format", "json", built["local"]]) == 0
    report = json.loads(capsys.readouterr().out)
    green = next(r for r in report["core_relocations"] if r["kind"] == "enumval_value")
    assert green["value"] is None and green["failure"] == "enum color has no value GREEN"
    assert "BPFCHECK_BTF" not in os.environ  # the option does not leak out of the command


@needs_clang
def test_verify_takes_the_target_option(built, capsys):
    assert main(["verify", "--no-cache", "--btf", built["target2"], built["local"]]) in (0, 1)
    out = capsys.readouterr().out
    assert main(["verify", "--no-cache", "--btf", built["target1"], built["local"]]) == 1
    out = capsys.readouterr().out
    assert "CO-RE relocation failed" in out


@pytest.mark.skipif(not os.path.exists(KERNEL_BTF), reason="the kernel has no BTF")
def test_the_running_kernels_btf_is_the_default(monkeypatch):
    from _elf_helpers import CORPUS
    monkeypatch.delenv("BPFCHECK_BTF", raising=False)
    prog = load_object(CORPUS / "kprobe_core_task.o").programs[0]
    assert prog.core_target == KERNEL_BTF
    assert prog.core_results and not any(r.poisoned for r in prog.core_results
                                         if "pre514" not in r.reloc.spec)


def test_lazy_btf_decodes_the_same_types():
    from _elf_helpers import CORPUS, fixture
    from cfg.btf import LazyBtf
    for path in (CORPUS / "kprobe_core_task.o", fixture("core_btf.o"), fixture("btf_maps.o")):
        data = open(path, "rb").read()
        off, size = section_file_range(data, ".BTF")
        eager, lazy = parse_btf(data[off:off + size]), parse_btf(data[off:off + size], lazy=True)
        assert isinstance(lazy, LazyBtf) and len(lazy) == len(eager)
        for tid in range(len(eager) - 1, -1, -1):  # backwards: nothing decoded in advance
            assert lazy.type(tid) == eager.type(tid)
        assert list(lazy) == list(eager)
        for t in list(eager)[:200]:
            if t.name:
                assert lazy.find(t.name, t.kind) == eager.find(t.name, t.kind)
                key = essential_name(t.name)
                assert lazy.by_essential_name(key) == eager.by_essential_name(key)


def test_lazy_btf_checks_references_when_decoding():
    from cfg.btf import LazyBtf
    # one PTR type (kind 2) pointing at the missing type 7
    blob = struct.pack("<III", 0, 2 << 24, 7)
    btf = LazyBtf(blob, b"\0")
    with pytest.raises(ElfError, match="refers to missing type 7"):
        btf.type(1)


@pytest.mark.parametrize("engine", ["interp", "pyjit", "jit"])
def test_a_dead_poisoned_instruction_runs_on_every_engine(engine, capsys):
    from _elf_helpers import CORPUS
    from runtime.jit.native import available
    if engine == "jit" and not available()[0]:
        pytest.skip("the native JIT needs x86-64 Linux")
    if not os.path.exists(KERNEL_BTF):
        pytest.skip("needs the kernel BTF, where task_struct has no `state`")
    path = str(CORPUS / "kprobe_core_task.o")
    prog = load_object(path, target_btf=KERNEL_BTF).programs[0]
    assert any(r.poisoned for r in prog.core_results)
    assert main(["run", "--btf", KERNEL_BTF, "--engine", engine, path]) == 0
    assert "r0 = 0" in capsys.readouterr().out
