/* Windows XDP: rewrites packets in place and bounces them (XDP_TX). */
#include "ebpf_windows.h"

#define ECHO_PORT 7

/* Answer UDP echo requests: swap MAC addresses, IPv4 addresses and UDP ports, then XDP_TX. */
SEC("xdp")
int xdp_udp_echo_tx(struct xdp_md *ctx)
{
	void *data = ctx->data;
	void *data_end = ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	if (udp->dest != bpf_htons(ECHO_PORT))
		return XDP_PASS;

	uint8_t mac[6];
	__builtin_memcpy(mac, eth->h_dest, 6);
	__builtin_memcpy(eth->h_dest, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, mac, 6);
	uint32_t addr = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = addr;
	uint16_t port = udp->source;
	udp->source = udp->dest;
	udp->dest = port;
	udp->check = 0; /* optional for UDP over IPv4 */
	return XDP_TX;
}
