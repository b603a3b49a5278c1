"""eBPF for Windows programs on the runtime: contexts, the Windows helper table, renumbered maps,
and every safe Windows corpus program giving the same results (r0, packet, maps) on the
interpreter, the portable JIT, the native JIT and the AOT engine."""
from __future__ import annotations

import glob
import pathlib
import platform
import shutil
import struct

import pytest

from cfg.asm import assemble
from cfg.elf import load_object
from cfg.errors import BpfcheckError
from cfg.program import MapDef, Program
from runtime import packets as P
from runtime import windows
from runtime.helpers import HELPERS
from runtime.maps import ProgArrayMap

ROOT = pathlib.Path(__file__).resolve().parents[2]
WINDOWS = ROOT / "corpus" / "windows" / "build"
ENGINES = ["interp", "pyjit"]
if platform.machine() == "x86_64" and platform.system() == "Linux":
    ENGINES.append("jit")
if shutil.which("cc") or shutil.which("gcc") or shutil.which("clang"):
    ENGINES.append("aot")


def _udp(dport: int) -> bytes:
    return P.udp(40000, dport, b"hello!")


def _ipv4(proto: int, l4: bytes, src: int = 0x0A000002, ttl: int = 64) -> bytes:
    return P.ipv4(proto, l4, src=src, dst=0x0A000001, ttl=ttl)


def _ipv6(l4: bytes, hop_limit: int = 64, dst0: int = 0x20) -> bytes:
    return P.ipv6(P.PROTO_UDP, l4, src=bytes(range(16)), dst=bytes([dst0]) + bytes(15),
                  hop_limit=hop_limit)


TCP_SYN = P.tcp(40000, 80)
PACKETS = [
    P.eth(P.ETH_IPV4, _ipv4(17, _udp(9))),            # UDP discard port
    P.eth(P.ETH_IPV4, _ipv4(17, _udp(7))),            # UDP echo
    P.eth(P.ETH_IPV4, _ipv4(17, _udp(53), src=0x0A0000FE)),
    P.eth(P.ETH_IPV4, _ipv4(6, TCP_SYN)),
    P.eth(P.ETH_IPV4, _ipv4(6, TCP_SYN, ttl=0)),
    P.eth(P.ETH_IPV6, _ipv6(_udp(53), hop_limit=1)),
    P.eth(P.ETH_IPV6, _ipv6(_udp(53), dst0=0xFF)),
    P.eth(0x88B5, b"\x00\x01\x02\x03" + _ipv4(17, _udp(9))),  # the untag program's EtherType
    P.eth(P.ETH_ARP, bytes(28)),
    bytes(10),                                   # runt
]
SOCKADDR_IN = lambda port: struct.pack("<H", 2) + struct.pack("!H", port) + bytes(12)  # noqa: E731
BIND_INPUTS = [
    windows.bind(b"\\device\\harddisk\\app.exe", process_id=1234, operation=0, protocol=6,
                 socket_address=SOCKADDR_IN(80), socket_address_length=16),
    windows.bind(b"", process_id=4, operation=0, protocol=17,
                 socket_address=SOCKADDR_IN(8080), socket_address_length=16),
    windows.bind(b"svc", process_id=1234, operation=1, protocol=6,
                 socket_address=SOCKADDR_IN(22), socket_address_length=16),
    windows.bind(bytes(range(200)), process_id=77, operation=2, protocol=6,
                 socket_address=SOCKADDR_IN(443), socket_address_length=16),
]


def _sock_addr_inputs(hook: str) -> list:
    six = hook.endswith("6")
    ip = (lambda last: bytes(15) + bytes([last])) if six else (lambda last: 0x0A000000 | last << 24)
    key = "user_ip6" if six else "user_ip4"
    src = "msg_src_ip6" if six else "msg_src_ip4"
    return [windows.sock_addr(hook, **{key: ip(1), src: ip(2)}, user_port=0x5000, protocol=6,
                              msg_src_port=0x3930, compartment_id=1),
            windows.sock_addr(hook, **{key: ip(9), src: ip(3)}, user_port=0x3500, protocol=17,
                              msg_src_port=0x5000, compartment_id=2, interface_luid=7),
            windows.sock_addr(hook, **{key: ip(1), src: ip(2)}, user_port=0x5000, protocol=6,
                              msg_src_port=0x3930, compartment_id=1)]


SOCK_OPS_INPUTS = [
    windows.sock_ops(op=op, family=fam, local_ip6=bytes(range(16)), local_port=1234,
                     remote_ip6=bytes(range(16, 32)), remote_port=80, protocol=6,
                     compartment_id=1, interface_luid=3)
    for op in (0, 1, 2, 0) for fam in (windows.AF_INET, windows.AF_INET6)]


def _inputs(program: Program) -> list:
    ptype = windows.program_type(program.section)
    if ptype == "xdp":
        return [windows.xdp(p, ingress_ifindex=3) for p in PACKETS]
    if ptype == "bind":
        return BIND_INPUTS
    if ptype == "sock_addr":
        return _sock_addr_inputs(program.section.split("/", 1)[1])
    return SOCK_OPS_INPUTS


