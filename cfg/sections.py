"""Program type from an ELF section name, following libbpf's `SEC()` conventions.

libbpf (1.x) matches a section name against its table: an entry written `name+` matches the
name itself or `name/anything`; any other entry matches exactly. Older libbpf also accepted a
bare prefix (`xdp_prog`, `socket1`, `kprobe__sys_open`); we fall back to that "sloppy" match so
that objects built for old loaders still get a type. Unknown sections are "unspec".
Types use the kernel's names (enum bpf_prog_type without BPF_PROG_TYPE_, lower case).
"""
from __future__ import annotations

# (libbpf section pattern, kernel program type). Order matters: first match wins, so longer
# patterns come before their prefixes (as in libbpf's own table).
SECTION_TYPES: tuple[tuple[str, str], ...] = (
    ("socket", "socket_filter"),
    ("sk_reuseport/migrate", "sk_reuseport"),
    ("sk_reuseport", "sk_reuseport"),
    ("kprobe.multi+", "kprobe"), ("kretprobe.multi+", "kprobe"),
    ("kprobe.session+", "kprobe"),
    ("uprobe.multi+", "kprobe"), ("uretprobe.multi+", "kprobe"),
    ("uprobe.multi.s+", "kprobe"), ("uretprobe.multi.s+", "kprobe"),
    ("uprobe.session+", "kprobe"), ("uprobe.session.s+", "kprobe"),
    ("kprobe+", "kprobe"), ("kretprobe+", "kprobe"),
    ("uprobe+", "kprobe"), ("uprobe.s+", "kprobe"),
    ("uretprobe+", "kprobe"), ("uretprobe.s+", "kprobe"),
    ("ksyscall+", "kprobe"), ("kretsyscall+", "kprobe"),
    ("usdt+", "kprobe"), ("usdt.s+", "kprobe"),
    ("tc/ingress", "sched_cls"), ("tc/egress", "sched_cls"),
    ("tcx/ingress", "sched_cls"), ("tcx/egress", "sched_cls"),
    ("netkit/primary", "sched_cls"), ("netkit/peer", "sched_cls"),
    ("tc", "sched_cls"), ("classifier", "sched_cls"), ("action", "sched_act"),
    ("tracepoint+", "tracepoint"), ("tp+", "tracepoint"),
    ("raw_tracepoint.w+", "raw_tracepoint_writable"), ("raw_tp.w+", "raw_tracepoint_writable"),
    ("raw_tracepoint+", "raw_tracepoint"), ("raw_tp+", "raw_tracepoint"),
    ("tp_btf+", "tracing"),
    ("fentry+", "tracing"), ("fmod_ret+", "tracing"), ("fexit+", "tracing"),
    ("fentry.s+", "tracing"), ("fmod_ret.s+", "tracing"), ("fexit.s+", "tracing"),
    ("freplace+", "ext"),
    ("lsm+", "lsm"), ("lsm.s+", "lsm"), ("lsm_cgroup+", "lsm"),
    ("iter+", "tracing"), ("iter.s+", "tracing"),
    ("syscall", "syscall"),
    ("xdp.frags/devmap", "xdp"), ("xdp/devmap", "xdp"),
    ("xdp.frags/cpumap", "xdp"), ("xdp/cpumap", "xdp"),
    ("xdp.frags", "xdp"), ("xdp", "xdp"),
    ("perf_event", "perf_event"),
    ("lwt_in", "lwt_in"), ("lwt_out", "lwt_out"), ("lwt_xmit", "lwt_xmit"),
    ("lwt_seg6local", "lwt_seg6local"),
    ("sockops", "sock_ops"),
    ("sk_skb/stream_parser", "sk_skb"), ("sk_skb/stream_verdict", "sk_skb"),
    ("sk_skb/verdict", "sk_skb"), ("sk_skb", "sk_skb"),
    ("sk_msg", "sk_msg"),
    ("lirc_mode2", "lirc_mode2"),
    ("flow_dissector", "flow_dissector"),
    ("cgroup_skb/ingress", "cgroup_skb"), ("cgroup_skb/egress", "cgroup_skb"),
    ("cgroup/skb", "cgroup_skb"),
    ("cgroup/sock_create", "cgroup_sock"), ("cgroup/sock_release", "cgroup_sock"),
    ("cgroup/sock", "cgroup_sock"),
    ("cgroup/post_bind4", "cgroup_sock"), ("cgroup/post_bind6", "cgroup_sock"),
    ("cgroup/bind4", "cgroup_sock_addr"), ("cgroup/bind6", "cgroup_sock_addr"),
    ("cgroup/connect4", "cgroup_sock_addr"), ("cgroup/connect6", "cgroup_sock_addr"),
    ("cgroup/connect_unix", "cgroup_sock_addr"),
    ("cgroup/sendmsg4", "cgroup_sock_addr"), ("cgroup/sendmsg6", "cgroup_sock_addr"),
    ("cgroup/sendmsg_unix", "cgroup_sock_addr"),
    ("cgroup/recvmsg4", "cgroup_sock_addr"), ("cgroup/recvmsg6", "cgroup_sock_addr"),
    ("cgroup/recvmsg_unix", "cgroup_sock_addr"),
    ("cgroup/getpeername4", "cgroup_sock_addr"), ("cgroup/getpeername6", "cgroup_sock_addr"),
    ("cgroup/getpeername_unix", "cgroup_sock_addr"),
    ("cgroup/getsockname4", "cgroup_sock_addr"), ("cgroup/getsockname6", "cgroup_sock_addr"),
    ("cgroup/getsockname_unix", "cgroup_sock_addr"),
    ("cgroup/sysctl", "cgroup_sysctl"),
    ("cgroup/getsockopt", "cgroup_sockopt"), ("cgroup/setsockopt", "cgroup_sockopt"),
    ("cgroup/dev", "cgroup_device"),
    ("struct_ops+", "struct_ops"), ("struct_ops.s+", "struct_ops"),
    ("sk_lookup", "sk_lookup"),
    ("netfilter", "netfilter"),
)

# Every type name the table can produce, plus "unspec".
PROGRAM_TYPES = frozenset(t for _, t in SECTION_TYPES) | {"unspec"}


def _strict_match(pattern: str, section: str) -> bool:
    if pattern.endswith("+"):
        base = pattern[:-1]
        return section == base or section.startswith(base + "/")
    return section == pattern


def program_type_for_section(section: str) -> str:
    """The kernel program type libbpf would give a program in `section` ("unspec" if none)."""
    for pattern, prog_type in SECTION_TYPES:
        if _strict_match(pattern, section):
            return prog_type
    # Legacy (libbpf < 1.0) prefix matching: "xdp_prog", "socket1", "kprobe__x", "cgroup/skb1";
    # the longest matching prefix wins.
    best, best_len = "unspec", 0
    for pattern, prog_type in SECTION_TYPES:
        prefix = pattern.rstrip("+")
        if section.startswith(prefix) and len(prefix) > best_len:
            best, best_len = prog_type, len(prefix)
    return best
