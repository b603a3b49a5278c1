/* UNSAFE cgroup/connect4: dereferences the result of bpf_map_lookup_elem without a NULL check. */
#include "ebpf_windows.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, uint32_t);
	__type(value, uint32_t);
} verdicts SEC(".maps");

/* Returns the verdict stored for the destination address, assuming one is always there. */
SEC("cgroup/connect4")
int bad_connect4_unchecked_lookup(bpf_sock_addr_t *ctx)
{
	uint32_t dst = ctx->user_ip4;
	uint32_t *verdict = bpf_map_lookup_elem(&verdicts, &dst);

	return *verdict ? BPF_SOCK_ADDR_VERDICT_REJECT : BPF_SOCK_ADDR_VERDICT_PROCEED; /* BUG: null-deref */
}
