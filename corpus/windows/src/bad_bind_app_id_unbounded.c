/* UNSAFE bind: reads the application id without checking it against app_id_end (an empty app id
 * has app_id_start == app_id_end). */
#include "ebpf_windows.h"

/* Denies apps whose id starts with a backslash, reading the first byte unchecked. */
SEC("bind")
int bad_bind_app_id_unbounded(bind_md_t *ctx)
{
	uint8_t first = ctx->app_id_start[0]; /* BUG: packet-bounds */

	return first == '\\' ? BIND_DENY : BIND_PERMIT;
}
