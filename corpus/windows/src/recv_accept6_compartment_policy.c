/* Windows cgroup/recv_accept6: per-compartment port blocklists in an array of maps. */
#include "ebpf_windows.h"

#define MAX_COMPARTMENTS 8

struct port_set {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, uint16_t);
	__type(value, uint8_t);
} default_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_COMPARTMENTS);
	__type(key, uint32_t);
	__array(values, struct port_set);
} blocked_ports SEC(".maps") = {
	.values = {[0] = &default_ports},
};

/* Reject an incoming IPv6 connection when its local port is in its compartment's blocklist. */
SEC("cgroup/recv_accept6")
int recv_accept6_compartment_policy(bpf_sock_addr_t *ctx)
{
	uint32_t compartment = ctx->compartment_id;

	if (compartment >= MAX_COMPARTMENTS)
		return BPF_SOCK_ADDR_VERDICT_PROCEED;
	void *ports = bpf_map_lookup_elem(&blocked_ports, &compartment);
	if (!ports)
		return BPF_SOCK_ADDR_VERDICT_PROCEED;
	uint16_t port = ctx->user_port;
	if (bpf_map_lookup_elem(ports, &port))
		return BPF_SOCK_ADDR_VERDICT_REJECT;
	return BPF_SOCK_ADDR_VERDICT_PROCEED;
}
