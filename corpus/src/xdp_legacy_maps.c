/* XDP: per-protocol counters in maps declared the legacy way (SEC("maps"), struct bpf_map_def). */
#include "common.h"

struct bpf_map_def SEC("maps") proto_count = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 256,
};

struct bpf_map_def SEC("maps") src_bytes = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__be32),
	.value_size = sizeof(__u64),
	.max_entries = 4096,
};

/* Count IPv4 packets per protocol number and bytes per source address. */
SEC("xdp")
int xdp_legacy_maps(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 proto;
	__u64 *count, len = data_end - data;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	proto = ip->protocol;
	count = bpf_map_lookup_elem(&proto_count, &proto);
	if (count)
		__sync_fetch_and_add(count, 1);
	count = bpf_map_lookup_elem(&src_bytes, &ip->saddr);
	if (count)
		__sync_fetch_and_add(count, len);
	else
		bpf_map_update_elem(&src_bytes, &ip->saddr, &len, BPF_NOEXIST);
	return XDP_PASS;
}
