/* kprobe/kretprobe pair on tcp_v4_connect: remember the socket, read its destination with
 * bpf_probe_read_kernel at the return, count attempts per uid in a per-CPU hash. */
#include "common.h"
#include <linux/ptrace.h>
#include <bpf/bpf_tracing.h>

/* offsetof(struct sock, __sk_common.skc_daddr) and skc_dport on x86-64 kernels. */
#define SKC_DADDR_OFF 0
#define SKC_DPORT_OFF 12

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} attempts_by_uid SEC(".maps");

/* Entry: stash the struct sock pointer (PT_REGS_PARM1) under the thread id. */
SEC("kprobe/tcp_v4_connect")
int kprobe_tcp_connect(struct pt_regs *ctx)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__u64 sk = PT_REGS_PARM1(ctx);

	bpf_map_update_elem(&pending, &tid, &sk, BPF_ANY);
	return 0;
}

/* Return: read daddr/dport from the stashed socket and count by uid when connect succeeded. */
SEC("kretprobe/tcp_v4_connect")
int kretprobe_tcp_connect(struct pt_regs *ctx)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u64 *skp = bpf_map_lookup_elem(&pending, &tid);
	__u64 one = 1, *count;
	__be32 daddr = 0;
	__be16 dport = 0;

	if (!skp)
		return 0;
	if (PT_REGS_RC(ctx) == 0) {
		bpf_probe_read_kernel(&daddr, sizeof(daddr), (void *)(*skp + SKC_DADDR_OFF));
		bpf_probe_read_kernel(&dport, sizeof(dport), (void *)(*skp + SKC_DPORT_OFF));
		if (daddr && dport) {
			count = bpf_map_lookup_elem(&attempts_by_uid, &uid);
			if (count)
				*count += 1;
			else
				bpf_map_update_elem(&attempts_by_uid, &uid, &one, BPF_ANY);
		}
	}
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}
