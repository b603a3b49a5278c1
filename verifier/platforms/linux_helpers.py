"""Linux helper prototypes under the kernel's numbers (enum __BPF_FUNC_MAPPER in linux/bpf.h).

Argument and return kinds follow the kernel's `bpf_func_proto` definitions (kernel/bpf/helpers.c,
net/core/filter.c, kernel/trace/bpf_trace.c); `invalidates_packet` follows the kernel's
`bpf_helper_changes_pkt_data`. Arguments past those listed are not read by the helper (as for
trace_printk's format arguments). Kinds are documented in verifier/platform.py.
"""
from __future__ import annotations

from verifier.platform import HelperProto

# Short spellings for the table below.
ANY = "anything"
CTX = "ptr_to_ctx"
MAP = "ptr_to_map"
KEY = "ptr_to_map_key"
VAL = "ptr_to_map_value"
UVAL = "ptr_to_uninit_map_value"
VAL0 = "ptr_to_map_value_or_null"
RMEM = "ptr_to_readable_mem"
RMEM0 = "ptr_to_readable_mem_or_null"
WMEM = "ptr_to_writable_mem"
SZ = "const_size"
SZ0 = "const_size_or_zero"
ASZ0 = "const_alloc_size_or_zero"
BTF = "ptr_to_btf_id"
SKC = "ptr_to_btf_id_sock_common"
SOCKC = "ptr_to_sock_common"
FUNC = "ptr_to_func"
STK0 = "ptr_to_stack_or_null"
LONG = "ptr_to_long"
STR = "ptr_to_const_str"
DYN = "ptr_to_dynptr"
TIMER = "ptr_to_timer"
NO = "unsupported"

INT = "integer"

