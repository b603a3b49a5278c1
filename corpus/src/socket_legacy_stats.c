/* Socket filter: per-protocol byte counts in a legacy per-CPU hash and a legacy array. */
#include "common.h"

struct bpf_map_def SEC("maps") bytes_by_ethertype = {
	.type = BPF_MAP_TYPE_PERCPU_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 64,
};

struct bpf_map_def SEC("maps") pkt_types = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 8,
};

/* Accounts the packet and keeps all of it. */
SEC("socket")
int socket_legacy_stats(struct __sk_buff *skb)
{
	__u32 ethertype = bpf_ntohs(skb->protocol);
	__u32 kind = skb->pkt_type & 7;
	__u64 len = skb->len, *v;

	v = bpf_map_lookup_elem(&bytes_by_ethertype, &ethertype);
	if (v)
		*v += len;
	else
		bpf_map_update_elem(&bytes_by_ethertype, &ethertype, &len, BPF_ANY);
	v = bpf_map_lookup_elem(&pkt_types, &kind);
	if (v)
		__sync_fetch_and_add(v, 1);
	return skb->len;
}
