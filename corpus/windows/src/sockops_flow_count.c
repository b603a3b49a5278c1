/* Windows sockops: counts connection events by type and tracks live IPv4 flows in a hash map. */
#include "ebpf_windows.h"

struct flow4 {
	uint32_t local_ip;
	uint32_t remote_ip;
	uint32_t local_port;
	uint32_t remote_port;
	uint32_t protocol;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, uint32_t);
	__type(value, uint64_t);
} events_by_op SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct flow4);
	__type(value, uint64_t);
} live_flows SEC(".maps");

/* Count the op; add a flow on (active or passive) established, remove it on deletion. */
SEC("sockops")
int sockops_flow_count(bpf_sock_ops_t *ctx)
{
	uint32_t op = ctx->op;
	uint64_t *n = bpf_map_lookup_elem(&events_by_op, &op);

	if (n)
		__sync_fetch_and_add(n, 1);
	if (ctx->family != AF_INET)
		return 0;
	struct flow4 key = {
		.local_ip = ctx->local_ip4,
		.remote_ip = ctx->remote_ip4,
		.local_port = ctx->local_port,
		.remote_port = ctx->remote_port,
		.protocol = ctx->protocol,
	};
	if (op == BPF_SOCK_OPS_CONNECTION_DELETED_CB) {
		bpf_map_delete_elem(&live_flows, &key);
	} else {
		uint64_t now = bpf_ktime_get_ms();
		bpf_map_update_elem(&live_flows, &key, &now, BPF_ANY);
	}
	return 0;
}
