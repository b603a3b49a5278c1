/* UNSAFE XDP: the loop bound comes from a map value and is never capped, so termination
 * within the instruction budget cannot be proven. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rounds SEC(".maps");

/* Mix random numbers `rounds` times to pick a verdict. */
SEC("xdp")
int bad_loop_map_bound(struct xdp_md *ctx)
{
	__u32 zero = 0, i, acc = 0;
	__u32 *n = bpf_map_lookup_elem(&rounds, &zero);

	if (!n)
		return XDP_PASS;
	for (i = 0; i < *n; i++) /* BUG: termination */
		acc ^= bpf_get_prandom_u32();
	return acc & 1 ? XDP_PASS : XDP_DROP;
}
