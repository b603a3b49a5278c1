/* UNSAFE TC: a struct on the stack is only partly written, then handed whole to
 * bpf_map_update_elem, which reads the uninitialised bytes. */
#include "common.h"

struct conn_info {
	__u32 len;
	__u32 mark;
	__u64 tstamp;
	__u64 cookie;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct conn_info);
} last_seen SEC(".maps");

/* Remember len and mark by hash; tstamp and cookie are never set. */
SEC("tc")
int bad_uninit_stack_helper(struct __sk_buff *skb)
{
	struct conn_info info;
	__u32 key = skb->hash;

	info.len = skb->len;
	info.mark = skb->mark;
	bpf_map_update_elem(&last_seen, &key, &info, BPF_ANY); /* BUG: uninit-stack */
	return 0;
}
