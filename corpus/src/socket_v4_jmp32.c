/* Socket filter, -mcpu=v4: 32-bit comparisons (jmp32) on skb fields and loaded words;
 * keep only TCP segments to ports in a configured range. */
#include "common.h"

const volatile __u32 port_lo = 1024;
const volatile __u32 port_hi = 49151;

/* Accept IPv4 TCP whose destination port lies in [port_lo, port_hi]. */
SEC("socket")
int socket_v4_jmp32(struct __sk_buff *skb)
{
	__u32 word, port, ihl;
	__u8 vihl;

	if (skb->protocol != bpf_htons(ETH_P_IP) || skb->len < 40)
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &vihl, 1) < 0)
		return 0;
	ihl = (__u32)(vihl & 0xf) * 4;
	if (ihl < 20)
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + ihl, &word, 4) < 0)
		return 0;
	port = bpf_ntohl(word) & 0xffff;
	if (port < port_lo || port > port_hi)
		return 0;
	return -1;
}
