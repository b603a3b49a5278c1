/* Windows cgroup/connect4: redirects TCP connections to listed IPv4 services to a local proxy. */
#include "ebpf_windows.h"

struct endpoint4 {
	uint32_t ip;    /* network order */
	uint16_t port;  /* network order */
	uint16_t pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct endpoint4);
	__type(value, struct endpoint4);
} proxy_routes SEC(".maps");

/* Look the destination up; on a hit rewrite user_ip4/user_port and leave the original
 * destination for the proxy with bpf_sock_addr_set_redirect_context (65537). */
SEC("cgroup/connect4")
int connect4_redirect_proxy(bpf_sock_addr_t *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return BPF_SOCK_ADDR_VERDICT_PROCEED;
	struct endpoint4 dst = {.ip = ctx->user_ip4, .port = ctx->user_port, .pad = 0};
	struct endpoint4 *proxy = bpf_map_lookup_elem(&proxy_routes, &dst);
	if (!proxy)
		return BPF_SOCK_ADDR_VERDICT_PROCEED;
	ctx->user_ip4 = proxy->ip;
	ctx->user_port = proxy->port;
	bpf_sock_addr_set_redirect_context(ctx, &dst, sizeof(dst));
	return BPF_SOCK_ADDR_VERDICT_PROCEED;
}
