/* Windows bind: BIND_REDIRECT moves binds of port 80 to 8080 by rewriting the context's sockaddr. */
#include "ebpf_windows.h"

/* Rewrite the port of an IPv4 bind to port 80 and return BIND_REDIRECT. */
SEC("bind")
int bind_redirect_port(bind_md_t *ctx)
{
	if (ctx->operation != BIND_OPERATION_BIND || ctx->protocol != IPPROTO_TCP)
		return BIND_PERMIT;
	if (*(uint16_t *)&ctx->socket_address[0] != AF_INET)
		return BIND_PERMIT;
	if (*(uint16_t *)&ctx->socket_address[2] != bpf_htons(80))
		return BIND_PERMIT;
	*(uint16_t *)&ctx->socket_address[2] = bpf_htons(8080);
	return BIND_REDIRECT;
}
