/* UNSAFE XDP: an address stored as a number in a map is cast back to a pointer and read. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} saved_addr SEC(".maps");

/* Pretends a u64 from a map is still a valid pointer. */
SEC("xdp")
int bad_scalar_as_pointer(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *addr = bpf_map_lookup_elem(&saved_addr, &zero);

	if (!addr || !*addr)
		return XDP_PASS;
	return *(__u8 *)(long)*addr ? XDP_PASS : XDP_DROP; /* BUG: invalid-memory */
}
