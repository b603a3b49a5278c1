"""The eBPF for Windows platform: its program types, contexts, helpers and map types.

Facts from microsoft/ebpf-for-windows' public headers: include/ebpf_structs.h (helper ids 1-32,
map types, program types), include/ebpf_nethooks.h (xdp_md, bind_md, bpf_sock_addr,
bpf_sock_ops and the sock_addr helpers), include/bpf_helper_defs.h and
libs/execution_context/ebpf_general_helpers.c (general helper prototypes),
netebpfext/net_ebpf_ext_program_info.h (context descriptors: which fields hold the data / end /
meta pointers; section names), the sample extension's sample_ext_helpers.h, and the project's
design notes for the bind / listen / connect_authorization sock_addr attach points. The tables
are our own. Layouts are x64 (8-byte pointers).

Access rules. eBPF for Windows' verifier checks only that a context access is in bounds and
that what is stored is a number; bpfcheck is stricter and writes its policy down here: pointer
fields (data / data_end / data_meta, app_id_start / app_id_end, data_start / data_end) load 8
bytes exactly and are read-only; scalar fields may be read at any power-of-two width that fits,
aligned; a field is writable only where the hook acts on what is written (bind's
socket_address, the connect redirect of user_ip / user_port, the sample extension's data).
"""
from __future__ import annotations

from types import MappingProxyType

from verifier.platform import ContextLayout, CtxField, HelperProto, Platform, ProgramType, make_helpers

EXT_HELPER_BASE = 0xFFFF   # program-type-specific helpers are numbered EXT_HELPER_BASE + 1, ...

ANY = "anything"
CTX = "ptr_to_ctx"
MAP = "ptr_to_map"
KEY = "ptr_to_map_key"
RMEM = "ptr_to_readable_mem"
RMEM0 = "ptr_to_readable_mem_or_null"
WMEM = "ptr_to_writable_mem"
SZ = "const_size"
SZ0 = "const_size_or_zero"
INT = "integer"

# General helpers (ebpf_structs.h enum ebpf_helper_id_t; prototypes from ebpf_general_helpers.c).
GENERAL_HELPERS: tuple[HelperProto, ...] = (
    HelperProto(1, "map_lookup_elem", "map_value_or_null", (MAP, KEY)),
    HelperProto(2, "map_update_elem", INT, (MAP, KEY, "ptr_to_map_value", ANY)),
    HelperProto(3, "map_delete_elem", INT, (MAP, KEY)),
    HelperProto(4, "map_lookup_and_delete_elem", "map_value_or_null", (MAP, KEY)),
    HelperProto(5, "tail_call", INT, (CTX, "ptr_to_map_of_programs", ANY)),
    HelperProto(6, "get_prandom_u32", INT),
    HelperProto(7, "ktime_get_boot_ns", INT),
    HelperProto(8, "get_smp_processor_id", INT),
    HelperProto(9, "ktime_get_ns", INT),
    HelperProto(10, "csum_diff", INT, (RMEM0, SZ0, RMEM0, SZ0, ANY)),
    HelperProto(11, "ringbuf_output", INT, (MAP, RMEM, SZ, ANY)),
    HelperProto(12, "trace_printk2", INT, (RMEM, SZ)),
    HelperProto(13, "trace_printk3", INT, (RMEM, SZ, ANY)),
    HelperProto(14, "trace_printk4", INT, (RMEM, SZ, ANY, ANY)),
    HelperProto(15, "trace_printk5", INT, (RMEM, SZ, ANY, ANY, ANY)),
    HelperProto(16, "map_push_elem", INT, (MAP, "ptr_to_map_value", ANY)),
    # pop / peek write the value they take out (the header says [out] value)
    HelperProto(17, "map_pop_elem", INT, (MAP, "ptr_to_uninit_map_value")),
    HelperProto(18, "map_peek_elem", INT, (MAP, "ptr_to_uninit_map_value")),
    HelperProto(19, "get_current_pid_tgid", INT),
    HelperProto(20, "get_current_logon_id", INT, (CTX,)),
    HelperProto(21, "is_current_admin", INT, (CTX,)),
    HelperProto(22, "memcpy_s", INT, (WMEM, SZ0, RMEM, SZ0)),
    HelperProto(23, "memcmp_s", INT, (RMEM, SZ0, RMEM, SZ0)),
    HelperProto(24, "memset", INT, (WMEM, SZ0, ANY)),
    HelperProto(25, "memmove_s", INT, (WMEM, SZ0, RMEM, SZ0)),
    HelperProto(26, "get_socket_cookie", INT, (CTX,)),
    HelperProto(27, "strncpy_s", INT, (WMEM, SZ0, RMEM, SZ0)),
    HelperProto(28, "strncat_s", INT, (WMEM, SZ0, RMEM, SZ0)),
    HelperProto(29, "strnlen_s", INT, (RMEM, SZ0)),
    HelperProto(30, "ktime_get_boot_ms", INT),
    HelperProto(31, "ktime_get_ms", INT),
    HelperProto(32, "perf_event_output", INT, (CTX, MAP, ANY, RMEM, SZ)),
    HelperProto(33, "get_current_process_start_key", INT),
    HelperProto(34, "get_current_thread_create_time", INT),
)

