/* XDP: parse IPv6 and count TCP segments per destination port bucket in a per-CPU array. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} tcp6_ports SEC(".maps");

/* Count IPv6/TCP packets in 256 buckets keyed by the low byte of the destination port. */
SEC("xdp")
int xdp_ipv6_tcp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6;
	struct tcphdr *tcp;
	__u32 bucket;
	__u64 *count;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > data_end)
		return XDP_DROP;
	if (ip6->nexthdr != IPPROTO_TCP)
		return XDP_PASS;
	tcp = (void *)(ip6 + 1);
	if ((void *)(tcp + 1) > data_end)
		return XDP_DROP;
	bucket = bpf_ntohs(tcp->dest) & 0xff;
	count = bpf_map_lookup_elem(&tcp6_ports, &bucket);
	if (count)
		*count += 1;
	return XDP_PASS;
}