# (id, name, return kind, argument kinds, invalidates packet pointers, size argument of the result)
_TABLE: tuple[tuple, ...] = (
    (1, "map_lookup_elem", "map_value_or_null", (MAP, KEY)),
    (2, "map_update_elem", INT, (MAP, KEY, VAL, ANY)),
    (3, "map_delete_elem", INT, (MAP, KEY)),
    (4, "probe_read", INT, (WMEM, SZ0, ANY)),
    (5, "ktime_get_ns", INT, ()),
    (6, "trace_printk", INT, (RMEM, SZ)),
    (7, "get_prandom_u32", INT, ()),
    (8, "get_smp_processor_id", INT, ()),
    (9, "skb_store_bytes", INT, (CTX, ANY, RMEM, SZ, ANY), True),
    (10, "l3_csum_replace", INT, (CTX, ANY, ANY, ANY, ANY), True),
    (11, "l4_csum_replace", INT, (CTX, ANY, ANY, ANY, ANY), True),
    (12, "tail_call", INT, (CTX, "ptr_to_map_of_programs", ANY)),
    (13, "clone_redirect", INT, (CTX, ANY, ANY), True),
    (14, "get_current_pid_tgid", INT, ()),
    (15, "get_current_uid_gid", INT, ()),
    (16, "get_current_comm", INT, (WMEM, SZ)),
    (17, "get_cgroup_classid", INT, (CTX,)),
    (18, "skb_vlan_push", INT, (CTX, ANY, ANY), True),
    (19, "skb_vlan_pop", INT, (CTX,), True),
    (20, "skb_get_tunnel_key", INT, (CTX, WMEM, SZ, ANY)),
    (21, "skb_set_tunnel_key", INT, (CTX, RMEM, SZ, ANY)),
    (22, "perf_event_read", INT, (MAP, ANY)),
    (23, "redirect", INT, (ANY, ANY)),
    (24, "get_route_realm", INT, (CTX,)),
    (25, "perf_event_output", INT, (CTX, MAP, ANY, RMEM, SZ0)),
    (26, "skb_load_bytes", INT, (CTX, ANY, WMEM, SZ)),
    (27, "get_stackid", INT, (CTX, MAP, ANY)),
    (28, "csum_diff", INT, (RMEM0, SZ0, RMEM0, SZ0, ANY)),
    (29, "skb_get_tunnel_opt", INT, (CTX, WMEM, SZ)),
    (30, "skb_set_tunnel_opt", INT, (CTX, RMEM, SZ)),
    (31, "skb_change_proto", INT, (CTX, ANY, ANY), True),
    (32, "skb_change_type", INT, (CTX, ANY)),
    (33, "skb_under_cgroup", INT, (CTX, MAP, ANY)),
    (34, "get_hash_recalc", INT, (CTX,)),
    (35, "get_current_task", INT, ()),
    (36, "probe_write_user", INT, (ANY, RMEM, SZ)),
    (37, "current_task_under_cgroup", INT, (MAP, ANY)),
    (38, "skb_change_tail", INT, (CTX, ANY, ANY), True),
    (39, "skb_pull_data", INT, (CTX, ANY), True),
    (40, "csum_update", INT, (CTX, ANY)),
    (41, "set_hash_invalid", "void", (CTX,)),
    (42, "get_numa_node_id", INT, ()),
    (43, "skb_change_head", INT, (CTX, ANY, ANY), True),
    (44, "xdp_adjust_head", INT, (CTX, ANY), True),
    (45, "probe_read_str", INT, (WMEM, SZ0, ANY)),
    (46, "get_socket_cookie", INT, (CTX,)),
    (47, "get_socket_uid", INT, (CTX,)),
    (48, "set_hash", INT, (CTX, ANY)),
    (49, "setsockopt", INT, (CTX, ANY, ANY, RMEM, SZ)),
    (50, "skb_adjust_room", INT, (CTX, ANY, ANY, ANY), True),
    (51, "redirect_map", INT, (MAP, ANY, ANY)),
    (52, "sk_redirect_map", INT, (CTX, MAP, ANY, ANY)),
    (53, "sock_map_update", INT, (CTX, MAP, KEY, ANY)),
    (54, "xdp_adjust_meta", INT, (CTX, ANY), True),
    (55, "perf_event_read_value", INT, (MAP, ANY, WMEM, SZ)),
    (56, "perf_prog_read_value", INT, (CTX, WMEM, SZ)),
    (57, "getsockopt", INT, (CTX, ANY, ANY, WMEM, SZ)),
    (58, "override_return", INT, (CTX, ANY)),
    (59, "sock_ops_cb_flags_set", INT, (CTX, ANY)),
    (60, "msg_redirect_map", INT, (CTX, MAP, ANY, ANY)),
    (61, "msg_apply_bytes", INT, (CTX, ANY)),
    (62, "msg_cork_bytes", INT, (CTX, ANY)),
    (63, "msg_pull_data", INT, (CTX, ANY, ANY, ANY), True),
    (64, "bind", INT, (CTX, RMEM, SZ)),
    (65, "xdp_adjust_tail", INT, (CTX, ANY), True),
    (66, "skb_get_xfrm_state", INT, (CTX, ANY, WMEM, SZ, ANY)),
    (67, "get_stack", INT, (CTX, WMEM, SZ0, ANY)),
    (68, "skb_load_bytes_relative", INT, (CTX, ANY, WMEM, SZ, ANY)),
    (69, "fib_lookup", INT, (CTX, RMEM, SZ, ANY)),  # params are read and written back
    (70, "sock_hash_update", INT, (CTX, MAP, KEY, ANY)),
    (71, "msg_redirect_hash", INT, (CTX, MAP, KEY, ANY)),
    (72, "sk_redirect_hash", INT, (CTX, MAP, KEY, ANY)),
    (73, "lwt_push_encap", INT, (CTX, ANY, RMEM, SZ), True),
    (74, "lwt_seg6_store_bytes", INT, (CTX, ANY, RMEM, SZ), True),
    (75, "lwt_seg6_adjust_srh", INT, (CTX, ANY, ANY), True),
    (76, "lwt_seg6_action", INT, (CTX, ANY, RMEM, SZ), True),
    (77, "rc_repeat", INT, (CTX,)),
    (78, "rc_keydown", INT, (CTX, ANY, ANY, ANY)),
    (79, "skb_cgroup_id", INT, (CTX,)),
    (80, "get_current_cgroup_id", INT, ()),
    (81, "get_local_storage", "map_value", (MAP, ANY)),
    (82, "sk_select_reuseport", INT, (CTX, MAP, KEY, ANY)),
    (83, "skb_ancestor_cgroup_id", INT, (CTX, ANY)),
    (84, "sk_lookup_tcp", "socket_or_null", (CTX, RMEM, SZ, ANY, ANY)),
    (85, "sk_lookup_udp", "socket_or_null", (CTX, RMEM, SZ, ANY, ANY)),
    (86, "sk_release", INT, (SKC,)),
    (87, "map_push_elem", INT, (MAP, VAL, ANY)),
    (88, "map_pop_elem", INT, (MAP, UVAL)),
    (89, "map_peek_elem", INT, (MAP, UVAL)),
    (90, "msg_push_data", INT, (CTX, ANY, ANY, ANY), True),
    (91, "msg_pop_data", INT, (CTX, ANY, ANY, ANY), True),
    (92, "rc_pointer_rel", INT, (CTX, ANY, ANY)),
    (93, "spin_lock", "void", ("ptr_to_spin_lock",)),
    (94, "spin_unlock", "void", ("ptr_to_spin_lock",)),
    (95, "sk_fullsock", "socket_or_null", (SOCKC,)),
    (96, "tcp_sock", "tcp_sock_or_null", (SOCKC,)),
    (97, "skb_ecn_set_ce", INT, (CTX,)),
    (98, "get_listener_sock", "tcp_sock_or_null", (SOCKC,)),
    (99, "skc_lookup_tcp", "sock_common_or_null", (CTX, RMEM, SZ, ANY, ANY)),
    (100, "tcp_check_syncookie", INT, (SKC, RMEM, SZ, RMEM, SZ)),
    (101, "sysctl_get_name", INT, (CTX, WMEM, SZ, ANY)),
    (102, "sysctl_get_current_value", INT, (CTX, WMEM, SZ)),
    (103, "sysctl_get_new_value", INT, (CTX, WMEM, SZ)),
    (104, "sysctl_set_new_value", INT, (CTX, RMEM, SZ)),
    (105, "strtol", INT, (RMEM, SZ, ANY, LONG)),
    (106, "strtoul", INT, (RMEM, SZ, ANY, LONG)),
    (107, "sk_storage_get", "map_value_or_null", (MAP, SKC, VAL0, ANY)),
    (108, "sk_storage_delete", INT, (MAP, SKC)),
    (109, "send_signal", INT, (ANY,)),
    (110, "tcp_gen_syncookie", INT, (SKC, RMEM, SZ, RMEM, SZ)),
    (111, "skb_output", INT, (BTF, MAP, ANY, RMEM, SZ0)),
    (112, "probe_read_user", INT, (WMEM, SZ0, ANY)),
    (113, "probe_read_kernel", INT, (WMEM, SZ0, ANY)),
    (114, "probe_read_user_str", INT, (WMEM, SZ0, ANY)),
    (115, "probe_read_kernel_str", INT, (WMEM, SZ0, ANY)),
    (116, "tcp_send_ack", INT, (BTF, ANY)),
    (117, "send_signal_thread", INT, (ANY,)),
    (118, "jiffies64", INT, ()),
    (119, "read_branch_records", INT, (CTX, "ptr_to_writable_mem_or_null", SZ0, ANY)),
    (120, "get_ns_current_pid_tgid", INT, (ANY, ANY, WMEM, SZ)),
    (121, "xdp_output", INT, (BTF, MAP, ANY, RMEM, SZ0)),
    (122, "get_netns_cookie", INT, (CTX,)),
    (123, "get_current_ancestor_cgroup_id", INT, (ANY,)),
    (124, "sk_assign", INT, (CTX, SKC, ANY)),
    (125, "ktime_get_boot_ns", INT, ()),
    (126, "seq_printf", INT, (BTF, RMEM, SZ, RMEM0, SZ0)),
    (127, "seq_write", INT, (BTF, RMEM, SZ0)),
    (128, "sk_cgroup_id", INT, (SKC,)),
    (129, "sk_ancestor_cgroup_id", INT, (SKC, ANY)),
    (130, "ringbuf_output", INT, (MAP, RMEM, SZ0, ANY)),
    (131, "ringbuf_reserve", "mem_or_null", (MAP, ASZ0, ANY), False, 2),
    (132, "ringbuf_submit", "void", ("ptr_to_alloc_mem", ANY)),
    (133, "ringbuf_discard", "void", ("ptr_to_alloc_mem", ANY)),
    (134, "ringbuf_query", INT, (MAP, ANY)),
    (135, "csum_level", INT, (CTX, ANY)),
    (136, "skc_to_tcp6_sock", "btf_id_or_null", (SKC,)),
    (137, "skc_to_tcp_sock", "btf_id_or_null", (SKC,)),
    (138, "skc_to_tcp_timewait_sock", "btf_id_or_null", (SKC,)),
    (139, "skc_to_tcp_request_sock", "btf_id_or_null", (SKC,)),
    (140, "skc_to_udp6_sock", "btf_id_or_null", (SKC,)),
    (141, "get_task_stack", INT, (BTF, WMEM, SZ0, ANY)),
    (142, "load_hdr_opt", INT, (CTX, RMEM, SZ, ANY)),  # the search key is read, the option written
    (143, "store_hdr_opt", INT, (CTX, RMEM, SZ, ANY), True),
    (144, "reserve_hdr_opt", INT, (CTX, ANY, ANY)),
    (145, "inode_storage_get", "map_value_or_null", (MAP, BTF, VAL0, ANY)),
    (146, "inode_storage_delete", INT, (MAP, BTF)),
    (147, "d_path", INT, (BTF, WMEM, SZ0)),
    (148, "copy_from_user", INT, (WMEM, SZ0, ANY)),
    (149, "snprintf_btf", INT, (WMEM, SZ, RMEM, SZ, ANY)),
    (150, "seq_printf_btf", INT, (BTF, RMEM, SZ0, ANY)),
    (151, "skb_cgroup_classid", INT, (CTX,)),
    (152, "redirect_neigh", INT, (ANY, RMEM0, SZ0, ANY)),
    (153, "per_cpu_ptr", "mem_or_btf_id_or_null", ("ptr_to_percpu_btf_id", ANY)),
    (154, "this_cpu_ptr", "mem_or_btf_id", ("ptr_to_percpu_btf_id",)),
    (155, "redirect_peer", INT, (ANY, ANY)),
    (156, "task_storage_get", "map_value_or_null", (MAP, BTF, VAL0, ANY)),
    (157, "task_storage_delete", INT, (MAP, BTF)),
    (158, "get_current_task_btf", "btf_id", ()),
    (159, "bprm_opts_set", INT, (BTF, ANY)),
    (160, "ktime_get_coarse_ns", INT, ()),
    (161, "ima_inode_hash", INT, (BTF, WMEM, SZ)),
    (162, "sock_from_file", "btf_id_or_null", (BTF,)),
    (163, "check_mtu", INT, (CTX, ANY, "ptr_to_int", ANY, ANY)),
    (164, "for_each_map_elem", INT, (MAP, FUNC, STK0, ANY)),
    (165, "snprintf", INT, ("ptr_to_writable_mem_or_null", SZ0, STR, RMEM0, SZ0)),
    (166, "sys_bpf", INT, (ANY, RMEM, SZ)),
    (167, "btf_find_by_name_kind", INT, (RMEM, SZ, ANY, ANY)),
    (168, "sys_close", INT, (ANY,)),
    (169, "timer_init", INT, (TIMER, MAP, ANY)),
    (170, "timer_set_callback", INT, (TIMER, FUNC)),
    (171, "timer_start", INT, (TIMER, ANY, ANY)),
    (172, "timer_cancel", INT, (TIMER,)),
    (173, "get_func_ip", INT, (CTX,)),
    (174, "get_attach_cookie", INT, (CTX,)),
    (175, "task_pt_regs", "btf_id", (BTF,)),
    (176, "get_branch_snapshot", INT, (WMEM, SZ0)),
    (177, "trace_vprintk", INT, (RMEM, SZ, RMEM0, SZ0)),
    (178, "skc_to_unix_sock", "btf_id_or_null", (SKC,)),
    (179, "kallsyms_lookup_name", INT, (RMEM, SZ0, ANY, LONG)),
    (180, "find_vma", INT, (BTF, ANY, FUNC, STK0, ANY)),
    (181, "loop", INT, (ANY, FUNC, STK0, ANY)),
    (182, "strncmp", INT, (RMEM, SZ, STR)),
    (183, "get_func_arg", INT, (CTX, ANY, LONG)),
    (184, "get_func_ret", INT, (CTX, LONG)),
    (185, "get_func_arg_cnt", INT, (CTX,)),
    (186, "get_retval", INT, ()),
    (187, "set_retval", INT, (ANY,)),
    (188, "xdp_get_buff_len", INT, (CTX,)),
    (189, "xdp_load_bytes", INT, (CTX, ANY, WMEM, SZ)),
    (190, "xdp_store_bytes", INT, (CTX, ANY, RMEM, SZ)),
    (191, "copy_from_user_task", INT, (WMEM, SZ0, ANY, BTF, ANY)),
    (192, "skb_set_tstamp", INT, (CTX, ANY, ANY)),
    (193, "ima_file_hash", INT, (BTF, WMEM, SZ)),
    (194, "kptr_xchg", "btf_id_or_null", ("ptr_to_kptr", BTF)),
    (195, "map_lookup_percpu_elem", "map_value_or_null", (MAP, KEY, ANY)),
    (196, "skc_to_mptcp_sock", "btf_id_or_null", (SKC,)),
    (197, "dynptr_from_mem", INT, (RMEM, SZ0, ANY, DYN)),
    (198, "ringbuf_reserve_dynptr", INT, (MAP, ANY, ANY, DYN)),
    (199, "ringbuf_submit_dynptr", "void", (DYN, ANY)),
    (200, "ringbuf_discard_dynptr", "void", (DYN, ANY)),
    (201, "dynptr_read", INT, (WMEM, SZ0, DYN, ANY, ANY)),
    (202, "dynptr_write", INT, (DYN, ANY, RMEM, SZ0, ANY)),
    (203, "dynptr_data", "mem_or_null", (DYN, ANY, ASZ0), False, 3),
    # The raw syncookie helpers take fixed-size header pointers bpfcheck does not model.
    (204, "tcp_raw_gen_syncookie_ipv4", INT, (NO, RMEM, SZ)),
    (205, "tcp_raw_gen_syncookie_ipv6", INT, (NO, RMEM, SZ)),
    (206, "tcp_raw_check_syncookie_ipv4", INT, (NO, NO)),
    (207, "tcp_raw_check_syncookie_ipv6", INT, (NO, NO)),
    (208, "ktime_get_tai_ns", INT, ()),
    (209, "user_ringbuf_drain", INT, (MAP, FUNC, STK0, ANY)),
)


def linux_helpers() -> list[HelperProto]:
    """The Linux helper prototypes, in id order."""
    protos = []
    for row in _TABLE:
        hid, name, ret, args = row[:4]
        invalidates = row[4] if len(row) > 4 else False
        size_arg = row[5] if len(row) > 5 else None
        protos.append(HelperProto(hid, name, ret, tuple(args), invalidates, size_arg))
    return protos
