/* XDP: redirect UDP traffic for one port to another interface (ifindex in .rodata). */
#include "common.h"

const volatile __u32 target_ifindex = 2;
const volatile __u16 redirect_port = 4789;

/* Send matching IPv4/UDP packets out of target_ifindex; pass the rest. */
SEC("xdp")
int xdp_udp_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	if (udp->dest != bpf_htons(redirect_port))
		return XDP_PASS;
	return bpf_redirect(target_ifindex, 0);
}
