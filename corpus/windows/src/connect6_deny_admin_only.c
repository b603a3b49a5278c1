/* Windows cgroup/connect6: IPv6 destinations in a policy map are reserved to administrators. */
#include "ebpf_windows.h"

struct endpoint6 {
	uint32_t ip[4];
	uint16_t port;
	uint16_t pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct endpoint6);
	__type(value, uint32_t);
} admin_only SEC(".maps");

/* Reject a connection to a listed address/port unless bpf_is_current_admin(ctx) says yes. */
SEC("cgroup/connect6")
int connect6_deny_admin_only(bpf_sock_addr_t *ctx)
{
	struct endpoint6 key;

	key.ip[0] = ctx->user_ip6[0];
	key.ip[1] = ctx->user_ip6[1];
	key.ip[2] = ctx->user_ip6[2];
	key.ip[3] = ctx->user_ip6[3];
	key.port = ctx->user_port;
	key.pad = 0;
	if (!bpf_map_lookup_elem(&admin_only, &key))
		return BPF_SOCK_ADDR_VERDICT_PROCEED;
	if (bpf_is_current_admin(ctx) > 0)
		return BPF_SOCK_ADDR_VERDICT_PROCEED;
	return BPF_SOCK_ADDR_VERDICT_REJECT;
}
