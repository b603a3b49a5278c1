/* Windows cgroup/connect4: pushes every UDP destination with the caller's logon id into a queue map. */
#include "ebpf_windows.h"

struct connect_event {
	uint64_t logon_id;
	uint32_t ip;
	uint16_t port;
	uint16_t family;
};

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 512);
	__type(value, struct connect_event);
} connect_log SEC(".maps");

/* Record (logon id, address, port) with bpf_map_push_elem; the oldest entry goes when full. */
SEC("cgroup/connect4")
int connect4_queue_log(bpf_sock_addr_t *ctx)
{
	struct connect_event ev;

	if (ctx->protocol != IPPROTO_UDP)
		return BPF_SOCK_ADDR_VERDICT_PROCEED;
	ev.logon_id = bpf_get_current_logon_id(ctx);
	ev.ip = ctx->user_ip4;
	ev.port = ctx->user_port;
	ev.family = (uint16_t)ctx->family;
	bpf_map_push_elem(&connect_log, &ev, BPF_EXIST);
	return BPF_SOCK_ADDR_VERDICT_PROCEED;
}
