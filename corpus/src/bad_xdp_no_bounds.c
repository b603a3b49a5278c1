/* UNSAFE XDP: reads the EtherType without any check against data_end. */
#include "common.h"

/* Pass IPv4, drop the rest, but the Ethernet header is never bounds-checked. */
SEC("xdp")
int bad_xdp_no_bounds(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) /* BUG: packet-bounds */
		return XDP_PASS;
	return XDP_DROP;
}
