// Bit-masking code that needs known bits: after `v &= 0xf0` and `v > 0xe0`, v is exactly
// 0xf0 (its low nibble is known zero), so `(v >> 4) - 15` is 0 and the read is of buf[0].
// Intervals see v in [0xe1, 0xf0] and the index in [-1, 0]: a read below the buffer.
// The mask is applied in inline asm so that the compiler cannot fold it away.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_nibble_index(struct xdp_md *ctx)
{
	volatile char buf[16];
	__u64 v = ctx->ingress_ifindex;
	long idx;

	for (int i = 0; i < 16; i++)
		buf[i] = i;
	asm volatile("%0 &= 0xf0" : "+r"(v));
	if (v <= 0xe0)
		return XDP_PASS;
	idx = (long)(v >> 4) - 15;
	return buf[idx] == 0 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
