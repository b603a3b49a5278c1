/* UNSAFE XDP: the map value is 16 bytes but the code reads a 24-byte struct from it. */
#include "common.h"

struct small_value {
	__u64 packets;
	__u64 bytes;
};

struct large_view {
	__u64 packets;
	__u64 bytes;
	__u64 drops;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct small_value);
} stats SEC(".maps");

/* Drop when the drop counter (which does not exist in the value) is set. */
SEC("xdp")
int bad_map_value_past_end(struct xdp_md *ctx)
{
	__u32 key = ctx->rx_queue_index & 3;
	struct large_view *v = bpf_map_lookup_elem(&stats, &key);

	if (!v)
		return XDP_PASS;
	if (v->drops) /* BUG: map-value-bounds */
		return XDP_DROP;
	return XDP_PASS;
}
