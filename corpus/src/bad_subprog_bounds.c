/* UNSAFE XDP: the entry program is fine, but its bpf-to-bpf helper reads a UDP port from a
 * packet pointer it only checked for the IP header. */
#include "common.h"

/* Returns the UDP destination port behind an option-less IPv4 header (host order). */
static __noinline int udp_dport(struct iphdr *ip, void *data_end)
{
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(ip + 1) > data_end)
		return -1;
	return bpf_ntohs(udp->dest); /* BUG: packet-bounds */
}

/* Drop NTP (UDP port 123). */
SEC("xdp")
int bad_subprog_bounds(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	return udp_dport(ip, data_end) == 123 ? XDP_DROP : XDP_PASS;
}
