/* tracepoint syscalls/sys_enter_write: bytes written per fd class; a bounded loop over a
 * histogram of log2 sizes in a per-CPU array. */
#include "common.h"

struct sys_enter_write_args {
	__u64 common;
	__s32 syscall_nr;
	__u32 pad;
	__u64 fd;
	__u64 buf;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} write_size_log2 SEC(".maps");

__u64 writes_to_stdio;

/* The log2 bucket is found with a constant-bound loop (32 steps at most). */
SEC("tracepoint/syscalls/sys_enter_write")
int tracepoint_sys_write(struct sys_enter_write_args *args)
{
	__u64 count, fd;
	__u32 bucket = 0;
	__u64 *slot;

	bpf_probe_read_kernel(&count, sizeof(count), &args->count);
	bpf_probe_read_kernel(&fd, sizeof(fd), &args->fd);
	if (fd <= 2)
		__sync_fetch_and_add(&writes_to_stdio, 1);
	for (int i = 0; i < 31; i++) {
		if (count <= 1)
			break;
		count >>= 1;
		bucket++;
	}
	slot = bpf_map_lookup_elem(&write_size_log2, &bucket);
	if (slot)
		*slot += 1;
	return 0;
}
