/* ebpf_windows.h: what bpfcheck's Windows corpus programs need from eBPF for Windows.
 *
 * Our own header, written for this corpus. The facts it encodes (context layouts, section names,
 * helper numbers, map type numbers, the legacy map definition) are those of eBPF for Windows'
 * public headers: include/ebpf_structs.h (map types, general helper ids), include/bpf_helper_defs.h
 * (helper prototypes), include/ebpf_nethooks.h (contexts, hook return codes, program-type helpers
 * numbered from 0xFFFF + 1 = 65536), include/bpf_helpers.h and bpf_helpers_platform.h (SEC, BTF
 * map macros, the legacy `struct bpf_map`), netebpfext/net_ebpf_ext_program_info.h (section
 * names, which context fields are the packet / app-id pointers).
 *
 * Programs are built with `clang-19 -target bpf -nostdinc`: no Linux or libc header is used, so
 * the integer types are defined here.
 */
#ifndef BPFCHECK_EBPF_WINDOWS_H
#define BPFCHECK_EBPF_WINDOWS_H

/* ---- integer types (LP64 on the BPF target) ---- */
typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef short int16_t;
typedef unsigned short uint16_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long long uint64_t;
typedef unsigned long size_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

/* ---- sections and BTF map declarations ---- */
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
#define __always_inline inline __attribute__((always_inline))

/* eBPF for Windows' tools recognise a Windows object by this one-byte section. */
const bool __ebpf_for_windows_tag __attribute__((section(".ebpf_for_windows"), used)) = true;

/* Program sections (netebpfext) -> program type:
 *   "xdp"                                  xdp               context struct xdp_md
 *   "bind"                                 bind              context bind_md
 *   "cgroup/connect4" "cgroup/connect6"    cgroup_sock_addr  context struct bpf_sock_addr
 *   "cgroup/recv_accept4" "cgroup/recv_accept6"
 *   "sockops"                              sock_ops          context struct bpf_sock_ops
 */

/* ---- map types (eBPF for Windows numbering, not Linux's) ---- */
enum bpf_map_type {
    BPF_MAP_TYPE_UNSPEC = 0,
    BPF_MAP_TYPE_HASH = 1,
    BPF_MAP_TYPE_ARRAY = 2,
    BPF_MAP_TYPE_PROG_ARRAY = 3,
    BPF_MAP_TYPE_PERCPU_HASH = 4,
    BPF_MAP_TYPE_PERCPU_ARRAY = 5,
    BPF_MAP_TYPE_HASH_OF_MAPS = 6,
    BPF_MAP_TYPE_ARRAY_OF_MAPS = 7,
    BPF_MAP_TYPE_LRU_HASH = 8,
    BPF_MAP_TYPE_LPM_TRIE = 9,
    BPF_MAP_TYPE_QUEUE = 10,
    BPF_MAP_TYPE_LRU_PERCPU_HASH = 11,
    BPF_MAP_TYPE_STACK = 12,
    BPF_MAP_TYPE_RINGBUF = 13,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY = 14,
};

#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_EXIST 2

/* Legacy map definition in SEC("maps"): eBPF for Windows' struct _ebpf_map_definition_in_file,
 * eight 32-bit words (Linux's struct bpf_map_def has five). */
struct bpf_map {
    uint32_t type;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t inner_map_idx; /* maps of maps: index of the inner map template in "maps" */
    uint32_t pinning;       /* 0 none, 1 by name */
    uint32_t id;            /* map template id ... */
    uint32_t inner_id;      /* ... and the id of the inner template */
};

