/* XDP: global variables in .data (mutable config), .rodata (constants) and .bss (counters). */
#include "common.h"

const volatile __u32 max_frame_len = 1514;   /* .rodata */
const char drop_reason[] = "oversize";        /* .rodata */
__u32 sample_every = 64;                       /* .data */
__u64 seen_frames;                             /* .bss */
__u64 oversize_frames;                         /* .bss */
__u64 sampled_frames;                          /* .bss */

/* Count frames, drop the oversize ones, and sample every Nth one. */
SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
	__u64 len = ctx->data_end - ctx->data;
	__u64 n = __sync_fetch_and_add(&seen_frames, 1);
	__u32 every = sample_every;

	if (len > max_frame_len) {
		__sync_fetch_and_add(&oversize_frames, 1);
		if (drop_reason[0] != 'o')
			return XDP_ABORTED;
		return XDP_DROP;
	}
	if (every && n % every == 0)
		__sync_fetch_and_add(&sampled_frames, 1);
	return XDP_PASS;
}
