/* XDP: tail calls through a prog_array declared the legacy way, plus a legacy counter array. */
#include "common.h"

struct bpf_map_def SEC("maps") jump_table = {
	.type = BPF_MAP_TYPE_PROG_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 8,
};

struct bpf_map_def SEC("maps") misses = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 1,
};

/* Jump to the program for the IP protocol number (mod 8); count misses. */
SEC("xdp")
int xdp_legacy_tailcall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	__u32 zero = 0;
	__u64 *miss;

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	bpf_tail_call(ctx, &jump_table, ip->protocol & 7);
	miss = bpf_map_lookup_elem(&misses, &zero);
	if (miss)
		*miss += 1;
	return XDP_PASS;
}

/* A target for the table: drop everything. */
SEC("xdp")
int xdp_legacy_drop_all(struct xdp_md *ctx)
{
	return XDP_DROP;
}
