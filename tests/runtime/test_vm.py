"""The interpreter beyond single instructions: contexts, helpers, maps, calls, traps, hooks."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from cfg.asm import assemble
from cfg.program import MAP_TYPE_IDS, MapDef, Program
from runtime import context, vm
from runtime.maps import MapSet

PACKET = bytes(range(64))


def prog(text: str, maps=(), type_: str = "xdp", name: str = "p") -> Program:
    return Program(assemble(text, "ubpf"), maps=maps, type=type_, name=name)


def array(name: str = "arr", value: int = 8, n: int = 4, **kw) -> MapDef:
    return MapDef(name, MAP_TYPE_IDS["array"], 4, value, n, **kw)


def test_xdp_ctx_loads_yield_full_packet_pointers() -> None:
    p = prog("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r0, %r3\nsub %r0, %r2\n"
             "ldxb %r4, [%r2+5]\nlsh %r4, 32\nor %r0, %r4\nexit")
    r = vm.run(p, packet=PACKET)
    assert r.error is None
    assert r.r0 == len(PACKET) | (5 << 32)


def test_xdp_data_meta_equals_data_initially() -> None:
    r = vm.run(prog("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+8]\nmov %r0, %r2\nsub %r0, %r3\nexit"),
               packet=PACKET)
    assert r.error is None and r.r0 == 0


def test_packet_read_past_data_end_traps_with_region_name() -> None:
    r = vm.run(prog("ldxw %r2, [%r1+0]\nldxb %r0, [%r2+64]\nexit"), packet=PACKET)
    assert r.error is not None and "packet" in r.error and r.pc == 1


def test_ctx_narrow_or_wide_pointer_load_traps() -> None:
    r = vm.run(prog("ldxdw %r0, [%r1+0]\nexit"), packet=PACKET)
    assert r.error is not None and "xdp_md" in r.error


def test_sk_buff_fields() -> None:
    pkt = bytes(12) + b"\x08\x00" + bytes(50)
    p = prog("ldxw %r0, [%r1+0]\nldxw %r2, [%r1+16]\nlsh %r2, 32\nor %r0, %r2\nexit",
             type_="sched_cls")
    r = vm.run(p, packet=pkt)
    assert r.error is None and r.r0 == len(pkt) | (0x0008 << 32)


def test_sk_buff_write_rules_depend_on_program_type() -> None:
    text = "mov %r2, 7\nstxw [%r1+8], %r2\nldxw %r0, [%r1+8]\nexit"
    assert vm.run(prog(text, type_="sched_cls"), packet=PACKET).r0 == 7
    r = vm.run(prog(text, type_="socket_filter"), packet=PACKET)
    assert r.error is not None and "read-only" in r.error
    r = vm.run(prog("mov %r2, 7\nstxw [%r1+0], %r2\nmov %r0, 0\nexit", type_="sched_cls"),
               packet=PACKET)
    assert r.error is not None  # len is read-only


def test_ld_abs_and_ld_ind_read_network_order_and_abort_out_of_bounds() -> None:
    p = prog("ldabsh 2\nmov %r6, %r0\nmov %r7, 4\nldindw %r7, 0\nlsh %r6, 32\nor %r0, %r6\nexit",
             type_="sched_cls")
    r = vm.run(p, packet=PACKET)
    assert r.r0 == (0x0203 << 32) | 0x04050607
    r = vm.run(prog("mov %r0, 5\nldabsb 64\nmov %r0, 9\nexit", type_="sched_cls"),
               packet=PACKET)
    assert r.error is None and r.r0 == 0  # as the kernel: the program ends with r0 = 0


def test_xdp_adjust_head_and_tail_change_the_output_packet() -> None:
    p = prog("mov %r6, %r1\nmov %r2, 14\ncall 44\nmov %r1, %r6\nmov %r2, -4\ncall 65\n"
             "ldxw %r2, [%r6+0]\nldxb %r0, [%r2+0]\nexit")
    r = vm.run(p, packet=PACKET)
    assert r.error is None and r.r0 == 14 and r.packet == PACKET[14:-4]
    r = vm.run(prog("mov %r2, -1000\ncall 44\nexit"), packet=PACKET)
    assert r.r0 == (-22) & vm.M64 and r.packet == PACKET


def test_old_packet_pointer_after_adjust_head_traps() -> None:
    p = prog("mov %r6, %r1\nldxw %r7, [%r1+0]\nmov %r2, 20\ncall 44\nldxb %r0, [%r7+0]\nexit")
    r = vm.run(p, packet=PACKET)
    assert r.error is not None and r.pc == 4 and "before packet [" in r.error


def test_map_lookup_update_from_the_program_and_maps_persist() -> None:
    text = """
    mov %r2, 1
    stxw [%r10-4], %r2
    lddw %r1, map_fd(0)
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, out
    mov %r1, 1
    lock add [%r0+0], %r1
    ldxdw %r0, [%r0+0]
    out:
    exit
    """
    p = prog(text, maps=[array()])
    machine = vm.Machine(p)
    results = [machine.run(context.Context("none")).r0 for _ in range(3)]
    assert results == [1, 2, 3]
    assert machine.maps["arr"].get((1).to_bytes(4, "little")) == (3).to_bytes(8, "little")


def test_hash_update_and_delete_helpers_return_kernel_codes() -> None:
    hash_def = MapDef("h", MAP_TYPE_IDS["hash"], 4, 8, 1)
    text = """
    stdw [%r10-16], 5
    stw [%r10-4], 1
    lddw %r1, map_fd(0)
    mov %r2, %r10
    add %r2, -4
    mov %r3, %r10
    add %r3, -16
    mov %r4, 2
    call 2
    exit
    """
    r = vm.run(prog(text, maps=[hash_def]))
    assert r.r0 == (-2) & vm.M64  # BPF_EXIST on a missing key: -ENOENT
    r = vm.run(prog(text.replace("mov %r4, 2", "mov %r4, 0"), maps=[hash_def]))
    assert r.r0 == 0 and r.maps["h"].get(b"\x01\0\0\0") == (5).to_bytes(8, "little")


def test_global_data_is_addressable_and_rodata_is_read_only() -> None:
    ro = array(".rodata", value=8, n=1, kind="rodata", initial_value=(42).to_bytes(8, "little"))
    r = vm.run(prog("lddw %r1, map_value(0)+4\nldxw %r0, [%r1-4]\nexit", maps=[ro]))
    assert r.error is None and r.r0 == 42
    r = vm.run(prog("lddw %r1, map_value(0)+0\nstw [%r1+0], 1\nmov %r0, 0\nexit", maps=[ro]))
    assert r.error is not None and "read-only" in r.error


def test_tail_call_runs_the_target_and_falls_through_when_missing() -> None:
    jmp = MapDef("jmp", MAP_TYPE_IDS["prog_array"], 4, 4, 4)
    target = prog("mov %r0, 7\nexit", maps=[jmp], name="target")
    caller = prog("mov %r6, %r1\nlddw %r2, map_fd(0)\nmov %r3, 1\ncall 12\nmov %r0, 99\nexit",
                  maps=[jmp])
    maps = MapSet(caller.maps)
    assert vm.run(caller, maps=maps).r0 == 99  # empty slot: the call fails, execution goes on
    maps["jmp"].set_program(1, target)
    assert vm.run(caller, maps=maps).r0 == 7


def test_tail_call_chain_is_limited_to_33() -> None:
    jmp = MapDef("jmp", MAP_TYPE_IDS["prog_array"], 4, 4, 1)
    counter = array("count", n=1)
    text = """
    mov %r6, %r1
    stw [%r10-4], 0
    lddw %r1, map_fd(1)
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, out
    mov %r1, 1
    lock add [%r0+0], %r1
    mov %r1, %r6
    lddw %r2, map_fd(0)
    mov %r3, 0
    call 12
    out:
    mov %r0, 0
    exit
    """
    p = prog(text, maps=[jmp, counter])
    maps = MapSet(p.maps)
    maps["jmp"].set_program(0, p)
    r = vm.run(p, maps=maps)
    assert r.error is None
    assert maps["count"].get(bytes(4)) == (34).to_bytes(8, "little")  # 1 + 33 tail calls


def test_callx_through_a_code_address_and_a_helper_id() -> None:
    r = vm.run(prog("mov %r6, 3\nlddw %r3, func(f)\ncallx %r3\nadd %r0, %r6\nexit\n"
                    "f:\nmov %r6, 100\nmov %r0, 5\nexit"))
    assert r.error is None and r.r0 == 8
    r = vm.run(prog("mov %r2, 8\ncallx %r2\nexit"))  # helper 8: get_smp_processor_id
    assert r.error is None and r.r0 == 0
    r = vm.run(prog("mov %r2, 100000\ncallx %r2\nexit"))
    assert r.error is not None and "callx" in r.error


def test_ringbuf_from_the_program() -> None:
    rb = MapDef("events", MAP_TYPE_IDS["ringbuf"], 0, 0, 4096)
    text = """
    lddw %r1, map_fd(0)
    mov %r2, 8
    mov %r3, 0
    call 131
    jeq %r0, 0, out
    stdw [%r0+0], 77
    mov %r1, %r0
    mov %r2, 0
    call 132
    mov %r0, 1
    out:
    exit
    """
    r = vm.run(prog(text, maps=[rb]))
    assert r.error is None and r.r0 == 1
    assert r.maps["events"].records == [(77).to_bytes(8, "little")]
    r = vm.run(prog(text.replace("stdw [%r0+0], 77", "stdw [%r0+8], 77"), maps=[rb]))
    assert r.error is not None  # past the reserved record


def test_trace_printk_is_captured() -> None:
    fmt = int.from_bytes(b"n=%d x\0\0", "little")
    r = vm.run(prog(f"lddw %r1, {fmt:#x}\nstxdw [%r10-8], %r1\nmov %r1, %r10\nadd %r1, -8\n"
                    "mov %r2, 8\nmov %r3, -42\ncall 6\nmov %r0, 0\nexit"))
    assert r.error is None and r.trace_output == ["n=-42 x"]


def test_prandom_is_deterministic_per_seed() -> None:
    p = prog("call 7\nmov %r6, %r0\ncall 7\nlsh %r0, 32\nor %r0, %r6\nexit")
    a, b, c = (vm.run(p, seed=s).r0 for s in (1, 1, 2))
    assert a == b and a != c


def test_helper_faults_name_the_helper() -> None:
    r = vm.run(prog("lddw %r1, map_fd(0)\nmov %r2, 0\ncall 1\nexit", maps=[array()]))
    assert r.error is not None and "map_lookup_elem" in r.error and r.pc == 3


def test_unknown_helper_and_not_a_map() -> None:
    assert "unknown helper" in vm.run(prog("call 5000\nexit")).error
    r = vm.run(prog("mov %r1, 0\nmov %r2, %r10\ncall 1\nexit"))
    assert r.error is not None and "not a map" in r.error


def test_budget_and_trace_hook() -> None:
    r = vm.run(prog("mov %r0, 0\nja -1\nexit"), budget=50)
    assert r.error is not None and "budget" in r.error and r.steps == 50
    seen: list[tuple[int, int]] = []
    r = vm.run(prog("mov %r0, 1\nmov %r1, 2\njeq %r0, 1, +1\nmov %r0, 9\nexit"),
               trace=lambda pc, regs, mem: seen.append((pc, regs[0])))
    assert [pc for pc, _ in seen] == [0, 1, 2, 4] and seen[-1][1] == 1 and r.steps == 4


def test_raw_memory_convention_and_result_mem() -> None:
    r = vm.run(prog("mov %r0, %r2\nstb [%r1+1], 0xaa\nexit"), mem=b"\x01\x02\x03")
    assert r.r0 == 3 and r.mem == b"\x01\xaa\x03"


def test_runs_sharing_a_map_set_do_not_accumulate_regions() -> None:
    p = prog("lddw %r1, map_fd(0)\nmov %r0, 0\nexit", maps=[array()])
    maps = MapSet(p.maps)
    before = len(maps.memory.regions)
    for _ in range(5):
        assert vm.run(p, maps=maps, packet=PACKET).error is None
    assert len(maps.memory.regions) == before


def test_unchecked_mode_still_traps() -> None:
    r = vm.run(prog("ldxdw %r0, [%r10+8]\nexit"), checked=False)
    assert r.error is not None and "invalid read" in r.error


def test_bad_jump_and_lddw_middle_are_errors_not_crashes() -> None:
    from cfg.isa import CLS_JMP, JMP_JA, Insn
    p = Program([Insn(CLS_JMP | JMP_JA, off=5)])
    assert "outside the program" in vm.run(p).error


# --- laws ----------------------------------------------------------------------------------
U64 = st.integers(0, (1 << 64) - 1)


def _alu(op: str, a: int, b: int, width: int = 64) -> int:
    sfx = "" if width == 64 else "32"
    r = vm.run(prog(f"lddw %r0, {a:#x}\nlddw %r1, {b:#x}\n{op}{sfx} %r0, %r1\nexit"))
    assert r.error is None
    return r.r0


@settings(max_examples=40, deadline=None)
@given(U64, U64.filter(bool))
def test_unsigned_division_identity(a: int, b: int) -> None:
    assert _alu("div", a, b) * b + _alu("mod", a, b) == a


@settings(max_examples=40, deadline=None)
@given(U64, U64.filter(bool))
def test_signed_division_identity(a: int, b: int) -> None:
    q, r = _alu("sdiv", a, b), _alu("smod", a, b)
    assert (q * b + r) & vm.M64 == a
    s = lambda v: v - (1 << 64) if v >> 63 else v  # noqa: E731
    assert abs(s(r)) < abs(s(b)) and (s(r) == 0 or (s(r) < 0) == (s(a) < 0))


@settings(max_examples=40, deadline=None)
@given(U64, U64, st.sampled_from(["add", "sub", "mul", "or", "and", "xor", "lsh", "rsh",
                                  "arsh", "div", "mod", "sdiv", "smod", "mov"]))
def test_32bit_results_are_zero_extended(a: int, b: int, op: str) -> None:
    assert _alu(op, a, b, 32) >> 32 == 0


@settings(max_examples=30, deadline=None)
@given(U64, st.sampled_from([16, 32, 64]))
def test_bswap_twice_is_truncation(v: int, bits: int) -> None:
    r = vm.run(prog(f"lddw %r0, {v:#x}\nswap{bits} %r0\nswap{bits} %r0\nexit"))
    assert r.r0 == v & ((1 << bits) - 1)
