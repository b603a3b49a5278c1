/* cgroup_skb ingress: account bytes per protocol family and refuse packets from a blocked
 * IPv4 source list (hash map). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __be32);
	__type(value, __u8);
} blocked_sources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} family_bytes SEC(".maps");

/* Returns 1 to let the packet in, 0 to drop it. The packet starts at the IP header. */
SEC("cgroup_skb/ingress")
int cgroup_skb_ingress(struct __sk_buff *skb)
{
	__u32 family = skb->protocol == bpf_htons(ETH_P_IPV6);
	__u64 *bytes = bpf_map_lookup_elem(&family_bytes, &family);
	struct iphdr ip;

	if (bytes)
		__sync_fetch_and_add(bytes, skb->len);
	if (family)
		return 1;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0)
		return 1;
	if (bpf_map_lookup_elem(&blocked_sources, &ip.saddr))
		return 0;
	return 1;
}
