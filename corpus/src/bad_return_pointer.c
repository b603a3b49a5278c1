/* UNSAFE XDP: returns the packet pointer instead of an action code. */
#include "common.h"

/* Returns data + 2 where an XDP action was meant. */
SEC("xdp")
int bad_return_pointer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + 1 > data_end)
		return XDP_DROP;
	return (long)(data + XDP_PASS); /* BUG: exit-value */
}
