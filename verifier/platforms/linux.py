"""The Linux platform: program types, context layouts, helpers and map types of the kernel.

Offsets are those of the UAPI headers (linux/bpf.h, linux/bpf_perf_event.h, x86-64 asm/ptrace.h);
tests/verifier/test_platform.py compares them with the C compiler's offsetof. Access rules follow
the kernel's `*_is_valid_access` functions (net/core/filter.c, kernel/trace/bpf_trace.c,
kernel/bpf/cgroup.c): which fields each program type may read or write, at which widths, and
which load packet pointers. Attach-type rules are variants named "<type>/<attach>" selected by
section name (see `Platform.program_type_for`).
"""
from __future__ import annotations

from types import MappingProxyType

from cfg.program import MAP_TYPES
from verifier.platform import ContextLayout, CtxField, Platform, ProgramType, make_helpers
from verifier.platforms.linux_helpers import linux_helpers

NARROW = (1, 2, 4)     # a u32 field read at any smaller power-of-two width (bpf_ctx_narrow_access_ok)
ANY_WIDTH = (1, 2, 4, 8)
W4 = (4,)
W8 = (8,)

# PERF_MAX_TRACE_SIZE (include/linux/trace_events.h, 8192 since Linux 5.15): a tracepoint
# program may read its record at [8, 8192) -- the first 8 bytes (common fields) are refused.
TRACEPOINT_CTX_SIZE = 8192
MAX_BPF_FUNC_ARGS = 12  # raw_tracepoint / tracing / lsm contexts are u64 args[12]


def _f(name: str, offset: int, size: int, reads: tuple[int, ...] = (), *, writes: tuple[int, ...] = (),
       writable: bool = False, kind: str = "scalar", target: str = "", pad: int = 0) -> CtxField:
    return CtxField(name, offset, size, True, writable, kind, reads, writes, target, pad)


# ---------------------------------------------------------------------------------------------
# struct __sk_buff (192 bytes): the generic shape of each field (bpf_skb_is_valid_access) ...
_SKB_FIELDS: tuple[tuple[str, int, int, tuple[int, ...], tuple[int, ...]], ...] = (
    # name, offset, size, read widths, write widths
    ("len", 0, 4, NARROW, W4), ("pkt_type", 4, 4, NARROW, W4), ("mark", 8, 4, NARROW, W4),
    ("queue_mapping", 12, 4, NARROW, W4), ("protocol", 16, 4, NARROW, W4),
    ("vlan_present", 20, 4, NARROW, W4), ("vlan_tci", 24, 4, NARROW, W4),
    ("vlan_proto", 28, 4, NARROW, W4), ("priority", 32, 4, NARROW, W4),
    ("ingress_ifindex", 36, 4, NARROW, W4), ("ifindex", 40, 4, NARROW, W4),
    ("tc_index", 44, 4, NARROW, W4), ("cb", 48, 20, ANY_WIDTH, ANY_WIDTH),
    ("hash", 68, 4, NARROW, W4), ("tc_classid", 72, 4, NARROW, W4),
    ("data", 76, 4, W4, W4), ("data_end", 80, 4, W4, W4), ("napi_id", 84, 4, NARROW, W4),
    ("family", 88, 4, NARROW, W4), ("remote_ip4", 92, 4, W4, W4), ("local_ip4", 96, 4, W4, W4),
    ("remote_ip6", 100, 16, W4, W4), ("local_ip6", 116, 16, W4, W4),
    ("remote_port", 132, 4, NARROW, W4), ("local_port", 136, 4, NARROW, W4),
    ("data_meta", 140, 4, W4, W4), ("flow_keys", 144, 8, W8, W8), ("tstamp", 152, 8, W8, W8),
    ("wire_len", 160, 4, NARROW, W4), ("gso_segs", 164, 4, NARROW, W4), ("sk", 168, 8, W8, W8),
    ("gso_size", 176, 4, NARROW, W4), ("tstamp_type", 180, 1, (1,), (1,)),
    ("hwtstamp", 184, 8, W8, W8),
)
_SKB_SOCK_FIELDS = frozenset({"family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6",
                              "remote_port", "local_port"})
# ... which fields no program type but flow_dissector (flow_keys) / tc (tstamp_type) reaches ...
_SKB_ALWAYS_HIDDEN = frozenset({"flow_keys", "tstamp_type"})
_SKB_PACKET = {"data": "packet", "data_end": "packet_end", "data_meta": "packet_meta"}


