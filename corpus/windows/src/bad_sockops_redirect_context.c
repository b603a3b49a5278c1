/* UNSAFE sockops: calls bpf_sock_addr_set_redirect_context (65537), a cgroup_sock_addr-only helper:
 * sock_ops programs have no program-type helpers, so 65537 is unknown there. */
#include "ebpf_windows.h"

/* Tries to attach a redirect context to an established connection. */
SEC("sockops")
int bad_sockops_redirect_context(bpf_sock_ops_t *ctx)
{
	uint32_t tag = ctx->remote_port;

	bpf_sock_addr_set_redirect_context((bpf_sock_addr_t *)ctx, &tag, sizeof(tag)); /* BUG: unknown-helper */
	return 0;
}
