/* UNSAFE TC: writes skb->protocol, a read-only field of __sk_buff. */
#include "common.h"

/* Tries to relabel ARP frames as IPv4 by writing the context. */
SEC("tc")
int bad_tc_ctx_write(struct __sk_buff *skb)
{
	if (skb->protocol == bpf_htons(ETH_P_ARP))
		skb->protocol = bpf_htons(ETH_P_IP); /* BUG: ctx-access */
	return 0;
}
