/* UNSAFE XDP: inline assembly reads r7 at entry, before anything has written it. */
#include "common.h"

/* The callee-saved register r7 holds no value at program start. */
SEC("xdp")
int bad_uninit_register(struct xdp_md *ctx)
{
	__u64 v;

	asm volatile("%0 = r7" : "=r"(v)); /* BUG: uninit-register */
	return v ? XDP_PASS : XDP_DROP;
}
