/* XDP, -mcpu=v4: signed division and modulo (sdiv/smod) on signed values read from a UDP
 * payload, e.g. a sensor reading averaged over a sample count carried in the packet. */
#include "common.h"

struct reading {
	__s32 total;
	__s16 samples;
	__s16 bias;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __s64);
} averages SEC(".maps");

/* average = total / samples and slot = bias % 64 (both signed); drop when samples == 0. */
SEC("xdp")
int xdp_v4_sdiv(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct reading *r = data + sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr);
	__s64 avg, *slot;
	__s32 rem;
	__u32 key;

	if ((void *)(r + 1) > data_end)
		return XDP_PASS;
	if (r->samples == 0)
		return XDP_DROP;
	avg = (__s64)r->total / (__s64)r->samples;
	rem = (__s32)r->bias % (__s32)r->samples;
	key = (__u32)(rem < 0 ? -rem : rem) & 63;
	slot = bpf_map_lookup_elem(&averages, &key);
	if (slot)
		*slot = avg;
	return XDP_PASS;
}
