/* UNSAFE XDP: the IPv4 header check is one byte short, then the destination address (the
 * header's last four bytes) is read. */
#include "common.h"

/* Drop traffic to 10.0.0.1. The check proves 19 bytes of the IP header, not 20. */
SEC("xdp")
int bad_xdp_off_by_one(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)ip + sizeof(*ip) - 1 > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->daddr == bpf_htonl(0x0a000001)) /* BUG: packet-bounds */
		return XDP_DROP;
	return XDP_PASS;
}
