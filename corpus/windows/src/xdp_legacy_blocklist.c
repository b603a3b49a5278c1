/* Windows XDP: an IPv4 source blocklist in a legacy SEC("maps") hash (eBPF for Windows' struct bpf_map). */
#include "ebpf_windows.h"

SEC("maps")
struct bpf_map blocked_sources = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(uint32_t),
	.value_size = sizeof(uint64_t),
	.max_entries = 1024,
};

SEC("maps")
struct bpf_map drop_count = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(uint32_t),
	.value_size = sizeof(uint64_t),
	.max_entries = 1,
};

/* Drop IPv4 packets whose source is in the blocklist; count hits per source and in total. */
SEC("xdp")
int xdp_legacy_blocklist(struct xdp_md *ctx)
{
	void *data = ctx->data;
	void *data_end = ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	uint32_t src = ip->saddr;
	uint64_t *hits = bpf_map_lookup_elem(&blocked_sources, &src);
	if (!hits)
		return XDP_PASS;
	__sync_fetch_and_add(hits, 1);
	uint32_t zero = 0;
	uint64_t *total = bpf_map_lookup_elem(&drop_count, &zero);
	if (total)
		__sync_fetch_and_add(total, 1);
	return XDP_DROP;
}
