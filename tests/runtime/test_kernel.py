"""The live kernel as an oracle: relocation of test programs, maps, and corpus programs run on
the interpreter and on the kernel with the same packets (r0, output packet, map contents)."""
from __future__ import annotations

import glob
import os
import pathlib
import struct

import pytest

from cfg.asm import assemble
from cfg.isa import CLS_ALU64, SRC_K, ALU_ADD, ALU_MOV, Insn
from cfg.program import MAP_TYPE_IDS, MapDef, Program
from runtime.packets import samples
from runtime import kernel, vm
from runtime.maps import MapSet

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _need_kernel() -> None:
    ok, why = kernel.available()
    if not ok:
        pytest.skip(why)


def test_expand_keeps_jumps_and_calls_pointing_at_the_same_instructions() -> None:
    text = ("mov %r0, 0\nmov %r1, 5\nloop:\nadd %r0, %r1\nsub %r1, 1\njne %r1, 0, loop\n"
            "call local f\nexit\nf:\nadd %r0, 1000\nexit")
    insns = assemble(text, "ubpf")
    # replace `add %r0, %r1` by `add %r0, %r1; add %r0, 0` (same meaning, one more slot)
    replaced = kernel.expand(insns, {2: [insns[2], Insn(CLS_ALU64 | SRC_K | ALU_ADD, 0)],
                                     0: [Insn(CLS_ALU64 | ALU_MOV, 0), insns[0]]})
    assert len(replaced) == len(insns) + 2
    assert vm.run(Program(replaced)).r0 == vm.run(Program(insns)).r0 == 1015


@pytest.mark.kernel
def test_available_and_map_round_trip() -> None:
    _need_kernel()
    with kernel.KernelMaps([MapDef("a", MAP_TYPE_IDS["hash"], 4, 8, 8)]) as maps:
        m = maps.maps[0]
        m.update(b"\1\0\0\0", b"abcdefgh")
        assert m.lookup(b"\1\0\0\0") == b"abcdefgh"
        assert m.lookup(b"\2\0\0\0") is None
        assert m.items() == [(b"\1\0\0\0", b"abcdefgh")]


@pytest.mark.kernel
def test_rejection_reports_the_verifier_log() -> None:
    _need_kernel()
    with pytest.raises(kernel.KernelError) as exc:
        kernel.load(Program(assemble("exit", "ubpf"), type="xdp"))
    assert "R0" in exc.value.log


PACKETS = samples()
RUNNABLE = ("xdp", "sched_cls", "socket_filter")


def _programs():
    from cfg.elf import load_object
    out = []
    for path in sorted(glob.glob(str(ROOT / "corpus" / "build" / "*.o"))):
        name = os.path.basename(path)
        if name.startswith("bad_"):
            continue
        try:
            obj = load_object(path)
        except Exception:  # noqa: BLE001 - the loader's own tests cover bad objects
            continue
        for i, p in enumerate(obj.programs):
            if p.type in RUNNABLE:
                out.append(pytest.param(path, i, id=f"{name}:{p.name}"))
    return out


def _comparable(mdef: MapDef) -> bool:
    return mdef.type_name in ("array", "hash", "lru_hash") and mdef.kind not in ("rodata",
                                                                                 "kconfig")


PROG_SLOTS = 8


