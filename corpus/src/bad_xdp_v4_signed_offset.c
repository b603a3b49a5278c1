/* UNSAFE XDP, -mcpu=v4: a signed 8-bit offset from the packet (loaded with ldsx) is added to
 * a header pointer; only the upper end is checked, a negative offset reads before the packet. */
#include "common.h"

struct jump_hdr {
	__s8 rel;
	__u8 pad[3];
};

/* Follow a relative pointer inside the frame and look at the byte it names. */
SEC("xdp")
int bad_xdp_v4_signed_offset(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct jump_hdr *j = data + sizeof(struct ethhdr);
	__u8 *target;

	if ((void *)(j + 1) > data_end)
		return XDP_PASS;
	target = (__u8 *)j + j->rel;
	if ((void *)(target + 1) > data_end)
		return XDP_PASS;
	return *target ? XDP_PASS : XDP_DROP; /* BUG: packet-bounds */
}
