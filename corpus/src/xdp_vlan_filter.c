/* XDP: walk up to two stacked VLAN tags (constant-bound loop) and drop blocked VLAN ids. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} blocked_vlans SEC(".maps");

/* Drop frames whose innermost VLAN id is marked in blocked_vlans. */
SEC("xdp")
int xdp_vlan_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *cursor = eth + 1;
	__u16 proto;
	__u32 vid = 0;
	int depth;

	if (cursor > data_end)
		return XDP_DROP;
	proto = eth->h_proto;
#pragma unroll
	for (depth = 0; depth < 2; depth++) {
		struct vlan_tag *tag = cursor;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(tag + 1) > data_end)
			return XDP_DROP;
		vid = bpf_ntohs(tag->tci) & 0x0fff;
		proto = tag->next_proto;
		cursor = tag + 1;
	}
	if (vid) {
		__u8 *blocked = bpf_map_lookup_elem(&blocked_vlans, &vid);

		if (blocked && *blocked)
			return XDP_DROP;
	}
	return XDP_PASS;
}
