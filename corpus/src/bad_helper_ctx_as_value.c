/* UNSAFE socket filter: passes the context pointer as the map value of bpf_map_update_elem,
 * where the helper expects stack, packet or map memory. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[8]);
} skb_copy SEC(".maps");

/* Meant to store a copy of the first fields of the skb. */
SEC("socket")
int bad_helper_ctx_as_value(struct __sk_buff *skb)
{
	__u32 zero = 0;

	bpf_map_update_elem(&skb_copy, &zero, skb, BPF_ANY); /* BUG: helper-arg */
	return skb->len;
}
