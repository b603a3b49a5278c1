/* kprobe: count opens per process; read the first bytes of the struct filename with
 * bpf_probe_read_kernel via the second argument (PT_REGS_PARM2). */
#include "common.h"
#include <linux/ptrace.h>
#include <bpf/bpf_tracing.h>

struct open_info {
	__u64 count;
	char last_name[32];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct open_info);
} opens SEC(".maps");

/* do_sys_openat2(int dfd, const char __user *filename, struct open_how *how) */
SEC("kprobe/do_sys_openat2")
int kprobe_openat(struct pt_regs *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	const char *name = (const char *)PT_REGS_PARM2(ctx);
	struct open_info init = {}, *info;

	info = bpf_map_lookup_elem(&opens, &pid);
	if (!info) {
		bpf_map_update_elem(&opens, &pid, &init, BPF_NOEXIST);
		info = bpf_map_lookup_elem(&opens, &pid);
		if (!info)
			return 0;
	}
	info->count++;
	bpf_probe_read_user_str(info->last_name, sizeof(info->last_name), name);
	return 0;
}
