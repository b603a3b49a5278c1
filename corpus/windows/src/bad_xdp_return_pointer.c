/* UNSAFE XDP: returns the packet pointer instead of an XDP action code. */
#include "ebpf_windows.h"

/* Meant to return XDP_PASS but returns data + XDP_PASS. */
SEC("xdp")
int bad_xdp_return_pointer(struct xdp_md *ctx)
{
	char *data = ctx->data;

	if (data + 1 > (char *)ctx->data_end)
		return XDP_DROP;
	return (int)(long)(data + XDP_PASS); /* BUG: exit-value */
}
