/* UNSAFE cgroup/connect6: passes a map key whose last 4 bytes were never written to
 * bpf_map_lookup_elem (the helper reads the whole 24-byte key). */
#include "ebpf_windows.h"

struct endpoint6 {
	uint32_t ip[4];
	uint32_t port;
	uint32_t scope;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct endpoint6);
	__type(value, uint32_t);
} denied6 SEC(".maps");

/* Fills address and port but forgets the scope field of the key. */
SEC("cgroup/connect6")
int bad_connect6_uninit_key(bpf_sock_addr_t *ctx)
{
	struct endpoint6 key;

	key.ip[0] = ctx->user_ip6[0];
	key.ip[1] = ctx->user_ip6[1];
	key.ip[2] = ctx->user_ip6[2];
	key.ip[3] = ctx->user_ip6[3];
	key.port = ctx->user_port;
	if (bpf_map_lookup_elem(&denied6, &key)) /* BUG: uninit-stack */
		return BPF_SOCK_ADDR_VERDICT_REJECT;
	return BPF_SOCK_ADDR_VERDICT_PROCEED;
}
