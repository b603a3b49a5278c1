/* UNSAFE XDP: reads the IPv4 protocol byte without comparing against data_end first. */
#include "ebpf_windows.h"

/* Drops UDP, trusting the packet to hold an Ethernet and an IPv4 header. */
SEC("xdp")
int bad_xdp_no_bounds(struct xdp_md *ctx)
{
	struct iphdr *ip = (void *)((char *)ctx->data + sizeof(struct ethhdr));

	if (ip->protocol == IPPROTO_UDP) /* BUG: packet-bounds */
		return XDP_DROP;
	return XDP_PASS;
}
