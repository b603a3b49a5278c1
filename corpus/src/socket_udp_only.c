/* Socket filter: keep only IPv4 UDP datagrams, trimmed to 128 bytes; read with load_bytes. */
#include "common.h"

/* The return value is how many bytes of the packet the socket receives (0 drops it). */
SEC("socket")
int socket_udp_only(struct __sk_buff *skb)
{
	__u8 proto;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + __builtin_offsetof(struct iphdr, protocol), &proto, 1) < 0)
		return 0;
	if (proto != IPPROTO_UDP)
		return 0;
	return skb->len < 128 ? skb->len : 128;
}
