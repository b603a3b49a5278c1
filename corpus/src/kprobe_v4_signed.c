/* kprobe, -mcpu=v4: signed arithmetic on a kernel argument read with bpf_probe_read_kernel:
 * nice values of tasks (signed, sign-extended) bucketed with signed division. */
#include "common.h"
#include <linux/ptrace.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} nice_buckets SEC(".maps");

/* set_user_nice(struct task_struct *p, long nice): bucket = (nice + 20) / 5, signed. */
SEC("kprobe/set_user_nice")
int kprobe_v4_signed(struct pt_regs *ctx)
{
	long nice = (long)PT_REGS_PARM2(ctx);
	__s8 small;
	__s32 bucket;
	__u32 key;
	__u64 *slot;
	long divisor = 5;

	bpf_probe_read_kernel(&small, sizeof(small), &nice);
	bucket = ((__s32)small + 20) / (__s32)divisor;
	if ((__s64)nice < -20)
		bucket = 0;
	key = (__u32)bucket & 7;
	slot = bpf_map_lookup_elem(&nice_buckets, &key);
	if (slot)
		*slot += 1;
	return 0;
}