XDP_HELPERS = (
    HelperProto(EXT_HELPER_BASE + 1, "xdp_adjust_head", INT, (CTX, ANY), invalidates_packet=True),
)
SOCK_ADDR_HELPERS = (
    HelperProto(EXT_HELPER_BASE + 1, "sock_addr_get_current_pid_tgid", INT, (CTX,)),
    HelperProto(EXT_HELPER_BASE + 2, "sock_addr_set_redirect_context", INT, (CTX, RMEM, SZ)),
)
SAMPLE_HELPERS = (
    HelperProto(EXT_HELPER_BASE + 1, "sample_ebpf_extension_helper_function1", INT, (CTX,)),
    HelperProto(EXT_HELPER_BASE + 2, "sample_ebpf_extension_find", INT, (RMEM, SZ, RMEM, SZ)),
    HelperProto(EXT_HELPER_BASE + 3, "sample_ebpf_extension_replace", INT, (RMEM, SZ, ANY, RMEM, SZ)),
    HelperProto(EXT_HELPER_BASE + 4, "sample_ebpf_extension_helper_implicit_1", INT),
    HelperProto(EXT_HELPER_BASE + 5, "sample_ebpf_extension_helper_implicit_2", INT, (ANY,)),
)

# ebpf_structs.h enum bpf_map_type
MAP_TYPES = {
    0: "unspec", 1: "hash", 2: "array", 3: "prog_array", 4: "percpu_hash", 5: "percpu_array",
    6: "hash_of_maps", 7: "array_of_maps", 8: "lru_hash", 9: "lpm_trie", 10: "queue",
    11: "lru_percpu_hash", 12: "stack", 13: "ringbuf", 14: "perf_event_array",
}

R = (1, 2, 4, 8)  # read widths of a scalar field (those that fit in it)


def _scalar(name: str, offset: int, size: int, writable: bool = False) -> CtxField:
    widths = tuple(w for w in R if w <= size)
    return CtxField(name, offset, size, True, writable, "scalar", widths,
                    widths if writable else (), "")


def _pointer(name: str, offset: int, kind: str) -> CtxField:
    return CtxField(name, offset, 8, True, False, kind, (8,), (), "")


# typedef struct xdp_md { void* data; void* data_end; uint64_t data_meta; uint32_t ingress_ifindex; }
XDP_CTX = ContextLayout("xdp_md", 32, (
    _pointer("data", 0, "packet"), _pointer("data_end", 8, "packet_end"),
    _pointer("data_meta", 16, "packet_meta"), _scalar("ingress_ifindex", 24, 4),
))

# typedef struct _bind_md: the app id [app_id_start, app_id_end) is read like a packet.
BIND_CTX = ContextLayout("bind_md", 56, (
    _pointer("app_id_start", 0, "packet"), _pointer("app_id_end", 8, "packet_end"),
    _scalar("process_id", 16, 8), _scalar("socket_address", 24, 16, writable=True),
    _scalar("socket_address_length", 40, 1, writable=True), _scalar("operation", 44, 4),
    _scalar("protocol", 48, 1),
))


