/* Windows bind: denies binds to privileged ports, read from the sockaddr in the context. */
#include "ebpf_windows.h"

/* Deny BIND_OPERATION_BIND to IPv4 ports 1-1023 (sockaddr_in: family, then the port, big-endian). */
SEC("bind")
int bind_deny_low_ports(bind_md_t *ctx)
{
	if (ctx->operation != BIND_OPERATION_BIND)
		return BIND_PERMIT;
	if (ctx->socket_address_length < 8)
		return BIND_PERMIT;
	uint16_t family = *(uint16_t *)&ctx->socket_address[0];
	if (family != AF_INET)
		return BIND_PERMIT;
	uint16_t port = bpf_ntohs(*(uint16_t *)&ctx->socket_address[2]);
	if (port != 0 && port < 1024)
		return BIND_DENY;
	return BIND_PERMIT;
}
