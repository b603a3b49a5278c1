/* XDP: per-tenant allow lists via map-in-map (array of maps and hash of maps, BTF style). */
#include "common.h"

struct allow_list {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __be32);
	__type(value, __u8);
};

struct allow_list tenant0 SEC(".maps");
struct allow_list tenant1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct allow_list);
} tenants SEC(".maps") = {
	.values = { &tenant0, &tenant1 },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 16);
	__type(key, __u32);
	__array(values, struct allow_list);
} tenants_by_vip SEC(".maps");

/* Pick the tenant from the low bit of the destination, then look the source up in its list. */
SEC("xdp")
int xdp_map_in_map(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 tenant, vip;
	void *inner;
	__u8 *ok;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	vip = ip->daddr;
	inner = bpf_map_lookup_elem(&tenants_by_vip, &vip);
	if (!inner) {
		tenant = bpf_ntohl(ip->daddr) & 1;
		inner = bpf_map_lookup_elem(&tenants, &tenant);
		if (!inner)
			return XDP_PASS;
	}
	ok = bpf_map_lookup_elem(inner, &ip->saddr);
	return ok && *ok ? XDP_PASS : XDP_DROP;
}