def _safe_programs():
    out = []
    for path in sorted(glob.glob(str(WINDOWS / "*.o"))):
        name = pathlib.Path(path).name
        if name.startswith("bad_"):
            continue
        for i, p in enumerate(load_object(path).programs):
            out.append(pytest.param(path, i, id=f"{name}:{p.name}"))
    return out


def _run_all(engine: str, path: str, index: int) -> list[tuple]:
    obj = load_object(path)
    program = obj.programs[index]
    siblings = {p.name: p for p in obj.programs}
    maps = windows.mapset(program, siblings)
    for m in maps:   # prog_array slot i: the object's program i + 1 (the dispatcher is first)
        if isinstance(m, ProgArrayMap):
            for slot in range(min(m.max_entries, len(obj.programs))):
                m.set_program(slot, obj.programs[(slot + 1) % len(obj.programs)])
    machine = windows.machine(program, engine, maps)
    out = []
    for ctx in _inputs(program):
        res = machine.run(ctx)
        out.append((res.r0, res.error, res.packet, maps.dump(), res.trace_output))
    return out


@pytest.mark.parametrize("path,index", _safe_programs())
def test_corpus_program_runs_alike_on_every_engine(path, index):
    expected = _run_all("interp", path, index)
    assert all(error is None for _, error, *_ in expected), expected
    for engine in ENGINES[1:]:
        got = _run_all(engine, path, index)
        assert got == expected, engine


def test_xdp_programs_see_their_packets():
    """The inputs reach the programs' decisions: results differ across packets as the C says."""
    obj = load_object(str(WINDOWS / "xdp_drop_udp_port.o"))
    runs = {i: r0 for i, (r0, *_rest) in enumerate(_run_all("interp", obj.path, 0))}
    assert runs[0] == windows.XDP_DROP and runs[1] == windows.XDP_PASS
    echo = _run_all("interp", str(WINDOWS / "xdp_udp_echo_tx.o"), 0)
    assert echo[1][0] == windows.XDP_TX and echo[0][0] == windows.XDP_PASS
    assert echo[1][2] != PACKETS[1]          # the echo swapped addresses in place
    untag = _run_all("interp", str(WINDOWS / "xdp_adjust_head_untag.o"), 0)
    assert untag[7][2] != PACKETS[7] and len(untag[7][2]) < len(PACKETS[7])


def test_tail_calls_use_the_windows_number():
    runs = _run_all("interp", str(WINDOWS / "xdp_tail_dispatch.o"), 0)
    assert runs[4][0] == windows.XDP_DROP     # IPv4 TTL 0: the IPv4 handler ran
    assert runs[6][0] == windows.XDP_DROP     # IPv6 multicast: the IPv6 handler ran
    assert runs[3][0] == windows.XDP_PASS


# --- contexts ---------------------------------------------------------------------------------
def _machine(text: str, section: str, maps=()):
    program = Program(assemble(text), section=section, maps=tuple(maps))
    return windows.machine(program)


@pytest.mark.parametrize("engine", ENGINES)
def test_xdp_md_pointers_are_8_byte_fields(engine):
    program = Program(assemble("r2 = *(u64 *)(r1 + 0)\nr3 = *(u64 *)(r1 + 8)\n"
                               "r0 = r3\nr0 -= r2\nr4 = *(u32 *)(r1 + 24)\nr0 += r4\nexit"),
                      section="xdp")
    res = windows.machine(program, engine).run(windows.xdp(bytes(60), ingress_ifindex=5))
    assert (res.error, res.r0) == (None, 65)


def test_narrow_load_of_a_pointer_field_traps():
    res = _machine("r0 = *(u32 *)(r1 + 0)\nexit", "xdp").run(windows.xdp(bytes(20)))
    assert res.error is not None and "xdp_md" in res.error


def test_bind_context_fields_and_write_rules():
    ok = _machine("r2 = 7\n*(u8 *)(r1 + 40) = r2\nr0 = *(u64 *)(r1 + 16)\nexit", "bind")
    res = ok.run(windows.bind(b"x", process_id=99))
    assert (res.error, res.r0) == (None, 99)
    bad = _machine("r2 = 7\n*(u64 *)(r1 + 16) = r2\nr0 = 0\nexit", "bind")
    assert "read-only" in bad.run(windows.bind(b"x")).error
    app = _machine("r2 = *(u64 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 1)\nexit", "bind")
    assert app.run(windows.bind(b"AB")).r0 == ord("B")


def test_sock_addr_connect_may_redirect_but_recv_accept_may_not():
    text = "r2 = 0x1234\n*(u16 *)(r1 + 40) = r2\nr0 = *(u16 *)(r1 + 40)\nexit"
    assert _machine(text, "cgroup/connect4").run(windows.sock_addr("connect4")).r0 == 0x1234
    assert "read-only" in _machine(text, "cgroup/recv_accept4").run(
        windows.sock_addr("recv_accept4")).error
    fam = _machine("r0 = *(u32 *)(r1 + 0)\nexit", "cgroup/connect6")
    assert fam.run(windows.sock_addr("connect6")).r0 == windows.AF_INET6