def _sk_buff(name: str, hidden: frozenset[str], writable: frozenset[str],
             packet: frozenset[str] = frozenset()) -> ContextLayout:
    """An __sk_buff view: `hidden` fields are refused, `writable` ones may be stored to,
    `packet` ones load packet pointers (the others of data/data_end/data_meta read as scalars)."""
    fields = []
    for fname, off, size, reads, writes in _SKB_FIELDS:
        if fname in hidden:
            continue
        kind, target = "scalar", ""
        if fname in packet:
            kind = _SKB_PACKET[fname]
        elif fname == "sk":
            kind, target = "pointer", "sock_common_or_null"
        elif fname == "flow_keys":
            kind, target = "pointer", "flow_keys"
        fields.append(CtxField(fname, off, size, True, fname in writable, kind, reads,
                               writes if fname in writable else (), target))
    return ContextLayout(name, 192, tuple(fields))


def _skb_layouts() -> dict[str, ContextLayout]:
    sock = _SKB_SOCK_FIELDS
    hidden = _SKB_ALWAYS_HIDDEN
    return {
        # sk_filter_is_valid_access: no packet pointers, no socket fields, only cb writable
        "socket_filter": _sk_buff("__sk_buff", hidden | sock | {
            "tc_classid", "data", "data_meta", "data_end", "tstamp", "wire_len", "hwtstamp"},
            frozenset({"cb"})),
        # tc_cls_act_is_valid_access
        "sched_cls": _with_tstamp_type(_sk_buff("__sk_buff", hidden | sock, frozenset(
            {"mark", "tc_index", "priority", "tc_classid", "cb", "tstamp", "queue_mapping"}),
            frozenset({"data", "data_end", "data_meta"}))),
        # cg_skb_is_valid_access (data/data_end and tstamp writes need CAP_BPF/CAP_PERFMON: we
        # assume a privileged loader, as `bpfcheck` runs for root)
        "cgroup_skb": _sk_buff("__sk_buff", hidden | {"tc_classid", "data_meta", "wire_len"},
                               frozenset({"mark", "priority", "cb", "tstamp"}),
                               frozenset({"data", "data_end"})),
        # lwt_is_valid_access
        "lwt": _sk_buff("__sk_buff", hidden | sock | {
            "tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp"},
            frozenset({"mark", "priority", "cb"}), frozenset({"data", "data_end"})),
        # sk_skb_is_valid_access
        "sk_skb": _sk_buff("__sk_buff", hidden | {
            "tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp", "mark"},
            frozenset({"tc_index", "priority"}), frozenset({"data", "data_end"})),
    }


def _with_tstamp_type(layout: ContextLayout) -> ContextLayout:
    """TC programs may also read the 1-byte tstamp_type."""
    extra = _f("tstamp_type", 180, 1, (1,))
    return ContextLayout(layout.name, layout.size,
                         tuple(sorted(layout.fields + (extra,), key=lambda f: f.offset)))


FLOW_DISSECTOR_CTX = ContextLayout("__sk_buff", 192, (
    _f("data", 76, 4, W4, kind="packet"),
    _f("data_end", 80, 4, W4, kind="packet_end"),
    _f("flow_keys", 144, 8, W8, kind="pointer", target="flow_keys"),
))

# struct xdp_md (xdp_is_valid_access: 4-byte reads only, no writes for non-offloaded programs)
def _xdp(devmap: bool) -> ContextLayout:
    fields = [
        _f("data", 0, 4, W4, kind="packet"), _f("data_end", 4, 4, W4, kind="packet_end"),
        _f("data_meta", 8, 4, W4, kind="packet_meta"), _f("ingress_ifindex", 12, 4, W4),
        _f("rx_queue_index", 16, 4, W4),
    ]
    if devmap:
        fields.append(_f("egress_ifindex", 20, 4, W4))
    return ContextLayout("xdp_md", 24, tuple(fields))


