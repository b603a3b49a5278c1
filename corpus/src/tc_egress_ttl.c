/* TC egress: clamp the IPv4 TTL with bpf_skb_store_bytes and bpf_l3_csum_replace. */
#include "common.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TTL_OFF (ETH_HLEN + __builtin_offsetof(struct iphdr, ttl))
#define CSUM_OFF (ETH_HLEN + __builtin_offsetof(struct iphdr, check))

const volatile __u8 max_ttl = 32;

/* Lower any TTL above max_ttl, keeping the header checksum right. */
SEC("tc")
int tc_egress_ttl(struct __sk_buff *skb)
{
	__u8 ttl, new_ttl;
	__be16 old_word, new_word;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, TTL_OFF, &ttl, 1) < 0)
		return TC_ACT_SHOT;
	if (ttl <= max_ttl)
		return TC_ACT_OK;
	new_ttl = max_ttl;
	old_word = bpf_htons((__u16)ttl << 8);
	new_word = bpf_htons((__u16)new_ttl << 8);
	if (bpf_l3_csum_replace(skb, CSUM_OFF, old_word, new_word, 2) < 0)
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, TTL_OFF, &new_ttl, 1, 0) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}
