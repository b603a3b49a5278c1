/* Windows XDP: IPv6 hop-limit enforcement with an in-place rewrite. */
#include "ebpf_windows.h"

/* Drop IPv6 packets whose hop limit is spent, decrement it on the others. */
SEC("xdp")
int xdp_ipv6_hop_limit(struct xdp_md *ctx)
{
	void *data = ctx->data;
	void *data_end = ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);

	if ((void *)(ip6 + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	if (ip6->hop_limit <= 1)
		return XDP_DROP;
	ip6->hop_limit--;
	return XDP_PASS;
}