# struct bpf_sock_ops (sock_ops_is_valid_access). The union args[4] / reply / replylong[4] is
# split into `reply` (= args[0], the only writable word) and `args[1..3]`.
SOCK_OPS_CTX = ContextLayout("bpf_sock_ops", 216, (
    _f("op", 0, 4, W4), _f("reply", 4, 4, W4, writable=True, writes=W4),
    _f("args[1..3]", 8, 12, W4),
    *(_f(n, o, 4, W4) for n, o in (("family", 20), ("remote_ip4", 24), ("local_ip4", 28))),
    _f("remote_ip6", 32, 16, W4), _f("local_ip6", 48, 16, W4),
    *(_f(n, 64 + 4 * i, 4, W4) for i, n in enumerate((
        "remote_port", "local_port", "is_fullsock", "snd_cwnd", "srtt_us",
        "bpf_sock_ops_cb_flags", "state", "rtt_min", "snd_ssthresh", "rcv_nxt", "snd_nxt",
        "snd_una", "mss_cache", "ecn_flags", "rate_delivered", "rate_interval_us",
        "packets_out", "retrans_out", "total_retrans", "segs_in", "data_segs_in", "segs_out",
        "data_segs_out", "lost_out", "sacked_out"))),
    _f("sk_txhash", 164, 4, W4, writable=True, writes=W4),
    _f("bytes_received", 168, 8, W8), _f("bytes_acked", 176, 8, W8),
    _f("sk", 184, 8, W8, kind="pointer", target="socket_or_null"),
    _f("skb_data", 192, 8, W8, kind="packet"), _f("skb_data_end", 200, 8, W8, kind="packet_end"),
    _f("skb_len", 208, 4, W4), _f("skb_tcp_flags", 212, 4, NARROW),
))


def _bpf_sock(attach: str) -> ContextLayout:
    """struct bpf_sock for cgroup/sock programs (bpf_sock_is_valid_access and
    __sock_filter_check_attach_type): `attach` is "create" (also release), "post_bind4" or
    "post_bind6"."""
    full = attach == "create"
    fields = []
    if full:
        fields.append(_f("bound_dev_if", 0, 4, W4, writable=True, writes=W4))
    fields += [_f("family", 4, 4, NARROW), _f("type", 8, 4, NARROW), _f("protocol", 12, 4, NARROW)]
    if full:
        fields += [_f("mark", 16, 4, W4, writable=True, writes=W4),
                   _f("priority", 20, 4, W4, writable=True, writes=W4)]
    if attach == "post_bind4":
        fields.append(_f("src_ip4", 24, 4, NARROW))
    if attach == "post_bind6":
        fields.append(_f("src_ip6", 28, 16, NARROW))
    if attach in ("post_bind4", "post_bind6"):
        fields.append(_f("src_port", 44, 4, NARROW))
    fields += [_f("dst_port", 48, 2, (1, 2, 4), pad=2), _f("dst_ip4", 52, 4, NARROW),
               _f("dst_ip6", 56, 16, NARROW), _f("state", 72, 4, NARROW),
               _f("rx_queue_mapping", 76, 4, NARROW)]
    return ContextLayout("bpf_sock", 80, tuple(fields))


def _sock_addr(family: str, sendmsg: bool) -> ContextLayout:
    """struct bpf_sock_addr (sock_addr_is_valid_access): user_ip4 only for IPv4 attach types,
    user_ip6 only for IPv6 ones, msg_src_ip4/6 only for sendmsg4/6; `family` "" = unix."""
    fields = [_f("user_family", 0, 4, W4)]
    if family == "4":
        fields.append(_f("user_ip4", 4, 4, NARROW, writable=True, writes=W4))
    if family == "6":
        fields.append(_f("user_ip6", 8, 16, ANY_WIDTH, writable=True, writes=(4, 8)))
    fields += [_f("user_port", 24, 4, NARROW, writable=True, writes=W4),
               _f("family", 28, 4, W4), _f("type", 32, 4, W4), _f("protocol", 36, 4, W4)]
    if sendmsg and family == "4":
        fields.append(_f("msg_src_ip4", 40, 4, NARROW, writable=True, writes=W4))
    if sendmsg and family == "6":
        fields.append(_f("msg_src_ip6", 44, 16, ANY_WIDTH, writable=True, writes=(4, 8)))
    fields.append(_f("sk", 64, 8, W8, kind="pointer", target="socket"))
    return ContextLayout("bpf_sock_addr", 72, tuple(fields))


SK_MSG_CTX = ContextLayout("sk_msg_md", 80, (
    _f("data", 0, 8, W8, kind="packet"), _f("data_end", 8, 8, W8, kind="packet_end"),
    _f("family", 16, 4, W4), _f("remote_ip4", 20, 4, W4), _f("local_ip4", 24, 4, W4),
    _f("remote_ip6", 28, 16, W4), _f("local_ip6", 44, 16, W4), _f("remote_port", 60, 4, W4),
    _f("local_port", 64, 4, W4), _f("size", 68, 4, W4),
    _f("sk", 72, 8, W8, kind="pointer", target="socket"),
))

