/* XDP: report every IPv6 ICMP packet to user space through a ring buffer. */
#include "common.h"

struct event {
	__u64 len;
	__u8 src[16];
	__u8 icmp_type;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* Reserve, fill, submit; drop the event when the ring is full. */
SEC("xdp")
int xdp_ringbuf_events(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	__u8 *icmp_type = (void *)(ip6 + 1);
	struct event *ev;

	if ((void *)(icmp_type + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	if (ip6->nexthdr != 58 /* IPPROTO_ICMPV6 */)
		return XDP_PASS;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return XDP_PASS;
	ev->len = data_end - data;
	__builtin_memcpy(ev->src, &ip6->saddr, 16);
	ev->icmp_type = *icmp_type;
	bpf_ringbuf_submit(ev, 0);
	return XDP_PASS;
}
