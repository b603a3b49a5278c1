/* Windows bind: only processes in an allowlist may bind; denials are counted per process. */
#include "ebpf_windows.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, uint64_t);
	__type(value, uint32_t);
} allowed_processes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, uint64_t);
	__type(value, uint64_t);
} denials SEC(".maps");

/* Permit a bind when the process id is allowed (value 1); otherwise count and deny. */
SEC("bind")
int bind_process_allowlist(bind_md_t *ctx)
{
	uint64_t pid = ctx->process_id;

	if (ctx->operation != BIND_OPERATION_BIND)
		return BIND_PERMIT;
	uint32_t *allowed = bpf_map_lookup_elem(&allowed_processes, &pid);
	if (allowed && *allowed == 1)
		return BIND_PERMIT;
	uint64_t *count = bpf_map_lookup_elem(&denials, &pid);
	if (count) {
		__sync_fetch_and_add(count, 1);
	} else {
		uint64_t one = 1;
		bpf_map_update_elem(&denials, &pid, &one, BPF_NOEXIST);
	}
	return BIND_DENY;
}