def test_unknown_context_field_is_an_error():
    with pytest.raises(BpfcheckError, match="no settable field"):
        _machine("r0 = 0\nexit", "sockops").run(windows.sock_ops(nonsense=1))
    with pytest.raises(BpfcheckError, match="no settable field"):
        _machine("r0 = 0\nexit", "xdp").run(windows.xdp(b"", data=1))


# --- helpers ---------------------------------------------------------------------------------
def test_helper_table_replaces_the_linux_numbering():
    table = windows.helpers_for("xdp")
    assert table[5] is HELPERS[12] and table[1] is HELPERS[1]
    assert table[0xFFFF + 1] is HELPERS[44]
    assert set(HELPERS) <= set(table)
    assert 0xFFFF + 1 not in windows.helpers_for("bind")
    assert windows.helper_name("cgroup/connect4", 0x10001) == "sock_addr_set_redirect_context"
    assert windows.helper_name("sockops", 0x10001) is None


@pytest.mark.parametrize("engine", ENGINES)
def test_linux_only_helper_number_is_a_run_time_error(engine):
    program = Program(assemble("call 130\nexit"), section="sockops")   # Linux ringbuf_output
    res = windows.machine(program, engine).run(windows.sock_ops())
    assert res.error is not None and "sock_ops" in res.error


def test_program_type_helpers_exist_only_for_their_type():
    res = _machine("call 65536\nexit", "bind").run(windows.bind(b""))
    assert "unknown helper 65536" in res.error
    res = _machine("r1 = 0\ncall 65536\nexit", "cgroup/connect4").run(windows.sock_addr())
    assert (res.error, res.r0) == (None, (4242 << 32) | 4243)


def test_general_helpers_by_windows_number():
    # r0 = ktime_get_ms() > 0; memset + memcmp_s on the stack; strnlen_s
    text = """
    r6 = r10
    r6 += -16
    r1 = r6
    r2 = 16
    r3 = 0x41
    call 24
    r1 = r6
    r2 = 8
    r3 = r6
    r3 += 8
    r4 = 8
    call 23
    r7 = r0
    r1 = 0
    *(u8 *)(r10 - 4) = r1
    r1 = r6
    r2 = 16
    call 29
    r0 <<= 8
    r0 |= r7
    exit
    """
    res = _machine(text, "sockops").run(windows.sock_ops())
    assert (res.error, res.r0) == (None, 12 << 8)


def test_lookup_and_delete_returns_the_removed_value():
    text = """
    r1 = 5
    *(u32 *)(r10 - 4) = r1
    *(u64 *)(r10 - 16) = r1
    r1 = map_by_idx(0)
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 0
    call 2
    r1 = map_by_idx(0)
    r2 = r10
    r2 += -4
    call 4
    if r0 == 0 goto out
    r0 = *(u64 *)(r0 + 0)
    out:
    exit
    """
    m = _machine(text, "sockops", [MapDef("h", 1, 4, 8, 4)])   # Windows type 1 = hash
    assert m.run(windows.sock_ops()).r0 == 5
    assert m.maps["h"].dump() == {}


def test_windows_map_types_are_renumbered():
    defs = windows.map_defs([MapDef("rb", 13, 0, 0, 4096), MapDef("q", 10, 0, 8, 4),
                             MapDef("pa", 5, 4, 8, 4)])
    assert [d.type_name for d in defs] == ["ringbuf", "queue", "percpu_array"]
    with pytest.raises(BpfcheckError):
        windows.map_def(MapDef("x", 99, 4, 4, 1))


def test_unknown_section_is_an_error():
    with pytest.raises(BpfcheckError, match="Windows"):
        windows.program_type("kprobe/foo")
    with pytest.raises(BpfcheckError, match="hook"):
        windows.sock_addr("connect9")



# --- bpfcheck run --platform windows ---------------------------------------------------------
@pytest.mark.parametrize("section,verdict", [("xdp", "XDP_PASS"), ("bind", "BIND_PERMIT"),
                                             ("cgroup/connect4", "VERDICT_PROCEED"),
                                             ("sockops", "r0 = 0")])
def test_cli_runs_windows_programs(section, verdict, capsys):
    from verifier.cli import main
    obj = str(WINDOWS / "multi_hook_counters.o")
    assert main(["run", obj, "--section", section, "--platform", "windows", "--engine",
                 "interp", "--repeat", "2"]) == 0
    out = capsys.readouterr().out
    assert verdict in out and '"0200000000000000"' in out   # the counter reached 2


def test_cli_runs_a_windows_xdp_program_on_a_packet(tmp_path, capsys):
    from verifier.cli import main
    pkt = tmp_path / "udp9.bin"
    pkt.write_bytes(PACKETS[0])
    assert main(["run", str(WINDOWS / "xdp_drop_udp_port.o"), "--platform", "windows",
                 "--packet", str(pkt), "--engine", "pyjit"]) == 0
    assert "XDP_DROP" in capsys.readouterr().out
