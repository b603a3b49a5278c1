/* XDP: walk the IPv4 option list (packet-dependent loop bound, capped) and drop source routing. */
#include "common.h"

#define MAX_OPTION_STEPS 20

/* Options end at ihl*4; each step moves forward by at least one byte, at most 20 steps. */
SEC("xdp")
int xdp_ipv4_option_walk(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u8 *opt;
	__u32 opt_len, pos = 0;
	int step;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	opt_len = ip->ihl * 4;
	if (opt_len <= sizeof(*ip))
		return XDP_PASS;
	opt_len -= sizeof(*ip);
	opt = (__u8 *)(ip + 1);
	for (step = 0; step < MAX_OPTION_STEPS && pos < opt_len; step++) {
		__u8 *cur = opt + (pos & 63);
		__u8 kind, len;

		if ((void *)(cur + 2) > data_end)
			return XDP_DROP;
		kind = cur[0];
		if (kind == IPOPT_END)
			break;
		if (kind == IPOPT_NOOP) {
			pos++;
			continue;
		}
		if (kind == IPOPT_LSRR || kind == IPOPT_SSRR)
			return XDP_DROP;
		len = cur[1];
		if (len < 2)
			return XDP_DROP;
		pos += len;
	}
	return XDP_PASS;
}
