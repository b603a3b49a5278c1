/* UNSAFE XDP: offsets a maybe-NULL map value pointer before checking it for NULL. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64[4]);
} queue_counters SEC(".maps");

/* Bump counter 2 of the entry for this queue. */
SEC("xdp")
int bad_null_pointer_arith(struct xdp_md *ctx)
{
	__u32 key = ctx->rx_queue_index;
	__u64 *base = bpf_map_lookup_elem(&queue_counters, &key);
	__u64 *third = base + 2; /* BUG: pointer-arith */

	asm volatile("" : "+r"(third));
	if (!base)
		return XDP_PASS;
	*third += 1;
	return XDP_PASS;
}
