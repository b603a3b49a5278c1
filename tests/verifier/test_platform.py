"""Platform tables: context layouts against the C headers, helper ids against bpf.h, access rules."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from cfg.errors import BpfcheckError
from verifier.platform import (ARG_KINDS, RET_KINDS, ContextLayout, CtxField, HelperProto,
                               PlatformError, get_platform, section_matches)

BPF_H = Path("/usr/include/linux/bpf.h")

# Layout name -> the C struct it mirrors (layouts not listed have no C struct to compare).
C_STRUCTS = {
    "xdp_md": "struct xdp_md", "__sk_buff": "struct __sk_buff", "bpf_sock_ops": "struct bpf_sock_ops",
    "bpf_sock": "struct bpf_sock", "bpf_sock_addr": "struct bpf_sock_addr",
    "sk_msg_md": "struct sk_msg_md", "sk_reuseport_md": "struct sk_reuseport_md",
    "bpf_sk_lookup": "struct bpf_sk_lookup", "bpf_perf_event_data": "struct bpf_perf_event_data",
    "bpf_cgroup_dev_ctx": "struct bpf_cgroup_dev_ctx", "bpf_sysctl": "struct bpf_sysctl",
    "bpf_sockopt": "struct bpf_sockopt", "pt_regs": "struct pt_regs",
}


def linux():
    return get_platform("linux")


def all_layouts(platform):
    seen = {}
    for pt in platform.program_types.values():
        seen[(pt.context.name, pt.context.fields)] = pt.context
    return list(seen.values())


def c_extent(struct: str, name: str) -> tuple[str, str]:
    """C expressions for (offset, end) of a field named as in our tables."""
    m = re.fullmatch(r"(\w+)\[(\d+)\.\.(\d+)\]", name)
    if m:
        base, lo, hi = m.groups()
        return (f"offsetof({struct}, {base}[{lo}])",
                f"offsetof({struct}, {base}[{hi}]) + sizeof((({struct} *)0)->{base}[{hi}])")
    return f"offsetof({struct}, {name})", f"offsetof({struct}, {name}) + sizeof((({struct} *)0)->{name})"


def compiler() -> str | None:
    for cc in ("cc", "gcc", "clang", "clang-19"):
        if shutil.which(cc):
            return cc
    return None


@pytest.mark.parametrize("platform_name", ["linux", "windows"])
def test_fields_inside_context_and_disjoint(platform_name):
    platform = get_platform(platform_name)
    for layout in all_layouts(platform):
        owner = {}
        for f in layout.fields:
            assert 0 <= f.offset and f.end <= layout.size, (layout.name, f.name)
            for b in range(f.offset, f.end):
                assert b not in owner, f"{layout.name}: {f.name} overlaps {owner[b]}"
                owner[b] = f.name
            for w in f.widths(False) + (f.widths(True) if f.writable else ()):
                assert w in (1, 2, 4, 8) and w <= f.end - f.offset, (layout.name, f.name, w)


def test_layout_rejects_overlap_and_overflow():
    with pytest.raises(PlatformError):
        ContextLayout("bad", 8, (CtxField("a", 0, 4), CtxField("b", 2, 4)))
    with pytest.raises(PlatformError):
        ContextLayout("bad", 4, (CtxField("a", 2, 4),))


@pytest.mark.skipif(compiler() is None or not BPF_H.exists(),
                    reason="needs a C compiler and the kernel UAPI headers")
def test_linux_offsets_match_c_headers(tmp_path):
    checks = []
    for layout in all_layouts(linux()):
        struct = C_STRUCTS.get(layout.name)
        if struct is None:
            continue
        checks.append((f"{layout.name} size", f"sizeof({struct})", layout.size))
        for f in layout.fields:
            off, end = c_extent(struct, f.name)
            checks.append((f"{layout.name}.{f.name} offset", off, f.offset))
            checks.append((f"{layout.name}.{f.name} end", end, f.offset + f.size))
    assert len(checks) > 150
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <linux/bpf.h>",
             "#include <linux/bpf_perf_event.h>", "#include <asm/ptrace.h>", "int main(void) {"]
    lines += [f'printf("%zu\\n", (size_t)({expr}));' for _, expr, _ in checks]
    lines.append("return 0; }")
    src = tmp_path / "offsets.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "offsets"
    subprocess.run([compiler(), "-o", str(exe), str(src)], check=True, capture_output=True)
    values = [int(v) for v in subprocess.run([str(exe)], check=True, capture_output=True,
                                             text=True).stdout.split()]
    wrong = [(what, ours, c) for (what, _, ours), c in zip(checks, values) if ours != c]
    assert not wrong, wrong


def header_helper_ids() -> dict[str, int]:
    text = BPF_H.read_text()
    start = text.index("#define ___BPF_FUNC_MAPPER") if "#define ___BPF_FUNC_MAPPER" in text \
        else text.index("#define __BPF_FUNC_MAPPER")
    block = text[start:text.index("\n\n", start)]
    pairs = re.findall(r"FN\((\w+),\s*(\d+)", block)
    if pairs:
        return {name: int(num) for name, num in pairs}
    names = re.findall(r"FN\((\w+)\)", block)
    return {name: i for i, name in enumerate(names)}


@pytest.mark.skipif(not BPF_H.exists(), reason="needs /usr/include/linux/bpf.h")
def test_linux_helper_ids_match_bpf_h():
    ids = header_helper_ids()
    helpers = linux().helpers
    assert len(helpers) >= 80
    for hid, proto in helpers.items():
        assert hid == proto.id
        assert ids.get(proto.name) == hid, (proto.name, hid, ids.get(proto.name))


@pytest.mark.skipif(not BPF_H.exists(), reason="needs /usr/include/linux/bpf.h")
def test_linux_program_type_numbers_match_bpf_h():
    text = BPF_H.read_text()
    block = text[text.index("enum bpf_prog_type {"):]
    block = block[:block.index("};")]
    names = re.findall(r"BPF_PROG_TYPE_(\w+)", block)
    numbers = {name.lower(): i for i, name in enumerate(names)}
    checked = 0
    for pt in linux().program_types.values():
        if pt.base in numbers:
            assert pt.number == numbers[pt.base], pt.name
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize("platform_name", ["linux", "windows"])
def test_helper_tables_are_consistent(platform_name):
    platform = get_platform(platform_name)
    names = [p.name for p in platform.helpers.values()]
    assert len(names) == len(set(names))
    for proto in platform.helpers.values():
        assert proto.ret in RET_KINDS and set(proto.args) <= ARG_KINDS
        if proto.ret == "mem_or_null":
            assert proto.args[proto.ret_size_arg - 1].startswith("const_")
        for i, arg in enumerate(proto.args):  # a size argument follows a memory argument
            if arg in ("const_size", "const_size_or_zero"):
                assert i > 0 and "mem" in proto.args[i - 1], proto.name
    for pt in platform.program_types.values():
        assert pt.helpers is None or pt.helpers <= set(platform.helpers)
        if pt.return_range is not None:
            assert pt.return_range[0] <= pt.return_range[1]
        callable_names = [p.name for p in platform.callable_helpers(pt).values()]
        assert len(callable_names) == len(set(callable_names)), pt.name
        for own in pt.own_helpers:
            assert platform.helper(own.id, pt) is own and pt.may_call(own.id)


def test_unknown_helper_is_a_clear_error():
    with pytest.raises(PlatformError, match="unknown helper function 9999"):
        linux().helper(9999)
    assert issubclass(PlatformError, BpfcheckError)
    with pytest.raises(PlatformError):
        get_platform("plan9")
    with pytest.raises(PlatformError):
        linux().program_type("no_such_section")
    with pytest.raises(PlatformError):
        HelperProto(1, "x", "integer", ("bogus_kind",))


def test_helper_lookup_by_id_and_name():
    p = linux()
    assert p.helper(1).name == "map_lookup_elem" and p.helper(1).ret == "map_value_or_null"
    assert p.helper_named("bpf_ringbuf_reserve").ret_size_arg == 2
    assert p.helper(12).args[1] == "ptr_to_map_of_programs"


def test_packet_invalidating_helpers():
    p = linux()
    invalidating = {h.name for h in p.helpers.values() if h.invalidates_packet}
    for name in ("skb_store_bytes", "l3_csum_replace", "l4_csum_replace", "skb_change_proto",
                 "skb_change_tail", "skb_change_head", "skb_pull_data", "xdp_adjust_head",
                 "xdp_adjust_tail", "xdp_adjust_meta", "skb_vlan_push", "skb_vlan_pop",
                 "skb_adjust_room", "lwt_push_encap", "msg_pull_data", "msg_push_data",
                 "msg_pop_data", "clone_redirect"):
        assert name in invalidating, name
    for name in ("map_lookup_elem", "skb_load_bytes", "redirect", "skb_change_type", "csum_diff"):
        assert name not in invalidating, name


@pytest.mark.parametrize("helper,allowed,refused", [
    ("skb_load_bytes", ["sched_cls", "socket_filter", "cgroup_skb", "sk_skb"], ["xdp", "kprobe"]),
    ("xdp_adjust_head", ["xdp", "xdp/devmap"], ["sched_cls", "socket_filter", "kprobe"]),
    ("probe_read", ["kprobe", "tracepoint", "raw_tracepoint", "perf_event"],
     ["xdp", "sched_cls", "socket_filter"]),
    ("override_return", ["kprobe"], ["tracepoint"]),
    ("map_lookup_elem", ["xdp", "sched_cls", "kprobe", "cgroup_skb", "sock_ops"], []),
    ("get_local_storage", ["cgroup_skb", "cgroup_sock"], ["xdp", "kprobe"]),
    ("skb_store_bytes", ["sched_cls", "lwt_xmit", "sk_skb"], ["cgroup_skb", "lwt_in", "xdp"]),
])
def test_helper_availability_per_program_type(helper, allowed, refused):
    p = linux()
    hid = p.helper_named(helper).id
    for name in allowed:
        assert p.program_type(name).may_call(hid), (helper, name)
    for name in refused:
        assert not p.program_type(name).may_call(hid), (helper, name)


@pytest.mark.parametrize("section,expected", [
    ("xdp", "xdp"), ("xdp.frags", "xdp"), ("xdp/devmap", "xdp/devmap"), ("tc", "sched_cls"),
    ("tc/ingress", "sched_cls"), ("classifier", "sched_cls"), ("action", "sched_act"),
    ("socket", "socket_filter"), ("socket1", "socket_filter"), ("kprobe/vfs_read", "kprobe"),
    ("kretprobe/tcp_v4_connect", "kprobe"), ("tracepoint/sched/sched_switch", "tracepoint"),
    ("tp/syscalls/sys_enter_write", "tracepoint"), ("raw_tracepoint/sys_enter", "raw_tracepoint"),
    ("raw_tp.w/x", "raw_tracepoint_writable"), ("cgroup_skb/ingress", "cgroup_skb"),
    ("cgroup_skb/egress", "cgroup_skb/egress"), ("cgroup/skb", "cgroup_skb"),
    ("sockops", "sock_ops"), ("sk_skb/stream_verdict", "sk_skb"), ("sk_msg", "sk_msg"),
    ("cgroup/connect4", "cgroup_sock_addr/connect4"), ("cgroup/sendmsg6", "cgroup_sock_addr/sendmsg6"),
    ("cgroup/sock_create", "cgroup_sock"), ("cgroup/post_bind4", "cgroup_sock/post_bind4"),
    ("flow_dissector", "flow_dissector"), ("fentry/tcp_connect", "tracing/fentry"),
    ("lsm/file_open", "lsm"), ("perf_event", "perf_event"), ("cgroup/dev", "cgroup_device"),
    ("cgroup/sysctl", "cgroup_sysctl"), ("cgroup/getsockopt", "cgroup_sockopt/getsockopt"),
    ("lwt_xmit", "lwt_xmit"), ("sk_lookup", "sk_lookup"), ("sk_reuseport", "sk_reuseport"),
])
def test_linux_section_names(section, expected):
    assert linux().program_type(section).name == expected


def test_section_rule_and_variant_resolution():
    assert section_matches("xdp/devmap", "xdp") and section_matches("xdp", "xdp")
    assert not section_matches("xdpfoo", "xdp")
    assert section_matches("kprobe/x", "kprobe/") and not section_matches("kprobex", "kprobe/")
    p = linux()
    assert p.program_type_for("cgroup_skb", "cgroup_skb/egress").return_range == (0, 3)
    assert p.program_type_for("cgroup_skb", "cgroup_skb/ingress").return_range == (0, 1)
    # A section of another type does not override an explicit type.
    assert p.program_type_for("xdp", "tc").name == "xdp"
    assert p.program_type_for("", "cgroup/recvmsg4").return_range == (1, 1)


def access(ptype: str, offset: int, size: int, write: bool = False):
    return linux().program_type(ptype).context.access(offset, size, write)


def test_sk_buff_rules_per_program_type():
    # TC: mark, priority, tc_index, cb, tc_classid, queue_mapping writable at 4 bytes
    for name in ("mark", "priority", "tc_index", "tc_classid", "queue_mapping"):
        f = linux().program_type("sched_cls").context.named(name)
        assert access("sched_cls", f.offset, 4, True) is f
        assert access("sched_cls", f.offset, 2, True) is None   # no narrow writes
        assert access("sched_cls", f.offset + 2, 2) is f        # narrow reads
    assert access("sched_cls", 0, 4, True) is None              # len is read-only
    # socket filter: only cb writable; no packet pointers
    assert access("socket_filter", 8, 4, True) is None
    assert access("socket_filter", 48, 4, True).name == "cb"
    assert access("socket_filter", 76, 4) is None
    assert not linux().program_type("socket_filter").packet_access
    # cb: 8-byte access inside cb[0..4], aligned
    assert access("sched_cls", 56, 8, True).name == "cb"
    assert access("sched_cls", 64, 8) is None
    # packet pointer kinds
    ctx = linux().program_type("sched_cls").context
    assert {k: f.name for k, f in ctx.packet_fields().items()} == {
        "packet": "data", "packet_end": "data_end", "packet_meta": "data_meta"}
    assert access("sched_cls", 76, 2) is None                    # data: exactly 4 bytes
    assert "packet_meta" not in linux().program_type("cgroup_skb").context.packet_fields()
    assert access("sk_skb", 8, 4) is None                        # sk_skb cannot see mark
    assert access("sched_cls", 88, 4) is None                    # no socket fields in TC
    assert access("cgroup_skb", 92, 4).name == "remote_ip4"
    assert access("sched_cls", 168, 8).kind == "pointer"


def test_xdp_and_tracing_contexts():
    assert access("xdp", 0, 4).kind == "packet" and access("xdp", 4, 4).kind == "packet_end"
    assert access("xdp", 8, 4).kind == "packet_meta"
    assert access("xdp", 12, 4, True) is None and access("xdp", 12, 2) is None
    assert access("xdp", 20, 4) is None and access("xdp/devmap", 20, 4) is not None
    for off, size in ((0, 8), (4, 4), (166, 2), (160, 8), (161, 1)):
        assert access("kprobe", off, size) is not None, (off, size)
    assert access("kprobe", 4, 8) is None and access("kprobe", 164, 8) is None
    assert access("kprobe", 0, 8, True) is None
    tp = linux().program_type("tracepoint").context
    assert tp.access(0, 8) is None and tp.access(8, 8) is not None and tp.access(8, 8, True) is None
    assert tp.access(tp.size - 8, 8) is not None and tp.access(tp.size, 1) is None
    assert access("raw_tracepoint", 88, 8) is not None and access("raw_tracepoint", 96, 8) is None
    assert access("perf_event", 0, 4) is None and access("perf_event", 168, 4) is not None


def test_sock_contexts():
    assert access("sock_ops", 4, 4, True).name == "reply"
    assert access("sock_ops", 8, 4) is not None and access("sock_ops", 8, 4, True) is None
    assert access("sock_ops", 192, 8).kind == "packet"
    assert not linux().program_type("sock_ops").packet_write
    v4 = linux().program_type("cgroup/connect4").context
    v6 = linux().program_type("cgroup/connect6").context
    assert v4.access(4, 4, True) is not None and v6.access(4, 4) is None
    assert v6.access(8, 8, True) is not None and v6.access(12, 8) is None
    assert v4.access(40, 4) is None and linux().program_type("cgroup/sendmsg4").context.access(40, 4)
    sock = linux().program_type("cgroup/sock_create").context
    assert sock.access(16, 4, True).name == "mark" and sock.access(24, 4) is None
    assert linux().program_type("cgroup/post_bind4").context.access(24, 4).name == "src_ip4"
    assert sock.access(48, 4) is not None and sock.access(48, 2) is not None


def test_explain_messages():
    ctx = linux().program_type("sched_cls").context
    assert ctx.explain(8, 4, True) is None
    assert "outside" in ctx.explain(400, 4)
    assert "not writable" in ctx.explain(0, 4, True)
    assert "allows" in ctx.explain(76, 2)
    assert "no accessible field" in linux().program_type("tracepoint").context.explain(0, 4)


PROGRAM_TYPES = sorted((plat, name) for plat in ("linux", "windows")
                       for name in get_platform(plat).program_types)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PROGRAM_TYPES), st.one_of(st.integers(-8, 220), st.integers(-8, 8300)),
       st.sampled_from([1, 2, 4, 8]),
       st.booleans())
def test_allowed_access_is_aligned_inside_one_field(ptype, offset, size, write):
    ctx = get_platform(ptype[0]).program_type(ptype[1]).context
    f = ctx.access(offset, size, write)
    assert (f is None) == (ctx.explain(offset, size, write) is not None)
    if f is not None:
        assert offset % size == 0 and 0 <= offset and offset + size <= ctx.size
        assert f.offset <= offset and offset + size <= f.end
        assert f.writable if write else f.readable
        assert {ctx.field_containing(b) for b in range(offset, offset + size)} == {f}


# ---------------------------------------------------------------------------------------------
# eBPF for Windows

# Our own C declarations of the Windows contexts (x64: 8-byte pointers), from the layouts in
# microsoft/ebpf-for-windows include/ebpf_nethooks.h and the sample extension's header.
WINDOWS_C = """
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
struct xdp_md { void *data; void *data_end; uint64_t data_meta; uint32_t ingress_ifindex; };
struct bind_md { uint8_t *app_id_start; uint8_t *app_id_end; uint64_t process_id;
    uint8_t socket_address[16]; uint8_t socket_address_length; int operation; uint8_t protocol; };
