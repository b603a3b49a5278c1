/* UNSAFE cgroup/recv_accept4: stores the context pointer into a map value, leaking a kernel
 * address to user mode. */
#include "ebpf_windows.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, uint32_t);
	__type(value, uint64_t);
} last_context SEC(".maps");

/* Remembers "which connection" by its context address. */
SEC("cgroup/recv_accept4")
int bad_recv_accept4_pointer_in_map(bpf_sock_addr_t *ctx)
{
	uint32_t zero = 0;
	uint64_t *slot = bpf_map_lookup_elem(&last_context, &zero);

	if (slot)
		*slot = (uint64_t)(long)ctx; /* BUG: pointer-leak */
	return BPF_SOCK_ADDR_VERDICT_PROCEED;
}
