/* UNSAFE XDP: a 64-byte stack buffer indexed by a packet byte masked to 0..127, so the write
 * may land outside the buffer (and below the frame). */
#include "common.h"

/* Build a small bitmap of seen byte values; the mask should have been 63. */
SEC("xdp")
int bad_stack_var_offset(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 seen[64];
	__u8 *p = data;
	__u32 idx;

	if ((void *)(p + 2) > data_end)
		return XDP_PASS;
	__builtin_memset(seen, 0, sizeof(seen));
	idx = p[0] & 127;
	seen[idx] = 1; /* BUG: stack-bounds */
	return seen[p[1] & 63] ? XDP_DROP : XDP_PASS;
}
