/* XDP: the parser split into bpf-to-bpf calls (static __noinline) returning header offsets. */
#include "common.h"

struct parse_state {
	void *data;
	void *data_end;
	__u32 l3_off;
	__u32 l4_off;
	__u16 l3_proto;
	__u8 l4_proto;
};

/* Returns 0 and fills l3 info, or -1 when the Ethernet header is cut short. */
static __noinline int parse_eth(struct parse_state *st)
{
	struct ethhdr *eth = st->data;

	if ((void *)(eth + 1) > st->data_end)
		return -1;
	st->l3_proto = bpf_ntohs(eth->h_proto);
	st->l3_off = sizeof(*eth);
	return 0;
}

/* Returns 0 and fills l4 info for IPv4 without options, -1 otherwise. */
static __noinline int parse_ipv4(struct parse_state *st)
{
	struct iphdr *ip = st->data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > st->data_end)
		return -1;
	if (ip->ihl != 5)
		return -1;
	st->l4_proto = ip->protocol;
	st->l4_off = st->l3_off + sizeof(*ip);
	return 0;
}

/* Drop IPv4 UDP packets to port 19 (chargen), using the two subprograms above. */
SEC("xdp")
int xdp_subprog_parse(struct xdp_md *ctx)
{
	struct parse_state st = {
		.data = (void *)(long)ctx->data,
		.data_end = (void *)(long)ctx->data_end,
	};
	struct udphdr *udp;

	if (parse_eth(&st) < 0)
		return XDP_DROP;
	if (st.l3_proto != ETH_P_IP || parse_ipv4(&st) < 0)
		return XDP_PASS;
	if (st.l4_proto != IPPROTO_UDP)
		return XDP_PASS;
	udp = st.data + sizeof(struct ethhdr) + sizeof(struct iphdr);
	if ((void *)(udp + 1) > st.data_end)
		return XDP_DROP;
	return udp->dest == bpf_htons(19) ? XDP_DROP : XDP_PASS;
}