SK_REUSEPORT_CTX = ContextLayout("sk_reuseport_md", 56, (
    _f("data", 0, 8, W8, kind="packet"), _f("data_end", 8, 8, W8, kind="packet_end"),
    _f("len", 16, 4, NARROW), _f("eth_protocol", 20, 4, (2, 4)), _f("ip_protocol", 24, 4, NARROW),
    _f("bind_inany", 28, 4, NARROW), _f("hash", 32, 4, W4),
    _f("sk", 40, 8, W8, kind="pointer", target="socket"),
    _f("migrating_sk", 48, 8, W8, kind="pointer", target="sock_common_or_null"),
))

# struct bpf_sk_lookup: remote_port is a __be16 followed by 2 bytes of padding the kernel lets
# programs read (4-byte reads for compatibility).
SK_LOOKUP_CTX = ContextLayout("bpf_sk_lookup", 72, (
    _f("sk", 0, 8, W8, kind="pointer", target="socket_or_null"),
    _f("family", 8, 4, NARROW), _f("protocol", 12, 4, NARROW), _f("remote_ip4", 16, 4, NARROW),
    _f("remote_ip6", 20, 16, NARROW), _f("remote_port", 36, 2, (1, 2, 4), pad=2),
    _f("local_ip4", 40, 4, NARROW), _f("local_ip6", 44, 16, NARROW), _f("local_port", 60, 4, NARROW),
    _f("ingress_ifindex", 64, 4, NARROW),
))

# x86-64 struct pt_regs (21 registers, 168 bytes): kprobe_prog_is_valid_access allows any
# aligned read of 1, 2, 4 or 8 bytes inside it, no writes.
PT_REGS_NAMES = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax",
                 "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss")
PT_REGS_CTX = ContextLayout("pt_regs", 168, tuple(
    _f(n, 8 * i, 8, ANY_WIDTH) for i, n in enumerate(PT_REGS_NAMES)))

# struct bpf_perf_event_data: regs are read 8 bytes at a time; sample_period and addr narrowly.
PERF_EVENT_CTX = ContextLayout("bpf_perf_event_data", 184, (
    *(_f(f"regs.{n}", 8 * i, 8, W8) for i, n in enumerate(PT_REGS_NAMES)),
    _f("sample_period", 168, 8, ANY_WIDTH), _f("addr", 176, 8, ANY_WIDTH),
))

TRACEPOINT_CTX = ContextLayout("tracepoint", TRACEPOINT_CTX_SIZE, (
    _f("record", 8, TRACEPOINT_CTX_SIZE - 8, ANY_WIDTH),))

# raw_tracepoint: u64 args[12], any aligned read (bpf_tracing_ctx_access). tracing / lsm:
# the same array, but BTF decides each argument's type, so only whole 8-byte reads are accepted.
RAW_TRACEPOINT_CTX = ContextLayout("bpf_raw_tracepoint_args", 8 * MAX_BPF_FUNC_ARGS, (
    _f("args", 0, 8 * MAX_BPF_FUNC_ARGS, ANY_WIDTH),))
TRACING_CTX = ContextLayout("u64_args", 8 * MAX_BPF_FUNC_ARGS, tuple(
    _f(f"args[{i}]", 8 * i, 8, W8) for i in range(MAX_BPF_FUNC_ARGS)))

CGROUP_DEV_CTX = ContextLayout("bpf_cgroup_dev_ctx", 12, (
    _f("access_type", 0, 4, NARROW), _f("major", 4, 4, W4), _f("minor", 8, 4, W4)))

SYSCTL_CTX = ContextLayout("bpf_sysctl", 8, (
    _f("write", 0, 4, NARROW), _f("file_pos", 4, 4, NARROW, writable=True, writes=W4)))


