/* Windows XDP: a parser that drops UDP datagrams to the discard port and passes the rest. */
#include "ebpf_windows.h"

#define DISCARD_PORT 9

/* Parse Ethernet, IPv4 (with options) and UDP; drop UDP to port 9. */
SEC("xdp")
int xdp_drop_udp_port(struct xdp_md *ctx)
{
	void *data = ctx->data;
	void *data_end = ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	if (ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	uint32_t hlen = ip->ihl * 4;
	if (hlen < sizeof(*ip))
		return XDP_DROP;
	struct udphdr *udp = (void *)ip + hlen;
	if ((void *)(udp + 1) > data_end)
		return XDP_DROP;
	return udp->dest == bpf_htons(DISCARD_PORT) ? XDP_DROP : XDP_PASS;
}
