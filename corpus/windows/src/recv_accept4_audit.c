/* Windows cgroup/recv_accept4: counts accepted connections per remote IPv4 address (LRU) and logs the accepting process. */
#include "ebpf_windows.h"

struct accept_event {
	uint64_t pid_tgid;
	uint32_t remote_ip;
	uint16_t remote_port;
	uint16_t local_port;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, uint32_t);
	__type(value, uint64_t);
} accepts_by_source SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} accept_events SEC(".maps");

/* On an incoming connection msg_src is the remote side (recv_accept); always proceed. */
SEC("cgroup/recv_accept4")
int recv_accept4_audit(bpf_sock_addr_t *ctx)
{
	uint32_t src = ctx->msg_src_ip4;
	uint64_t *count = bpf_map_lookup_elem(&accepts_by_source, &src);

	if (count) {
		__sync_fetch_and_add(count, 1);
	} else {
		uint64_t one = 1;
		bpf_map_update_elem(&accepts_by_source, &src, &one, BPF_ANY);
	}
	struct accept_event ev = {
		.pid_tgid = bpf_sock_addr_get_current_pid_tgid(ctx),
		.remote_ip = src,
		.remote_port = ctx->msg_src_port,
		.local_port = ctx->user_port,
	};
	bpf_ringbuf_output(&accept_events, &ev, sizeof(ev), 0);
	return BPF_SOCK_ADDR_VERDICT_PROCEED;
}
