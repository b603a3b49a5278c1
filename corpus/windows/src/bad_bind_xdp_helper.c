/* UNSAFE bind: calls bpf_xdp_adjust_head, an XDP-only helper: program-type helpers are numbered per
 * type from 65536 and bind defines none, so helper 65536 does not exist for bind programs. */
#include "ebpf_windows.h"

/* Tries to "skip" the first 8 bytes of the context with the XDP helper. */
SEC("bind")
int bad_bind_xdp_helper(bind_md_t *ctx)
{
	if (bpf_xdp_adjust_head((struct xdp_md *)ctx, 8) < 0) /* BUG: unknown-helper */
		return BIND_DENY;
	return BIND_PERMIT;
}
