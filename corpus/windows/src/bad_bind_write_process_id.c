/* UNSAFE bind: writes the read-only process_id field of bind_md (only socket_address is
 * rewritten by a bind program, for BIND_REDIRECT). */
#include "ebpf_windows.h"

/* Tries to make every bind look as if process 4 (System) made it. */
SEC("bind")
int bad_bind_write_process_id(bind_md_t *ctx)
{
	ctx->process_id = 4; /* BUG: ctx-access */
	return BIND_PERMIT;
}
