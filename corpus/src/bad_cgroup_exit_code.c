/* UNSAFE cgroup_skb ingress: returns 2 where only 0 (drop) and 1 (allow) are valid. */
#include "common.h"

/* Meant to "allow and count" with a made-up code. */
SEC("cgroup_skb/ingress")
int bad_cgroup_exit_code(struct __sk_buff *skb)
{
	if (skb->len > 1500)
		return 0;
	return 2; /* BUG: exit-value */
}
