/* UNSAFE XDP: indexes an 8-slot array inside a map value with a whole packet byte (0..255). */
#include "common.h"

struct dscp_table {
	__u64 hits[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dscp_table);
} dscp_hits SEC(".maps");

/* Count by the top three bits of the TOS byte; the shift was forgotten. */
SEC("xdp")
int bad_map_index_unmasked(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct dscp_table *t;
	__u32 zero = 0;

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	t = bpf_map_lookup_elem(&dscp_hits, &zero);
	if (!t)
		return XDP_PASS;
	t->hits[ip->tos] += 1; /* BUG: map-value-bounds */
	return XDP_PASS;
}
