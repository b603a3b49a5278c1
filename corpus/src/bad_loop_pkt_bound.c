/* UNSAFE XDP: the loop count is a 32-bit field of the packet with no upper limit, so the
 * number of iterations (up to 2^32) cannot be bounded. */
#include "common.h"

struct rounds_hdr {
	__be32 count;
};

__u32 mixed;

/* Spin `count` times over random numbers; a hostile packet decides how long. */
SEC("xdp")
int bad_loop_pkt_bound(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct rounds_hdr *h = data + sizeof(struct ethhdr);
	__u32 n, i, acc = 0;

	if ((void *)(h + 1) > data_end)
		return XDP_PASS;
	n = bpf_ntohl(h->count);
	for (i = 0; i != n; i++) /* BUG: termination */
		acc += bpf_get_prandom_u32() >> 3;
	mixed = acc;
	return XDP_PASS;
}
