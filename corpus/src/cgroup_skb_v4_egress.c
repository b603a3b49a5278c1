/* cgroup_skb egress, -mcpu=v4: rate-limit by packet size class using signed comparisons and
 * a signed remainder on a token counter kept in a per-CPU array. */
#include "common.h"

struct bucket {
	__s64 tokens;
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bucket);
} token_bucket SEC(".maps");

const volatile __s64 tokens_per_ms = 1500;
const volatile __s64 burst = 64 * 1500;

/* Returns 1 (allow) while tokens last, 0 (drop) otherwise. */
SEC("cgroup_skb/egress")
int cgroup_skb_v4_egress(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct bucket *b = bpf_map_lookup_elem(&token_bucket, &zero);
	__u64 now = bpf_ktime_get_ns();
	__s64 elapsed_ms, tokens;

	if (!b)
		return 1;
	elapsed_ms = (__s64)(now - b->last_ns) / 1000000;
	tokens = b->tokens + elapsed_ms * tokens_per_ms;
	if (tokens > burst)
		tokens = burst;
	if (tokens < (__s64)skb->len)
		return 0;
	b->tokens = tokens - skb->len;
	if (elapsed_ms > 0)
		b->last_ns = now - ((__s64)(now - b->last_ns) % 1000000);
	return 1;
}
