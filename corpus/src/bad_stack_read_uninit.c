/* UNSAFE TC: reads a stack slot that is written on one path only. */
#include "common.h"

__u32 last_class;

/* The class is set for IPv4 and IPv6 and read unconditionally. */
SEC("tc")
int bad_stack_read_uninit(struct __sk_buff *skb)
{
	__u32 class;

	asm volatile("" : : "r"(&class) : "memory");
	if (skb->protocol == bpf_htons(ETH_P_IP))
		class = 4;
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		class = 6;
	asm volatile("" : : "r"(&class) : "memory");
	last_class = class; /* BUG: uninit-stack */
	return 0;
}