def _sockopt(get: bool) -> ContextLayout:
    """struct bpf_sockopt (cg_sockopt_is_valid_access): optval/optval_end are packet pointers;
    getsockopt may write retval and optlen, setsockopt level, optname and optlen."""
    fields = [_f("sk", 0, 8, W8, kind="pointer", target="socket"),
              _f("optval", 8, 8, W8, kind="packet"), _f("optval_end", 16, 8, W8, kind="packet_end"),
              _f("level", 24, 4, W4, writable=not get, writes=W4 if not get else ()),
              _f("optname", 28, 4, W4, writable=not get, writes=W4 if not get else ()),
              _f("optlen", 32, 4, W4, writable=True, writes=W4)]
    if get:
        fields.append(_f("retval", 36, 4, W4, writable=True, writes=W4))
    return ContextLayout("bpf_sockopt", 40, tuple(fields))


# A context of no accessible bytes, for program types whose context bpfcheck does not model.
OPAQUE_CTX = ContextLayout("opaque", 0, ())


# ---------------------------------------------------------------------------------------------
# Which helpers each program type may call: the kernel's *_func_proto tables, by group.

def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# bpf_base_func_proto (maps, time, ring buffers, callbacks, spin locks, timers, printk, ...)
BASE = _names("""
    map_lookup_elem map_update_elem map_delete_elem map_push_elem map_pop_elem map_peek_elem
    map_lookup_percpu_elem get_prandom_u32 get_smp_processor_id get_numa_node_id tail_call
    ktime_get_ns ktime_get_boot_ns ktime_get_coarse_ns ktime_get_tai_ns jiffies64
    ringbuf_output ringbuf_reserve ringbuf_submit ringbuf_discard ringbuf_query
    ringbuf_reserve_dynptr ringbuf_submit_dynptr ringbuf_discard_dynptr user_ringbuf_drain
    dynptr_from_mem dynptr_read dynptr_write dynptr_data for_each_map_elem loop strncmp
    spin_lock spin_unlock per_cpu_ptr this_cpu_ptr timer_init timer_set_callback timer_start
    timer_cancel kptr_xchg trace_printk trace_vprintk snprintf snprintf_btf probe_read_user
    probe_read_user_str probe_read_kernel probe_read_kernel_str get_current_task
    get_current_task_btf task_pt_regs
""")
# bpf_tracing_func_proto and the per-type tracing tables
TRACING = BASE | _names("""
    probe_read probe_read_str get_current_pid_tgid get_current_uid_gid get_current_comm
    get_current_cgroup_id get_current_ancestor_cgroup_id perf_event_read perf_event_read_value
    current_task_under_cgroup probe_write_user send_signal send_signal_thread
    get_ns_current_pid_tgid get_task_stack find_vma task_storage_get task_storage_delete
    get_func_ip get_attach_cookie get_branch_snapshot get_stackid get_stack perf_event_output
""")
KPROBE = TRACING | _names("override_return")
PERF_EVENT = TRACING | _names("perf_prog_read_value read_branch_records")
TRACING_BTF = TRACING | _names("""
    skb_output xdp_output seq_printf seq_write seq_printf_btf get_func_arg get_func_ret
    get_func_arg_cnt d_path copy_from_user copy_from_user_task sock_from_file skc_to_tcp6_sock
    skc_to_tcp_sock skc_to_tcp_timewait_sock skc_to_tcp_request_sock skc_to_udp6_sock
    skc_to_unix_sock skc_to_mptcp_sock sk_storage_get sk_storage_delete inode_storage_get
    inode_storage_delete bprm_opts_set ima_inode_hash ima_file_hash tcp_send_ack get_retval
    set_retval
""")
# cgroup_common_func_proto / cgroup_current_func_proto
CGROUP = BASE | _names("""
    get_local_storage get_retval set_retval get_current_uid_gid get_current_pid_tgid
    get_current_comm get_current_cgroup_id get_current_ancestor_cgroup_id get_cgroup_classid
    perf_event_output
""")
SOCK_LOOKUP = _names("sk_lookup_tcp sk_lookup_udp sk_release skc_lookup_tcp")
SOCKET_FILTER = BASE | _names("""
    skb_load_bytes skb_load_bytes_relative get_socket_cookie get_socket_uid perf_event_output
""")
TC = BASE | SOCK_LOOKUP | _names("""
    skb_store_bytes skb_load_bytes skb_load_bytes_relative skb_pull_data csum_diff csum_update
    csum_level l3_csum_replace l4_csum_replace clone_redirect get_cgroup_classid skb_vlan_push
    skb_vlan_pop skb_change_proto skb_change_type skb_adjust_room skb_change_tail
    skb_change_head skb_get_tunnel_key skb_set_tunnel_key skb_get_tunnel_opt skb_set_tunnel_opt
    redirect redirect_neigh redirect_peer redirect_map get_route_realm get_hash_recalc
    set_hash_invalid set_hash perf_event_output skb_under_cgroup get_socket_cookie
    get_socket_uid fib_lookup check_mtu sk_fullsock sk_storage_get sk_storage_delete
    skb_get_xfrm_state skb_cgroup_classid skb_cgroup_id skb_ancestor_cgroup_id tcp_sock
    get_listener_sock tcp_check_syncookie skb_ecn_set_ce tcp_gen_syncookie sk_assign
    skb_set_tstamp get_netns_cookie
""")
XDP = BASE | SOCK_LOOKUP | _names("""
    perf_event_output csum_diff xdp_adjust_head xdp_adjust_meta xdp_adjust_tail redirect
    redirect_map fib_lookup check_mtu tcp_check_syncookie tcp_gen_syncookie xdp_get_buff_len
    xdp_load_bytes xdp_store_bytes
""")
CGROUP_SKB = CGROUP | SOCK_LOOKUP | _names("""
    skb_load_bytes skb_load_bytes_relative sk_fullsock sk_storage_get sk_storage_delete
    skb_cgroup_id skb_ancestor_cgroup_id sk_cgroup_id sk_ancestor_cgroup_id tcp_sock
    get_listener_sock skb_ecn_set_ce get_socket_cookie get_socket_uid
""")
LWT_OUT = BASE | _names("""
    skb_load_bytes skb_pull_data csum_diff get_cgroup_classid get_route_realm get_hash_recalc
    perf_event_output skb_under_cgroup
""")
LWT_IN = LWT_OUT | _names("lwt_push_encap")
LWT_XMIT = LWT_OUT | _names("""
    skb_get_tunnel_key skb_set_tunnel_key skb_get_tunnel_opt skb_set_tunnel_opt redirect
    skb_change_tail skb_change_head skb_store_bytes csum_update csum_level l3_csum_replace
    l4_csum_replace set_hash_invalid lwt_push_encap
""")
LWT_SEG6LOCAL = LWT_OUT | _names("lwt_seg6_store_bytes lwt_seg6_action lwt_seg6_adjust_srh")
SOCK_OPS = CGROUP | _names("""
    setsockopt getsockopt sock_ops_cb_flags_set sock_map_update sock_hash_update
    get_socket_cookie sk_storage_get sk_storage_delete get_netns_cookie load_hdr_opt
    store_hdr_opt reserve_hdr_opt tcp_sock
""")
SK_SKB = BASE | SOCK_LOOKUP | _names("""
    skb_store_bytes skb_load_bytes skb_pull_data skb_change_tail skb_change_head
    skb_adjust_room get_socket_cookie get_socket_uid sk_redirect_map sk_redirect_hash
    perf_event_output
""")
SK_MSG = BASE | _names("""
    msg_redirect_map msg_redirect_hash msg_apply_bytes msg_cork_bytes msg_pull_data
    msg_push_data msg_pop_data perf_event_output get_current_uid_gid get_current_pid_tgid
    sk_storage_get sk_storage_delete get_netns_cookie get_current_cgroup_id
    get_current_ancestor_cgroup_id get_cgroup_classid
""")
FLOW_DISSECTOR = BASE | _names("skb_load_bytes")
CGROUP_SOCK = CGROUP | _names("""
    get_socket_cookie get_netns_cookie sk_storage_get sk_storage_delete
""")
CGROUP_SOCK_ADDR = CGROUP | SOCK_LOOKUP | _names("""
    bind get_socket_cookie get_netns_cookie sk_storage_get sk_storage_delete setsockopt
    getsockopt
""")
CGROUP_DEVICE = CGROUP
CGROUP_SYSCTL = CGROUP | _names("""
    sysctl_get_name sysctl_get_current_value sysctl_get_new_value sysctl_set_new_value
    strtol strtoul
""")
CGROUP_SOCKOPT = CGROUP | _names("""
    sk_storage_get sk_storage_delete setsockopt getsockopt tcp_sock get_netns_cookie
""")
SK_REUSEPORT = BASE | _names("""
    sk_select_reuseport skb_load_bytes skb_load_bytes_relative get_socket_cookie
""")
SK_LOOKUP = BASE | _names("perf_event_output sk_assign sk_release")
LIRC_MODE2 = BASE | _names("rc_repeat rc_keydown rc_pointer_rel")
SYSCALL = BASE | _names("sys_bpf btf_find_by_name_kind sys_close kallsyms_lookup_name copy_from_user")


