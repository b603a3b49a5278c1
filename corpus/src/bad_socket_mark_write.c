/* UNSAFE socket filter: writes skb->mark, which socket filters may read but not write. */
#include "common.h"

/* Tag large packets; only skb->cb[] is writable from a socket filter. */
SEC("socket")
int bad_socket_mark_write(struct __sk_buff *skb)
{
	if (skb->len > 1000)
		skb->mark = 1; /* BUG: ctx-access */
	return skb->len;
}
