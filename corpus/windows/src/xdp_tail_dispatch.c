/* Windows XDP: a dispatcher tail-calls per-family handlers through a BTF prog_array; three
 * programs in the one "xdp" section. */
#include "ebpf_windows.h"

enum { SLOT_IPV4 = 0, SLOT_IPV6 = 1 };

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, uint32_t);
	__type(value, uint32_t);
} family_handlers SEC(".maps");

/* Pick the handler from the EtherType; pass when the slot is empty. */
SEC("xdp")
int xdp_tail_dispatch(struct xdp_md *ctx)
{
	struct ethhdr *eth = ctx->data;

	if ((void *)(eth + 1) > ctx->data_end)
		return XDP_DROP;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		bpf_tail_call(ctx, &family_handlers, SLOT_IPV4);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		bpf_tail_call(ctx, &family_handlers, SLOT_IPV6);
	return XDP_PASS;
}

/* IPv4 handler: drop packets with a TTL of zero or a header shorter than 20 bytes. */
SEC("xdp")
int xdp_handle_ipv4(struct xdp_md *ctx)
{
	void *data_end = ctx->data_end;
	struct iphdr *ip = (void *)((char *)ctx->data + sizeof(struct ethhdr));

	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	if (ip->ttl == 0 || ip->ihl < 5)
		return XDP_DROP;
	return XDP_PASS;
}

/* IPv6 handler: drop packets to multicast destinations (ff00::/8). */
SEC("xdp")
int xdp_handle_ipv6(struct xdp_md *ctx)
{
	void *data_end = ctx->data_end;
	struct ipv6hdr *ip6 = (void *)((char *)ctx->data + sizeof(struct ethhdr));

	if ((void *)(ip6 + 1) > data_end)
		return XDP_DROP;
	return ip6->daddr[0] == 0xff ? XDP_DROP : XDP_PASS;
}