/* ---- general helpers (include/ebpf_structs.h ebpf_helper_id_t) ---- */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static int64_t (*bpf_map_update_elem)(void *map, const void *key, const void *value, uint64_t flags) = (void *)2;
static int64_t (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static void *(*bpf_map_lookup_and_delete_elem)(void *map, const void *key) = (void *)4;
static int64_t (*bpf_tail_call)(void *ctx, void *prog_array, uint32_t index) = (void *)5;
static uint32_t (*bpf_get_prandom_u32)(void) = (void *)6;
static uint64_t (*bpf_ktime_get_boot_ns)(void) = (void *)7;
static uint64_t (*bpf_get_smp_processor_id)(void) = (void *)8;
static uint64_t (*bpf_ktime_get_ns)(void) = (void *)9;
static int (*bpf_csum_diff)(void *from, int from_size, void *to, int to_size, int seed) = (void *)10;
static int (*bpf_ringbuf_output)(void *ring, void *data, uint64_t size, uint64_t flags) = (void *)11;
static long (*bpf_trace_printk2)(const char *fmt, uint32_t fmt_size) = (void *)12;
static long (*bpf_trace_printk3)(const char *fmt, uint32_t fmt_size, uint64_t a3) = (void *)13;
static long (*bpf_trace_printk4)(const char *fmt, uint32_t fmt_size, uint64_t a3, uint64_t a4) = (void *)14;
static long (*bpf_trace_printk5)(const char *fmt, uint32_t fmt_size, uint64_t a3, uint64_t a4, uint64_t a5) = (void *)15;
static int64_t (*bpf_map_push_elem)(void *map, const void *value, uint64_t flags) = (void *)16;
static int64_t (*bpf_map_pop_elem)(void *map, void *value) = (void *)17;
static int64_t (*bpf_map_peek_elem)(void *map, void *value) = (void *)18;
static uint64_t (*bpf_get_current_pid_tgid)(void) = (void *)19;
static uint64_t (*bpf_get_current_logon_id)(const void *ctx) = (void *)20;
static int32_t (*bpf_is_current_admin)(const void *ctx) = (void *)21;
static long (*bpf_memcpy_s)(void *dst, size_t dst_size, const void *src, size_t src_size) = (void *)22;
static int (*bpf_memcmp_s)(const void *m1, size_t m1_size, const void *m2, size_t m2_size) = (void *)23;
static long (*bpf_memset)(void *mem, size_t size, int value) = (void *)24;
static long (*bpf_memmove_s)(void *dst, size_t dst_size, const void *src, size_t src_size) = (void *)25;
static int64_t (*bpf_get_socket_cookie)(const void *ctx) = (void *)26;
static int (*bpf_strncpy_s)(char *dst, size_t dst_size, const char *src, size_t count) = (void *)27;
static int (*bpf_strncat_s)(char *dst, size_t dst_size, const char *src, size_t count) = (void *)28;
static size_t (*bpf_strnlen_s)(const char *str, size_t str_size) = (void *)29;
static uint64_t (*bpf_ktime_get_boot_ms)(void) = (void *)30;
static uint64_t (*bpf_ktime_get_ms)(void) = (void *)31;
static int (*bpf_perf_event_output)(void *ctx, void *map, uint64_t flags, void *data, uint64_t size) = (void *)32;

/* Program-type-specific helpers start at 0xFFFF + 1 = 65536 and are numbered per program type:
 * the same number means a different helper (or none) in another program type. */
#define EBPF_PROGRAM_TYPE_HELPER_BASE 0xFFFF

/* ---- XDP: section "xdp" ---- */
struct xdp_md {
    void *data;               /* 0: packet start (packet pointer) */
    void *data_end;           /* 8: packet end */
    uint64_t data_meta;       /* 16: metadata start (packet meta pointer) */
    uint32_t ingress_ifindex; /* 24 */
};                            /* sizeof 32 */

enum xdp_action { XDP_PASS = 1, XDP_DROP = 2, XDP_TX = 3 }; /* not Linux's 2 / 1 / 3 */

/* xdp only: 65536 */
static int (*bpf_xdp_adjust_head)(struct xdp_md *ctx, int delta) = (void *)(EBPF_PROGRAM_TYPE_HELPER_BASE + 1);

/* ---- bind: section "bind" ---- */
enum bind_operation { BIND_OPERATION_BIND, BIND_OPERATION_POST_BIND, BIND_OPERATION_UNBIND };

typedef struct _bind_md {
    uint8_t *app_id_start;          /* 0: start of the application id (bounded like a packet) */
    uint8_t *app_id_end;            /* 8: its end */
    uint64_t process_id;            /* 16 */
    uint8_t socket_address[16];     /* 24: the address to bind to (rewritten on BIND_REDIRECT) */
    uint8_t socket_address_length;  /* 40 */
    enum bind_operation operation;  /* 44 */
    uint8_t protocol;               /* 48 */
} bind_md_t;                        /* sizeof 56 */

enum bind_action { BIND_PERMIT = 0, BIND_DENY = 1, BIND_REDIRECT = 2 };
/* bind has no program-type-specific helpers. */

/* ---- cgroup sock_addr: sections "cgroup/connect4|6", "cgroup/recv_accept4|6" ---- */
struct bpf_sock_addr {
    uint32_t family;                /* 0 */
    struct {
        union {
            uint32_t msg_src_ip4;   /* 4 */
            uint32_t msg_src_ip6[4];
        };
        uint16_t msg_src_port;      /* 20 */
    };
    struct {
        union {
            uint32_t user_ip4;      /* 24 */
            uint32_t user_ip6[4];
        };
        uint16_t user_port;         /* 40 */
    };
    uint32_t protocol;              /* 44 */
    uint32_t compartment_id;        /* 48 */
    uint64_t interface_luid;        /* 56 */
};                                  /* sizeof 64 */
typedef struct bpf_sock_addr bpf_sock_addr_t;

#define BPF_SOCK_ADDR_VERDICT_REJECT 0
#define BPF_SOCK_ADDR_VERDICT_PROCEED 1

/* cgroup_sock_addr only: 65536, 65537 */
static uint64_t (*bpf_sock_addr_get_current_pid_tgid)(bpf_sock_addr_t *ctx) = (void *)(EBPF_PROGRAM_TYPE_HELPER_BASE + 1);
static int (*bpf_sock_addr_set_redirect_context)(bpf_sock_addr_t *ctx, void *data, uint32_t size) =
    (void *)(EBPF_PROGRAM_TYPE_HELPER_BASE + 2);

/* ---- sock_ops: section "sockops" ---- */
enum bpf_sock_op_type {
    BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB,
    BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB,
    BPF_SOCK_OPS_CONNECTION_DELETED_CB,
};

struct bpf_sock_ops {
    enum bpf_sock_op_type op;       /* 0 */
    uint32_t family;                /* 4 */
    struct {
        union {
            uint32_t local_ip4;     /* 8 */
            uint32_t local_ip6[4];
        };
        uint32_t local_port;        /* 24 */
    };
    struct {
        union {
            uint32_t remote_ip4;    /* 28 */
            uint32_t remote_ip6[4];
        };
        uint32_t remote_port;       /* 44 */
    };
    uint8_t protocol;               /* 48 */
    uint32_t compartment_id;        /* 52 */
    uint64_t interface_luid;        /* 56 */
};                                  /* sizeof 64 */
typedef struct bpf_sock_ops bpf_sock_ops_t;
/* sock_ops has no program-type-specific helpers. */

/* ---- Windows socket constants and network headers ---- */
#define AF_INET 2
#define AF_INET6 23 /* Windows' value (Linux: 10) */
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

#define bpf_htons(x) ((uint16_t)__builtin_bswap16(x))
#define bpf_ntohs(x) ((uint16_t)__builtin_bswap16(x))
#define bpf_htonl(x) ((uint32_t)__builtin_bswap32(x))
#define bpf_ntohl(x) ((uint32_t)__builtin_bswap32(x))

struct ethhdr {
    uint8_t h_dest[6];
    uint8_t h_source[6];
    uint16_t h_proto;
} __attribute__((packed));

struct iphdr {
    uint8_t ihl : 4, version : 4;
    uint8_t tos;
    uint16_t tot_len;
    uint16_t id;
    uint16_t frag_off;
    uint8_t ttl;
    uint8_t protocol;
    uint16_t check;
    uint32_t saddr;
    uint32_t daddr;
};

struct ipv6hdr {
    uint32_t vtc_flow;
    uint16_t payload_len;
    uint8_t nexthdr;
    uint8_t hop_limit;
    uint8_t saddr[16];
    uint8_t daddr[16];
};

struct udphdr {
    uint16_t source;
    uint16_t dest;
    uint16_t len;
    uint16_t check;
};

struct tcphdr {
    uint16_t source;
    uint16_t dest;
    uint32_t seq;
    uint32_t ack_seq;
    uint16_t flags; /* data offset, reserved bits and flags, network order */
    uint16_t window;
    uint16_t check;
    uint16_t urg_ptr;
};

#endif
