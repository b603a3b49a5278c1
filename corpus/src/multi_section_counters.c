/* One object, several sections: XDP, TC and socket-filter programs sharing a BTF array map. */
#include "common.h"

enum { AT_XDP = 0, AT_TC = 1, AT_SOCKET = 2 };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} hook_hits SEC(".maps");

static __always_inline void bump(__u32 slot)
{
	__u64 *hits = bpf_map_lookup_elem(&hook_hits, &slot);

	if (hits)
		__sync_fetch_and_add(hits, 1);
}

/* Count at the XDP hook. */
SEC("xdp")
int count_xdp(struct xdp_md *ctx)
{
	bump(AT_XDP);
	return XDP_PASS;
}

/* Count at the TC hook. */
SEC("tc")
int count_tc(struct __sk_buff *skb)
{
	bump(AT_TC);
	return 0; /* TC_ACT_OK */
}

/* Count at a socket; keep the whole packet. */
SEC("socket")
int count_socket(struct __sk_buff *skb)
{
	bump(AT_SOCKET);
	return skb->len;
}