@pytest.mark.kernel
@pytest.mark.parametrize("path,index", _programs())
def test_corpus_program_agrees_with_the_kernel(path: str, index: int) -> None:
    """Run one program of an object on every packet in both worlds. Every prog_array slot i
    (i < 8) holds the object's program i modulo their number, in both worlds, so that tail
    calls (and chains of them up to the limit) are compared too."""
    from cfg.elf import load_object
    _need_kernel()
    obj = load_object(path)
    program = obj.programs[index]
    others = [p for p in obj.programs if p.type == program.type]
    fds: list[int] = []
    with kernel.KernelMaps(program.maps) as kmaps:
        try:
            try:
                for p in others:
                    fds.append(kernel.load(p, kmaps).fd)
            except kernel.KernelError as exc:
                pytest.skip(f"kernel refuses a program of the object: {exc}")
            fd = fds[others.index(program)]
            ours = MapSet(program.maps)
            for i, mdef in enumerate(program.maps):
                if mdef.type_name == "prog_array":
                    for slot in range(min(PROG_SLOTS, mdef.max_entries)):
                        j = slot % len(others)
                        kmaps.maps[i].update(struct.pack("<I", slot), struct.pack("<I", fds[j]))
                        ours[i].set_program(slot, others[j])
            machine = vm.Machine(program, ours)
            for name, packet in PACKETS.items():
                got = kernel.test_run(fd, packet)
                res = machine.run(vm.make_context(packet=packet, program_type=program.type))
                assert res.error is None, f"{name}: {res.error}"
                assert res.r0 & 0xFFFFFFFF == got.retval, name
                if program.type in ("xdp", "sched_cls"):
                    assert res.packet == got.data, name
                for i, mdef in enumerate(program.maps):
                    if _comparable(mdef):
                        theirs = {k: v for k, v in kmaps.maps[i].items() if any(v)}
                        mine = {k: v for k, v in ours[i].items() if any(v)}
                        assert mine == theirs, f"{name}: map {mdef.name}"
        finally:
            for f in fds:
                os.close(f)


def _core_programs():
    """Corpus programs with CO-RE relocations (load_object applies them against the running
    kernel's BTF, or $BPFCHECK_BTF)."""
    from cfg.elf import load_object
    out = []
    for path in sorted(glob.glob(str(ROOT / "corpus" / "build" / "*.o"))):
        try:
            obj = load_object(path)
        except Exception:  # noqa: BLE001 - the loader's own tests cover bad objects
            continue
        out += [pytest.param(path, i, id=f"{os.path.basename(path)}:{p.name}")
                for i, p in enumerate(obj.programs) if p.core_relocs]
    return out


CORE_PROGRAMS = _core_programs()


def test_the_corpus_has_core_programs() -> None:
    assert len(CORE_PROGRAMS) >= 2


@pytest.mark.kernel
@pytest.mark.parametrize("path,index", CORE_PROGRAMS)
def test_core_program_relocated_by_us_loads_in_the_kernel(path: str, index: int) -> None:
    """Our CO-RE relocations (cfg/core.py), not libbpf's, give instructions the kernel
    verifier accepts, as ours does. (These are kprobes: BPF_PROG_TEST_RUN cannot run them, and
    attaching one needs a kprobe PMU, which kernels without kprobe events lack, so the runs are
    not compared.)"""
    from cfg.elf import load_object
    from verifier.analyze import analyze
    _need_kernel()
    program = load_object(path).programs[index]
    assert len(program.core_results) == len(program.core_relocs)   # applied, not skipped
    with kernel.KernelMaps(program.maps) as kmaps:
        os.close(kernel.load(program, kmaps).fd)
    assert analyze(program).ok


# --- random programs: the interpreter against the kernel ---------------------------------------
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from cfg import isa  # noqa: E402

_U64 = st.integers(0, (1 << 64) - 1)
_ALU = sorted(isa.ALU_OP_NAMES)
_JMP = sorted(isa.JMP_OP_NAMES)


