/* XDP: drop TCP segments with impossible flag combinations; count drops per source in a hash. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __be32);
	__type(value, __u64);
} bad_flag_sources SEC(".maps");

static __always_inline int bogus_flags(const struct tcphdr *tcp)
{
	if (tcp->syn && tcp->fin)
		return 1;
	if (tcp->syn && tcp->rst)
		return 1;
	if (!tcp->ack && !tcp->syn && !tcp->rst)
		return 1;
	return 0;
}

/* IPv4/TCP with SYN+FIN, SYN+RST or no control flag at all is dropped and counted. */
SEC("xdp")
int xdp_tcp_flags(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u64 one = 1, *count;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP || ip->ihl != 5)
		return XDP_PASS;
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > data_end)
		return XDP_DROP;
	if (!bogus_flags(tcp))
		return XDP_PASS;
	count = bpf_map_lookup_elem(&bad_flag_sources, &ip->saddr);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&bad_flag_sources, &ip->saddr, &one, BPF_NOEXIST);
	return XDP_DROP;
}
