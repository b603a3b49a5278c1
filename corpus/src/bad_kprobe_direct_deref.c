/* UNSAFE kprobe: dereferences a kernel pointer argument directly instead of going through
 * bpf_probe_read_kernel. */
#include "common.h"
#include <linux/ptrace.h>
#include <bpf/bpf_tracing.h>

__u64 last_flags;

/* vfs_read(struct file *file, ...): read file->f_flags (offset 0x34 assumed) directly. */
SEC("kprobe/vfs_read")
int bad_kprobe_direct_deref(struct pt_regs *ctx)
{
	char *file = (char *)PT_REGS_PARM1(ctx);

	last_flags = *(__u32 *)(file + 0x34); /* BUG: invalid-memory */
	return 0;
}
