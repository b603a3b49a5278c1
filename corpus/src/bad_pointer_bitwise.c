/* UNSAFE XDP: aligns a packet pointer by masking its address, a bitwise operation on a
 * pointer that no verifier can track. */
#include "common.h"

/* Read the 4-byte word containing byte 14, by rounding the pointer down to 4 bytes. */
SEC("xdp")
int bad_pointer_bitwise(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 *word;

	if (data + 64 > data_end)
		return XDP_PASS;
	word = (__u32 *)((unsigned long)(data + 14) & ~3UL); /* BUG: pointer-arith */
	return *word ? XDP_PASS : XDP_DROP;
}