struct bpf_sock_addr { uint32_t family;
    struct { union { uint32_t msg_src_ip4; uint32_t msg_src_ip6[4]; }; uint16_t msg_src_port; };
    struct { union { uint32_t user_ip4; uint32_t user_ip6[4]; }; uint16_t user_port; };
    uint32_t protocol; uint32_t compartment_id; uint64_t interface_luid; };
struct bpf_sock_ops { int op; uint32_t family;
    struct { union { uint32_t local_ip4; uint32_t local_ip6[4]; }; uint32_t local_port; };
    struct { union { uint32_t remote_ip4; uint32_t remote_ip6[4]; }; uint32_t remote_port; };
    uint8_t protocol; uint32_t compartment_id; uint64_t interface_luid; };
struct sample_program_context { uint8_t *data_start; uint8_t *data_end; uint32_t uint32_data;
    uint16_t uint16_data; uint32_t helper_data_1; uint32_t helper_data_2; };
"""
WINDOWS_STRUCTS = {"xdp_md": "struct xdp_md", "bind_md": "struct bind_md",
                   "bpf_sock_addr": "struct bpf_sock_addr", "bpf_sock_ops": "struct bpf_sock_ops",
                   "sample_program_context": "struct sample_program_context"}


def windows():
    return get_platform("windows")


@pytest.mark.skipif(compiler() is None, reason="needs a C compiler")
def test_windows_offsets_match_c_layout(tmp_path):
    checks = []
    for layout in all_layouts(windows()):
        struct = WINDOWS_STRUCTS[layout.name]
        checks.append((f"{layout.name} size", f"sizeof({struct})", layout.size))
        for f in layout.fields:
            off, end = c_extent(struct, f.name)
            checks.append((f"{layout.name}.{f.name}", off, f.offset))
            checks.append((f"{layout.name}.{f.name} end", end, f.offset + f.size))
    body = "\n".join(f'printf("%zu\\n", (size_t)({expr}));' for _, expr, _ in checks)
    src = tmp_path / "win.c"
    src.write_text(WINDOWS_C + "int main(void) {\n" + body + "\nreturn 0; }\n")
    exe = tmp_path / "win"
    subprocess.run([compiler(), "-o", str(exe), str(src)], check=True, capture_output=True)
    values = [int(v) for v in subprocess.run([str(exe)], check=True, capture_output=True,
                                             text=True).stdout.split()]
    wrong = [(what, ours, c) for (what, _, ours), c in zip(checks, values) if ours != c]
    assert not wrong, wrong


def test_windows_helper_numbering():
    p = windows()
    assert sorted(p.helpers) == list(range(1, 35))
    expected = {1: "map_lookup_elem", 2: "map_update_elem", 3: "map_delete_elem",
                4: "map_lookup_and_delete_elem", 5: "tail_call", 6: "get_prandom_u32",
                7: "ktime_get_boot_ns", 8: "get_smp_processor_id", 9: "ktime_get_ns",
                10: "csum_diff", 11: "ringbuf_output", 12: "trace_printk2", 15: "trace_printk5",
                16: "map_push_elem", 17: "map_pop_elem", 18: "map_peek_elem",
                19: "get_current_pid_tgid", 32: "perf_event_output"}
    for hid, name in expected.items():
        assert p.helper(hid).name == name
    for pt in p.program_types.values():
        assert all(h.id > 0xFFFF for h in pt.own_helpers)
    assert p.helper(65536, p.program_type("xdp")).invalidates_packet
    assert p.helper(65537, p.program_type("cgroup/connect4")).name == "sock_addr_set_redirect_context"


@pytest.mark.parametrize("section,expected", [
    ("xdp", "xdp"), ("xdp_test", "xdp_test"), ("bind", "bind"), ("bind/2", "bind"),
    ("cgroup/connect4", "cgroup_sock_addr/connect4"), ("cgroup/connect6", "cgroup_sock_addr/connect6"),
    ("cgroup/recv_accept4", "cgroup_sock_addr/recv_accept4"),
    ("cgroup/recv_accept6", "cgroup_sock_addr/recv_accept6"),
    ("cgroup/connect_authorization4", "cgroup_sock_addr/connect_authorization4"),
    ("cgroup/bind6", "cgroup_sock_addr/bind6"), ("cgroup/listen4", "cgroup_sock_addr/listen4"),
    ("sockops", "sock_ops"), ("sample_ext", "sample"),
])
def test_windows_section_names(section, expected):
    assert windows().program_type(section).name == expected


def test_windows_helper_availability():
    p = windows()
    adjust = 65536
    assert p.program_type("xdp").may_call(adjust)
    assert not p.program_type("bind").may_call(adjust)
    assert not p.program_type("sockops").may_call(adjust)
    # the same number means another helper for sock_addr programs
    assert p.helper(adjust, p.program_type("cgroup/connect4")).name == "sock_addr_get_current_pid_tgid"
    with pytest.raises(PlatformError, match="65536 for program type bind"):
        p.helper(adjust, p.program_type("bind"))
    for pt in p.program_types.values():
        assert pt.may_call(1) and pt.may_call(5)


def test_windows_context_rules():
    p = windows()
    xdp = p.program_type("xdp").context
    assert xdp.access(0, 8).kind == "packet" and xdp.access(8, 8).kind == "packet_end"
    assert xdp.access(0, 4) is None and xdp.access(0, 8, True) is None
    assert xdp.access(24, 4) is not None and xdp.access(24, 4, True) is None
    bind = p.program_type("bind").context
    assert bind.access(24, 4, True).name == "socket_address"
    assert bind.access(16, 8, True) is None and bind.access(0, 8).kind == "packet"
    assert p.program_type("cgroup/connect4").context.access(24, 4, True).name == "user_ip6"
    assert p.program_type("cgroup/connect4").context.access(40, 2, True).name == "user_port"
    assert p.program_type("cgroup/recv_accept4").context.access(24, 4, True) is None
    ops = p.program_type("sockops").context
    assert all(not f.writable for f in ops.fields) and ops.access(56, 8).name == "interface_luid"
    assert ops.access(64, 1) is None
    assert p.map_type_name(13) == "ringbuf" and p.map_type_name(14) == "perf_event_array"
    with pytest.raises(PlatformError):
        p.map_type_name(27)
