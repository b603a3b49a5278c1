/* XDP: a 480-byte struct on the stack (near the 512-byte limit) filled from the packet. */
#include "common.h"

struct snapshot {
	__u8 head[448];
	__u32 len;
	__u32 proto;
	__u64 hash;
	__u64 reserved[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct snapshot);
} last_snapshot SEC(".maps");

/* Copy the first bytes of the frame into a stack snapshot, hash them, store the snapshot. */
SEC("xdp")
int xdp_big_stack(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct snapshot snap;
	__u32 zero = 0, i;

	__builtin_memset(&snap, 0, sizeof(snap));
	snap.len = data_end - data;
	if (data + 64 > data_end)
		return XDP_PASS;
	if (bpf_xdp_load_bytes(ctx, 0, snap.head, 64) < 0)
		return XDP_PASS;
	snap.proto = ((struct ethhdr *)data)->h_proto;
	for (i = 0; i < 64; i++)
		snap.hash = snap.hash * 31 + snap.head[i];
	bpf_map_update_elem(&last_snapshot, &zero, &snap, BPF_ANY);
	return XDP_PASS;
}
