/* XDP: parse the Ethernet header and drop every frame that is neither IPv4, IPv6 nor ARP. */
#include "common.h"

/* Keep IPv4, IPv6 and ARP; drop the rest (and runt frames). */
SEC("xdp")
int xdp_eth_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):
	case bpf_htons(ETH_P_IPV6):
	case bpf_htons(ETH_P_ARP):
		return XDP_PASS;
	default:
		return XDP_DROP;
	}
}
