/* Windows XDP: per-CPU packet and byte counters per IP protocol (BTF map). */
#include "ebpf_windows.h"

struct counters {
	uint64_t packets;
	uint64_t bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, uint32_t);
	__type(value, struct counters);
} proto_stats SEC(".maps");

/* Count IPv4 packets and bytes in a per-CPU array indexed by the protocol number. */
SEC("xdp")
int xdp_proto_stats_percpu(struct xdp_md *ctx)
{
	void *data = ctx->data;
	void *data_end = ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	uint32_t key = ip->protocol;
	struct counters *c = bpf_map_lookup_elem(&proto_stats, &key);
	if (!c)
		return XDP_PASS;
	c->packets += 1;
	c->bytes += (uint64_t)((char *)data_end - (char *)data);
	return XDP_PASS;
}