def _program_types(ids: dict[str, int]) -> list[ProgramType]:
    def helpers(names: frozenset[str]) -> frozenset[int]:
        missing = names - ids.keys()
        if missing:  # pragma: no cover - a typo in the tables above
            raise ValueError(f"unknown helper names {sorted(missing)}")
        return frozenset(ids[n] for n in names)

    skb = _skb_layouts()
    out: list[ProgramType] = []

    def add(name: str, number: int | None, ctx: ContextLayout, sections: tuple[str, ...],
            group: frozenset[str] | None, *, read: bool = False, write: bool = False,
            ret: tuple[int, int] | None = None, base: str = "", privileged: bool = False) -> None:
        out.append(ProgramType(name, ctx, sections, read, None if group is None else helpers(group),
                               ret, write, base or name, number, privileged))

    add("socket_filter", 1, skb["socket_filter"], ("socket",), SOCKET_FILTER)
    add("kprobe", 2, PT_REGS_CTX, ("kprobe/", "kretprobe/", "uprobe/", "uretprobe/",
                                   "kprobe.multi/", "kretprobe.multi/", "uprobe.multi/",
                                   "uretprobe.multi/", "ksyscall/", "kretsyscall/", "usdt/",
                                   "uprobe.s/", "uretprobe.s/"), KPROBE, privileged=True)
    add("sched_cls", 3, skb["sched_cls"], ("tc", "tcx/ingress", "tcx/egress", "netkit/primary",
                                            "netkit/peer", "classifier"), TC, read=True, write=True)
    add("sched_act", 4, skb["sched_cls"], ("action",), TC, read=True, write=True)
    add("tracepoint", 5, TRACEPOINT_CTX, ("tracepoint/", "tp/"), TRACING, privileged=True)
    add("xdp", 6, _xdp(False), ("xdp", "xdp.frags"), XDP, read=True, write=True)
    add("xdp/devmap", 6, _xdp(True), ("xdp/devmap", "xdp.frags/devmap"), XDP, read=True,
        write=True, base="xdp")
    add("xdp/cpumap", 6, _xdp(False), ("xdp/cpumap", "xdp.frags/cpumap"), XDP, read=True,
        write=True, base="xdp")
    add("perf_event", 7, PERF_EVENT_CTX, ("perf_event",), PERF_EVENT, privileged=True)
    add("cgroup_skb", 8, skb["cgroup_skb"], ("cgroup_skb/ingress", "cgroup/skb"), CGROUP_SKB,
        read=True, ret=(0, 1))
    add("cgroup_skb/egress", 8, skb["cgroup_skb"], ("cgroup_skb/egress",), CGROUP_SKB,
        read=True, ret=(0, 3), base="cgroup_skb")
    add("cgroup_sock", 9, _bpf_sock("create"), ("cgroup/sock_create", "cgroup/sock_release",
                                                "cgroup/sock"), CGROUP_SOCK, ret=(0, 1))
    for fam in ("4", "6"):
        add(f"cgroup_sock/post_bind{fam}", 9, _bpf_sock(f"post_bind{fam}"),
            (f"cgroup/post_bind{fam}",), CGROUP_SOCK, ret=(0, 1), base="cgroup_sock")
    add("lwt_in", 10, skb["lwt"], ("lwt_in",), LWT_IN, read=True)
    add("lwt_out", 11, skb["lwt"], ("lwt_out",), LWT_OUT, read=True)
    add("lwt_xmit", 12, skb["lwt"], ("lwt_xmit",), LWT_XMIT, read=True, write=True)
    add("sock_ops", 13, SOCK_OPS_CTX, ("sockops",), SOCK_OPS, read=True, ret=(0, 1))
    add("sk_skb", 14, skb["sk_skb"], ("sk_skb", "sk_skb/stream_parser", "sk_skb/stream_verdict",
                                      "sk_skb/verdict"), SK_SKB, read=True, write=True)
    add("cgroup_device", 15, CGROUP_DEV_CTX, ("cgroup/dev",), CGROUP_DEVICE, ret=(0, 1))
    add("sk_msg", 16, SK_MSG_CTX, ("sk_msg",), SK_MSG, read=True, write=True)
    add("raw_tracepoint", 17, RAW_TRACEPOINT_CTX, ("raw_tracepoint/", "raw_tp/"), TRACING,
        privileged=True)
    # cgroup_sock_addr: the generic type (no address fields) and one variant per attach point.
    add("cgroup_sock_addr", 18, _sock_addr("", False), (), CGROUP_SOCK_ADDR, ret=(0, 1))
    for hook in ("bind", "connect", "sendmsg", "recvmsg", "getpeername", "getsockname"):
        for suffix, family in (("4", "4"), ("6", "6"), ("_unix", "")):
            if hook == "bind" and not family:
                continue
            ret = (0, 3) if hook == "bind" else (1, 1) if hook in (
                "recvmsg", "getpeername", "getsockname") else (0, 1)
            add(f"cgroup_sock_addr/{hook}{suffix}", 18, _sock_addr(family, hook == "sendmsg"),
                (f"cgroup/{hook}{suffix}",), CGROUP_SOCK_ADDR, ret=ret, base="cgroup_sock_addr")
    add("lwt_seg6local", 19, skb["lwt"], ("lwt_seg6local",), LWT_SEG6LOCAL, read=True)
    add("lirc_mode2", 20, OPAQUE_CTX, ("lirc_mode2",), LIRC_MODE2)
    add("sk_reuseport", 21, SK_REUSEPORT_CTX, ("sk_reuseport", "sk_reuseport/migrate"),
        SK_REUSEPORT, read=True)
    add("flow_dissector", 22, FLOW_DISSECTOR_CTX, ("flow_dissector",), FLOW_DISSECTOR, read=True)
    add("cgroup_sysctl", 23, SYSCTL_CTX, ("cgroup/sysctl",), CGROUP_SYSCTL, ret=(0, 1))
    add("raw_tracepoint_writable", 24, RAW_TRACEPOINT_CTX, ("raw_tracepoint.w/", "raw_tp.w/"),
        TRACING, privileged=True)
    add("cgroup_sockopt", 25, _sockopt(True), (), CGROUP_SOCKOPT, read=True, write=True, ret=(0, 1))
    add("cgroup_sockopt/getsockopt", 25, _sockopt(True), ("cgroup/getsockopt",), CGROUP_SOCKOPT,
        read=True, write=True, ret=(0, 1), base="cgroup_sockopt")
    add("cgroup_sockopt/setsockopt", 25, _sockopt(False), ("cgroup/setsockopt",), CGROUP_SOCKOPT,
        read=True, write=True, ret=(0, 1), base="cgroup_sockopt")
    add("tracing", 26, TRACING_CTX, ("tp_btf/", "fmod_ret/", "fmod_ret.s/", "iter/", "iter.s/"),
        TRACING_BTF, privileged=True)
    # fentry/fexit must return 0 (check_return_code)
    add("tracing/fentry", 26, TRACING_CTX, ("fentry/", "fentry.s/", "fexit/", "fexit.s/"),
        TRACING_BTF, ret=(0, 0), base="tracing", privileged=True)
    add("struct_ops", 27, TRACING_CTX, ("struct_ops/", "struct_ops.s/"), None, privileged=True)
    add("ext", 28, OPAQUE_CTX, ("freplace/",), None, privileged=True)
    add("lsm", 29, TRACING_CTX, ("lsm/", "lsm.s/", "lsm_cgroup/"), TRACING_BTF,
        ret=(-4095, 0), privileged=True)
    add("sk_lookup", 30, SK_LOOKUP_CTX, ("sk_lookup",), SK_LOOKUP, ret=(0, 1))
    add("syscall", 31, OPAQUE_CTX, ("syscall",), SYSCALL, privileged=True)
    add("netfilter", 32, OPAQUE_CTX, ("netfilter",), BASE, ret=(0, 1), privileged=True)
    return out


def build() -> Platform:
    """The Linux platform (x86-64 pt_regs)."""
    helpers = make_helpers(linux_helpers())
    ids = {proto.name: proto.id for proto in helpers.values()}
    types = {pt.name: pt for pt in _program_types(ids)}
    return Platform(
        name="linux",
        program_types=MappingProxyType(types),
        helpers=MappingProxyType(helpers),
        map_types=MappingProxyType(dict(MAP_TYPES)),
        stack_size=512,
        max_call_depth=8,
        max_instructions=1_000_000,
        max_tail_calls=33,
        default_program_type=None,
        description="Linux kernel eBPF (UAPI linux/bpf.h, x86-64)",
    )
