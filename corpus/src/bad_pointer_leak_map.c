/* UNSAFE XDP: stores the packet pointer itself into an array map, leaking a kernel address
 * to user space. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} debug_slot SEC(".maps");

/* Meant to store the frame length; stores the data pointer instead. */
SEC("xdp")
int bad_pointer_leak_map(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	__u32 zero = 0;
	__u64 *slot = bpf_map_lookup_elem(&debug_slot, &zero);

	if (!slot)
		return XDP_PASS;
	*slot = (__u64)(long)data; /* BUG: pointer-leak */
	return XDP_PASS;
}
