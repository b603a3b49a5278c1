/* Windows: one object, four program types (xdp, bind, cgroup_sock_addr, sock_ops) sharing a
 * counter array declared the legacy way, in SEC("maps"). */
#include "ebpf_windows.h"

enum { C_XDP, C_BIND, C_CONNECT, C_SOCKOPS, C_COUNT };

SEC("maps")
struct bpf_map hook_counters = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(uint32_t),
	.value_size = sizeof(uint64_t),
	.max_entries = C_COUNT,
};

static __always_inline void bump(uint32_t slot)
{
	uint64_t *v = bpf_map_lookup_elem(&hook_counters, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

/* XDP: bump the xdp slot of the shared legacy array and pass. */
SEC("xdp")
int count_xdp(struct xdp_md *ctx)
{
	bump(C_XDP);
	return XDP_PASS;
}

/* bind: bump the bind slot of the shared legacy array and permit. */
SEC("bind")
int count_bind(bind_md_t *ctx)
{
	bump(C_BIND);
	return BIND_PERMIT;
}

/* cgroup/connect4: bump the connect slot of the shared legacy array and proceed. */
SEC("cgroup/connect4")
int count_connect4(bpf_sock_addr_t *ctx)
{
	bump(C_CONNECT);
	return BPF_SOCK_ADDR_VERDICT_PROCEED;
}

/* sockops: bump the sockops slot of the shared legacy array. */
SEC("sockops")
int count_sockops(bpf_sock_ops_t *ctx)
{
	bump(C_SOCKOPS);
	return 0;
}