def _sock_addr(redirect: bool) -> ContextLayout:
    """typedef struct bpf_sock_addr: msg_src_ip4 is the first word of msg_src_ip6 and user_ip4
    of user_ip6 (unions); the destination is writable only where the hook redirects."""
    return ContextLayout("bpf_sock_addr", 64, (
        _scalar("family", 0, 4), _scalar("msg_src_ip6", 4, 16), _scalar("msg_src_port", 20, 2),
        _scalar("user_ip6", 24, 16, writable=redirect), _scalar("user_port", 40, 2, writable=redirect),
        _scalar("protocol", 44, 4), _scalar("compartment_id", 48, 4),
        _scalar("interface_luid", 56, 8),
    ))


# typedef struct _bpf_sock_ops (read-only: the hook only notifies)
SOCK_OPS_CTX = ContextLayout("bpf_sock_ops", 64, (
    _scalar("op", 0, 4), _scalar("family", 4, 4), _scalar("local_ip6", 8, 16),
    _scalar("local_port", 24, 4), _scalar("remote_ip6", 28, 16), _scalar("remote_port", 44, 4),
    _scalar("protocol", 48, 1), _scalar("compartment_id", 52, 4), _scalar("interface_luid", 56, 8),
))

# typedef struct _sample_program_context (the sample extension, used by the project's tests)
SAMPLE_CTX = ContextLayout("sample_program_context", 32, (
    _pointer("data_start", 0, "packet"), _pointer("data_end", 8, "packet_end"),
    _scalar("uint32_data", 16, 4, writable=True), _scalar("uint16_data", 20, 2, writable=True),
    _scalar("helper_data_1", 24, 4, writable=True), _scalar("helper_data_2", 28, 4, writable=True),
))


def _program_types() -> list[ProgramType]:
    general = frozenset(p.id for p in GENERAL_HELPERS)  # "all helpers defined in bpf_helpers.h"

    def pt(name: str, ctx: ContextLayout, sections: tuple[str, ...], number: int, *,
           read: bool = False, write: bool = False, own: tuple[HelperProto, ...] = (),
           base: str = "") -> ProgramType:
        return ProgramType(name, ctx, sections, packet_access=read, helpers=general,
                           return_range=None, packet_write=write, base=base or name,
                           number=number, own_helpers=own)

    out = [
        pt("xdp", XDP_CTX, ("xdp",), 1, read=True, write=True, own=XDP_HELPERS),
        pt("xdp_test", XDP_CTX, ("xdp_test",), 998, read=True, write=True, own=XDP_HELPERS),
        pt("bind", BIND_CTX, ("bind",), 2, read=True),
        pt("cgroup_sock_addr", _sock_addr(False), (), 3, own=SOCK_ADDR_HELPERS),
        pt("sock_ops", SOCK_OPS_CTX, ("sockops",), 4),
        pt("sample", SAMPLE_CTX, ("sample_ext",), 999, read=True, write=True, own=SAMPLE_HELPERS),
    ]
    # cgroup sock_addr attach points: connect may redirect (writes the destination); the others
    # inspect only.
    for hook in ("connect", "recv_accept", "connect_authorization", "bind", "listen"):
        for fam in ("4", "6"):
            out.append(pt(f"cgroup_sock_addr/{hook}{fam}", _sock_addr(hook == "connect"),
                          (f"cgroup/{hook}{fam}",), 3, own=SOCK_ADDR_HELPERS,
                          base="cgroup_sock_addr"))
    return out


def build() -> Platform:
    """The eBPF for Windows platform (x64)."""
    return Platform(
        name="windows",
        program_types=MappingProxyType({pt.name: pt for pt in _program_types()}),
        helpers=MappingProxyType(make_helpers(GENERAL_HELPERS)),
        map_types=MappingProxyType(dict(MAP_TYPES)),
        stack_size=512,
        max_call_depth=8,
        max_instructions=1_000_000,
        max_tail_calls=33,   # MAX_TAIL_CALL_CNT in ebpf_structs.h
        default_program_type=None,
        description="eBPF for Windows (microsoft/ebpf-for-windows public headers, x64)",
    )
