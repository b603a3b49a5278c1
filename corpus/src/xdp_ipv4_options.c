/* XDP: IPv4 with a variable-length header (options), then UDP; drop a blocked destination port. */
#include "common.h"

const volatile __u16 blocked_port = 9999;

/* Skip the IPv4 options using ihl and inspect the UDP header behind them. */
SEC("xdp")
int xdp_ipv4_options(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 hdr_len;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	hdr_len = ip->ihl * 4;
	if (hdr_len < sizeof(*ip))
		return XDP_DROP;
	if (ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	udp = (void *)ip + hdr_len;
	if ((void *)(udp + 1) > data_end)
		return XDP_DROP;
	if (udp->dest == bpf_htons(blocked_port))
		return XDP_DROP;
	return XDP_PASS;
}
