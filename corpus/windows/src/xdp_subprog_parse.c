/* Windows XDP: header parsing in a separate BPF function (bpf-to-bpf call). */
#include "ebpf_windows.h"

/* Return the L4 protocol of an IPv4 or IPv6 packet, or -1 when the headers do not fit. */
static __attribute__((noinline)) int l4_protocol(void *data, void *data_end)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return -1;
		return ip->protocol;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return -1;
		return ip6->nexthdr;
	}
	return 0;
}

/* Drop truncated IP packets and ICMP; pass everything else. */
SEC("xdp")
int xdp_subprog_parse(struct xdp_md *ctx)
{
	int proto = l4_protocol(ctx->data, ctx->data_end);

	if (proto < 0 || proto == IPPROTO_ICMP)
		return XDP_DROP;
	return XDP_PASS;
}
