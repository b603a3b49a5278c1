/* UNSAFE XDP: a hash lookup result is incremented without a NULL check. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
} per_ifindex SEC(".maps");

/* Count frames per ingress interface; the missing-key case is forgotten. */
SEC("xdp")
int bad_map_null_deref(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	__u64 *count = bpf_map_lookup_elem(&per_ifindex, &ifindex);

	*count += 1; /* BUG: null-deref */
	return XDP_PASS;
}
