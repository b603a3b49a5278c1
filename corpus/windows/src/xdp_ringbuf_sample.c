/* Windows XDP: samples one packet in 64 into a ring buffer (bpf_ringbuf_output, helper 11). */
#include "ebpf_windows.h"

struct sample {
	uint64_t time_ns;
	uint32_t ifindex;
	uint32_t length;
	uint8_t head[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} samples SEC(".maps");

/* Copy the first 16 bytes of a randomly chosen packet with its length and ingress interface. */
SEC("xdp")
int xdp_ringbuf_sample(struct xdp_md *ctx)
{
	uint8_t *data = ctx->data;
	uint8_t *data_end = ctx->data_end;
	struct sample s;

	if (bpf_get_prandom_u32() % 64 != 0)
		return XDP_PASS;
	if (data + sizeof(s.head) > data_end)
		return XDP_PASS;
	s.time_ns = bpf_ktime_get_boot_ns();
	s.ifindex = ctx->ingress_ifindex;
	s.length = (uint32_t)(data_end - data);
	__builtin_memcpy(s.head, data, sizeof(s.head));
	bpf_ringbuf_output(&samples, &s, sizeof(s), 0);
	return XDP_PASS;
}
