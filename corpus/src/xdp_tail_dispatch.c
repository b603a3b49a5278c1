/* XDP: a dispatcher tail-calls per-protocol handlers through a BTF prog_array; three programs
 * in the one "xdp" section. */
#include "common.h"

enum { SLOT_IPV4 = 0, SLOT_IPV6 = 1 };

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} handlers SEC(".maps");

/* Choose a handler from the EtherType; pass when the slot is empty. */
SEC("xdp")
int xdp_tail_dispatch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		bpf_tail_call(ctx, &handlers, SLOT_IPV4);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		bpf_tail_call(ctx, &handlers, SLOT_IPV6);
	return XDP_PASS;
}

/* IPv4 handler: drop fragments. */
SEC("xdp")
int xdp_handle_ipv4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	if (ip->frag_off & bpf_htons(0x3fff))
		return XDP_DROP;
	return XDP_PASS;
}

/* IPv6 handler: drop packets whose hop limit is spent. */
SEC("xdp")
int xdp_handle_ipv6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

	if ((void *)(ip6 + 1) > data_end)
		return XDP_DROP;
	return ip6->hop_limit <= 1 ? XDP_DROP : XDP_PASS;
}
