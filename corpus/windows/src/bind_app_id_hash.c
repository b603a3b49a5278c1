/* Windows bind: hashes the application id (bounded by app_id_end, like packet data) and denies listed apps. */
#include "ebpf_windows.h"

#define MAX_APP_ID 128

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, uint32_t);
	__type(value, uint8_t);
} denied_apps SEC(".maps");

/* FNV-1a over at most 128 bytes of the app id; deny when the hash is in the map. */
SEC("bind")
int bind_app_id_hash(bind_md_t *ctx)
{
	uint8_t *p = ctx->app_id_start;
	uint8_t *end = ctx->app_id_end;
	uint32_t hash = 2166136261u;

	for (int i = 0; i < MAX_APP_ID; i++) {
		if (p + i + 1 > end)
			break;
		hash = (hash ^ p[i]) * 16777619u;
	}
	if (bpf_map_lookup_elem(&denied_apps, &hash))
		return BIND_DENY;
	return BIND_PERMIT;
}
