"""CO-RE against libbpf itself: libbpf (through ctypes) opens and loads the same object against
the same target BTF, and its relocated instructions (`bpf_program__insns`, kept even when the
kernel then refuses the program) must equal ours slot for slot. Needs root: libbpf probes the
kernel before relocating."""
from __future__ import annotations

import ctypes
import os
import struct

import pytest

from _elf_helpers import all_objects
from cfg.elf import load_object
from test_core import CLANG, LOCAL_C, TARGET1_C, TARGET2_C, _compile
from test_elf_libbpf import LIBBPF

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(LIBBPF is None, reason="libbpf.so is not installed")]


class _OpenOpts(ctypes.Structure):
    """struct bpf_object_open_opts of libbpf 1.x (up to kernel_log_level)."""

    _fields_ = [("sz", ctypes.c_size_t), ("object_name", ctypes.c_char_p),
                ("relaxed_maps", ctypes.c_bool), ("pin_root_path", ctypes.c_char_p),
                ("_attach_prog_fd", ctypes.c_uint32), ("kconfig", ctypes.c_char_p),
                ("btf_custom_path", ctypes.c_char_p), ("kernel_log_buf", ctypes.c_char_p),
                ("kernel_log_size", ctypes.c_size_t), ("kernel_log_level", ctypes.c_uint32)]


def libbpf_relocated(path, target: str | None = None) -> dict[str, list[list[int]]] | None:
    """{program name: slots} after libbpf's bpf_object__load (CO-RE against `target`, else the
    running kernel); None when libbpf cannot open the object."""
    opts = _OpenOpts(sz=ctypes.sizeof(_OpenOpts),
                     btf_custom_path=target.encode() if target else None)
    obj = LIBBPF.bpf_object__open_file(str(path).encode(), ctypes.addressof(opts))
    if not obj or LIBBPF.libbpf_get_error(obj):
        return None
    try:
        LIBBPF.bpf_object__load(obj)  # the kernel may refuse; the relocations are done by then
        out, prog = {}, LIBBPF.bpf_object__next_program(obj, None)
        while prog:
            count = LIBBPF.bpf_program__insn_cnt(prog)
            raw = ctypes.string_at(LIBBPF.bpf_program__insns(prog), count * 8)
            out[LIBBPF.bpf_program__name(prog).decode()] = [
                list(struct.unpack_from("<BBhi", raw, i * 8)) for i in range(count)]
            prog = LIBBPF.bpf_object__next_program(obj, prog)
        return out
    finally:
        LIBBPF.bpf_object__close(obj)


def _slots(prog) -> list[list[int]]:
    raw = prog.to_bytes()
    return [list(struct.unpack_from("<BBhi", raw, i * 8)) for i in range(len(raw) // 8)]


def _needs_root():
    if os.geteuid() != 0:
        pytest.skip("libbpf relocates only after probing the kernel, which needs root")


@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
@pytest.mark.parametrize("target_source", [TARGET1_C, TARGET2_C], ids=["target1", "target2"])
def test_every_kind_matches_libbpf_on_a_custom_target(tmp_path, target_source):
    _needs_root()
    local = _compile(tmp_path, "local", LOCAL_C)
    target = _compile(tmp_path, "target", target_source)
    theirs = libbpf_relocated(local, target)
    assert theirs is not None
    prog = load_object(local, target_btf=target).programs[0]
    assert _slots(prog) == theirs[prog.name]  # no maps: the whole program is comparable
    assert {r.reloc.kind for r in prog.core_results} >= {
        "field_byte_offset", "field_byte_size", "field_exists", "field_signed",
        "field_lshift_u64", "field_rshift_u64", "type_exists", "type_size",
        "enumval_exists", "enumval_value"}


def test_corpus_relocations_match_libbpf_on_the_running_kernel():
    _needs_root()
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("the kernel has no BTF")
    compared = relocations = 0
    for path in all_objects():
        obj = load_object(path)
        programs = [p for p in obj.programs if p.core_results]
        if not programs:
            continue
        theirs = libbpf_relocated(path)
        assert theirs is not None, path.name
        for prog in programs:
            ours, their = _slots(prog), theirs[prog.name]
            assert len(ours) == len(their), (path.name, prog.name)
            for res in prog.core_results:
                pc = res.reloc.pc
                width = 2 if ours[pc][0] == 0x18 or (res.poisoned and pc + 1 < len(ours)
                                                     and their[pc + 1][0] == 0x85
                                                     and ours[pc + 1] == their[pc + 1]) else 1
                assert ours[pc:pc + width] == their[pc:pc + width], (path.name, prog.name, pc,
                                                                      str(res))
                relocations += 1
            compared += 1
    assert compared >= 3 and relocations >= 25


def _random_target(seed: int) -> str:
    """A target BTF source for test_core.LOCAL_C with a random layout: members reordered,
    dropped, widened, narrowed or re-signed, padding, anonymous structs and unions, bitfields
    of other units and widths, enumerators renumbered or missing, `struct bar` resized."""
    import random
    rnd = random.Random(seed)
    members = []
    for name, types in (("a", ["int", "long", "unsigned int"]),
                        ("b", ["long", "int", "unsigned long"]),
                        ("u", ["unsigned int", "unsigned long", "unsigned short", "int"]),
                        ("s", ["short", "int", "unsigned short", "long"])):
        if rnd.random() > 0.15:
            members.append(f"{rnd.choice(types)} {name};")
    unit, bits = rnd.choice([("unsigned int", 32), ("unsigned long long", 64),
                             ("unsigned char", 8)])
    members.append(f"{unit} lo: {rnd.randint(1, bits - 7)}, wide: {rnd.randint(1, 7)};")
    members.append(f"char name[{rnd.choice([4, 8, 16, 32])}];")
    if rnd.random() < 0.5:
        members.append("int gone;")
    for i in range(rnd.randint(0, 3)):
        members.append(f"{rnd.choice(['long', 'char', 'short'])} pad{i};")
    rnd.shuffle(members)
    if rnd.random() < 0.5 and len(members) > 2:  # wrap a few members in an anonymous aggregate
        k = rnd.randint(1, 2)
        kind = rnd.choice(["struct", "union"]) if k == 1 else "struct"
        members = members[:-k] + [f"{kind} {{ {' '.join(members[-k:])} }};"]
    colors = [f"RED = {rnd.randint(-5, 40)}"] + (
        [f"GREEN = {rnd.randint(-5, 40)}"] if rnd.random() < 0.7 else [])
    bar = (f"struct bar {{ {' '.join(f'long x{i};' for i in range(rnd.randint(1, 4)))} }};\n"
           f"struct bar use_bar;" if rnd.random() < 0.7 else "")
    return (f"struct foo {{ {' '.join(members)} }};\nenum color {{ {', '.join(colors)} }};\n"
            f"{bar}\nstruct foo *use_foo;\nenum color use_color;\n")


@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
@pytest.mark.parametrize("seed", range(8))
def test_random_target_layouts_match_libbpf(tmp_path, seed):
    _needs_root()
    local = _compile(tmp_path, "local", LOCAL_C)
    target = _compile(tmp_path, "target", _random_target(seed))
    theirs = libbpf_relocated(local, target)
    prog = load_object(local, target_btf=target).programs[0]
    assert _slots(prog) == theirs[prog.name], _random_target(seed)
