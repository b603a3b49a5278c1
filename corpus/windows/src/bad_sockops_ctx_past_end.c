/* UNSAFE sockops: reads 8 bytes at offset 64, past the end of the 64-byte bpf_sock_ops context. */
#include "ebpf_windows.h"

/* Reads a "cookie" that is not part of the Windows context (it is in a newer layout elsewhere). */
SEC("sockops")
int bad_sockops_ctx_past_end(bpf_sock_ops_t *ctx)
{
	uint64_t *words = (uint64_t *)ctx;
	uint64_t cookie = words[8]; /* BUG: ctx-access */

	return cookie == 0 ? 0 : 1;
}
