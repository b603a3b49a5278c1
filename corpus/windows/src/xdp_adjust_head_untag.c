/* Windows XDP: removes a 4-byte tag after the Ethernet header with bpf_xdp_adjust_head (65536). */
#include "ebpf_windows.h"

#define ETH_P_TAG 0x88B5 /* IEEE local experimental EtherType */

/* Strip a 4-byte tag: save the MACs, move the start by 4, re-check bounds, write them back. */
SEC("xdp")
int xdp_adjust_head_untag(struct xdp_md *ctx)
{
	void *data = ctx->data;
	void *data_end = ctx->data_end;
	struct ethhdr *eth = data;

	if ((char *)data + sizeof(*eth) + 4 > (char *)data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_TAG))
		return XDP_PASS;
	uint8_t macs[12];
	__builtin_memcpy(macs, eth, 12);
	uint16_t inner = *(uint16_t *)((char *)data + sizeof(*eth) + 2);

	if (bpf_xdp_adjust_head(ctx, 4) < 0)
		return XDP_DROP;
	/* the helper moved the packet: the old pointers are stale, load them again */
	data = ctx->data;
	data_end = ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(eth, macs, 12);
	eth->h_proto = inner;
	return XDP_PASS;
}
