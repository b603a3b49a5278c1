/* Windows sockops: per-CPU LRU table of IPv6 peers and a ring buffer record of each new passive flow. */
#include "ebpf_windows.h"

struct peer6 {
	uint32_t ip[4];
};

struct flow_record {
	uint32_t remote_ip[4];
	uint32_t remote_port;
	uint32_t local_port;
	uint64_t interface_luid;
	uint64_t cookie;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 2048);
	__type(key, struct peer6);
	__type(value, uint64_t);
} peers6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} flow_records SEC(".maps");

/* For IPv6: count connections per remote address; emit a record on passive establishment. */
SEC("sockops")
int sockops_ipv6_peers(bpf_sock_ops_t *ctx)
{
	if (ctx->family != AF_INET6)
		return 0;
	struct peer6 peer = {{ctx->remote_ip6[0], ctx->remote_ip6[1], ctx->remote_ip6[2], ctx->remote_ip6[3]}};
	uint64_t *seen = bpf_map_lookup_elem(&peers6, &peer);
	if (seen) {
		*seen += 1;
	} else {
		uint64_t one = 1;
		bpf_map_update_elem(&peers6, &peer, &one, BPF_ANY);
	}
	if (ctx->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 0;
	struct flow_record rec;
	for (int i = 0; i < 4; i++)
		rec.remote_ip[i] = peer.ip[i];
	rec.remote_port = ctx->remote_port;
	rec.local_port = ctx->local_port;
	rec.interface_luid = ctx->interface_luid;
	rec.cookie = bpf_get_socket_cookie(ctx);
	bpf_ringbuf_output(&flow_records, &rec, sizeof(rec), 0);
	return 0;
}