@st.composite
def _random_program(draw):
    """Straight-line code over r0-r5 with forward conditional jumps: every ALU op, both
    widths and operand forms, signed division, movsx, byte swaps, neg (immediates the kernel
    verifier accepts: no constant zero divisor, shifts below the width), loads, sign-extending
    loads, stores and every atomic on the 64 zeroed bytes below r10."""
    insns = [isa.lddw(r, draw(_U64)) for r in range(6)]
    body: list[isa.Insn] = []
    for _ in range(draw(st.integers(1, 20))):
        kind = draw(st.sampled_from(["alu", "alu", "alu", "jmp", "movsx", "end", "neg",
                                     "mem", "mem", "atomic"]))
        dst, src = draw(st.integers(0, 5)), draw(st.integers(0, 5))
        cls = draw(st.sampled_from([isa.CLS_ALU, isa.CLS_ALU64]))
        width = 64 if cls == isa.CLS_ALU64 else 32
        if kind == "alu":
            code = draw(st.sampled_from(_ALU + [isa.ALU_MOV]))
            signed = code in (isa.ALU_DIV, isa.ALU_MOD) and draw(st.booleans())
            if draw(st.booleans()):
                body.append(isa.Insn(cls | isa.SRC_X | code, dst, src, int(signed)))
            else:
                if code in (isa.ALU_LSH, isa.ALU_RSH, isa.ALU_ARSH):
                    imm = draw(st.integers(0, width - 1))
                elif code in (isa.ALU_DIV, isa.ALU_MOD):
                    imm = draw(st.integers(-(1 << 31), (1 << 31) - 1).filter(bool))
                else:
                    imm = draw(st.integers(-(1 << 31), (1 << 31) - 1))
                body.append(isa.Insn(cls | isa.SRC_K | code, dst, 0, int(signed), imm))
        elif kind == "movsx":
            bits = draw(st.sampled_from([8, 16, 32] if width == 64 else [8, 16]))
            body.append(isa.Insn(cls | isa.SRC_X | isa.ALU_MOV, dst, src, bits))
        elif kind == "end":
            form = draw(st.sampled_from([isa.CLS_ALU | isa.SRC_K, isa.CLS_ALU | isa.SRC_X,
                                         isa.CLS_ALU64 | isa.SRC_K]))
            body.append(isa.Insn(form | isa.ALU_END, dst, 0, 0, draw(st.sampled_from([16, 32, 64]))))
        elif kind == "neg":
            body.append(isa.Insn(cls | isa.ALU_NEG, dst))
        elif kind == "mem":  # the 64 zeroed bytes below r10, aligned accesses
            size = draw(st.sampled_from([1, 2, 4, 8]))
            off = -size * draw(st.integers(1, 64 // size))
            code = isa.BYTES_SIZE[size]
            op = draw(st.sampled_from(["ldx", "ldxsx", "st", "stx"] if size < 8
                                      else ["ldx", "st", "stx"]))
            if op == "ldx":
                body.append(isa.Insn(isa.CLS_LDX | isa.MODE_MEM | code, dst, 10, off))
            elif op == "ldxsx":
                body.append(isa.Insn(isa.CLS_LDX | isa.MODE_MEMSX | code, dst, 10, off))
            elif op == "st":
                body.append(isa.Insn(isa.CLS_ST | isa.MODE_MEM | code, 10, 0, off,
                                     draw(st.integers(-(1 << 31), (1 << 31) - 1))))
            else:
                body.append(isa.Insn(isa.CLS_STX | isa.MODE_MEM | code, 10, src, off))
        elif kind == "atomic":
            size = draw(st.sampled_from([4, 8]))
            off = -size * draw(st.integers(1, 64 // size))
            aop = draw(st.sampled_from(sorted(isa.ATOMIC_OP_NAMES)))
            body.append(isa.Insn(isa.CLS_STX | isa.MODE_ATOMIC | isa.BYTES_SIZE[size], 10,
                                 draw(st.integers(1, 5)), off, aop))
        else:
            jcls = isa.CLS_JMP if width == 64 else isa.CLS_JMP32
            code = draw(st.sampled_from(_JMP))
            body.append(("jmp", jcls, code, dst, src, draw(st.booleans()),
                         draw(st.integers(-(1 << 31), (1 << 31) - 1)), draw(st.integers(1, 4))))
    out: list[isa.Insn] = []
    for i, item in enumerate(body):
        if isinstance(item, tuple):
            _, jcls, code, dst, src, reg, imm, skip = item
            skip = min(skip, len(body) - i - 1)
            # forward only, over single-slot instructions: the target stays in range
            out.append(isa.Insn(jcls | (isa.SRC_X if reg else isa.SRC_K) | code, dst,
                                src if reg else 0, skip, 0 if reg else imm))
        else:
            out.append(item)
    zero = [isa.Insn(isa.CLS_ST | isa.MODE_MEM | isa.SIZE_DW, 10, 0, -8 * i) for i in range(1, 9)]
    return zero + insns + out + [isa.Insn(isa.CLS_JMP | isa.JMP_EXIT)]


@pytest.mark.kernel
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_random_program())
def test_random_programs_agree_with_the_kernel(insns) -> None:
    _need_kernel()
    r0, refused = kernel.run_data_test(insns)
    assert refused is None, refused
    result = vm.run(Program(insns))
    assert result.error is None and result.r0 == r0


# --- helpers: the same small programs on both -----------------------------------------------
HELPER_PROGRAMS = {
    # csum_diff of 8 old bytes and 12 new bytes from the stack, with a seed
    "csum_diff": ("xdp", """
        lddw %r1, 0x1122334455667788
        stxdw [%r10-8], %r1
        lddw %r1, 0xfedcba9876543210
        stxdw [%r10-24], %r1
        stw [%r10-16], 0x7f00ff01
        mov %r1, %r10
        add %r1, -8
        mov %r2, 8
        mov %r3, %r10
        add %r3, -24
        mov %r4, 12
        mov %r5, 0x1234
        call 28
        exit"""),
    "csum_diff_only_new": ("xdp", """
        lddw %r1, 0xffffffffffffffff
        stxdw [%r10-8], %r1
        mov %r1, 0
        mov %r2, 0
        mov %r3, %r10
        add %r3, -8
        mov %r4, 8
        mov %r5, 0xffffffff
        call 28
        exit"""),
    # move data forward by 14, shrink the tail by 6: the output packet changes
    "xdp_adjust": ("xdp", """
        mov %r6, %r1
        mov %r2, 14
        call 44
        mov %r7, %r0
        mov %r1, %r6
        mov %r2, -6
        call 65
        lsh %r0, 8
        or %r0, %r7
        exit"""),
    "xdp_adjust_head_too_far": ("xdp", """
        mov %r2, 100000
        call 44
        exit"""),
    "xdp_load_bytes": ("xdp", """
        mov %r6, %r1
        mov %r2, 3
        mov %r3, %r10
        add %r3, -8
        mov %r4, 8
        call 189
        ldxdw %r0, [%r10-8]
        exit"""),
    "skb_load_bytes": ("sched_cls", """
        mov %r2, 12
        mov %r3, %r10
        add %r3, -4
        mov %r4, 4
        call 26
        ldxw %r1, [%r10-4]
        lsh %r0, 32
        or %r0, %r1
        exit"""),
    "skb_load_bytes_out_of_range": ("sched_cls", """
        mov %r2, 60
        mov %r3, %r10
        add %r3, -8
        mov %r4, 8
        call 26
        exit"""),
    "skb_store_and_l3_csum": ("sched_cls", """
        mov %r6, %r1
        sth [%r10-2], 0x2a2a
        mov %r2, 20
        mov %r3, %r10
        add %r3, -2
        mov %r4, 2
        mov %r5, 0
        call 9
        mov %r1, %r6
        mov %r2, 24
        mov %r3, 0x4000
        mov %r4, 0x2a2a
        mov %r5, 2
        call 10
        exit"""),
}


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(HELPER_PROGRAMS))
def test_helpers_agree_with_the_kernel(name: str) -> None:
    _need_kernel()
    ptype, text = HELPER_PROGRAMS[name]
    program = Program(assemble(text, "ubpf"), type=ptype, name=name)
    packet = PACKETS["ipv4_udp"]
    loaded = kernel.load(program)
    try:
        got = kernel.test_run(loaded.fd, packet)
    finally:
        os.close(loaded.fd)
    res = vm.run(program, packet=packet)
    assert res.error is None
    assert res.r0 & 0xFFFFFFFF == got.retval
    assert res.packet == got.data
