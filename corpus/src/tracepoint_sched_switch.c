/* tracepoint sched/sched_switch: read the context fields and send switch events to a ring
 * buffer; the next task's comm is copied with bpf_probe_read_kernel. */
#include "common.h"

/* Layout of /sys/kernel/tracing/events/sched/sched_switch/format (after the common header). */
struct sched_switch_args {
	__u64 common;
	char prev_comm[16];
	__s32 prev_pid;
	__s32 prev_prio;
	__s64 prev_state;
	char next_comm[16];
	__s32 next_pid;
	__s32 next_prio;
};

struct switch_event {
	__s32 prev_pid;
	__s32 next_pid;
	__s64 prev_state;
	char next_comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} switches SEC(".maps");

/* One event per involuntary switch away from a running task. */
SEC("tracepoint/sched/sched_switch")
int tracepoint_sched_switch(struct sched_switch_args *args)
{
	struct switch_event *ev;

	if (args->prev_state != 0)
		return 0;
	ev = bpf_ringbuf_reserve(&switches, sizeof(*ev), 0);
	if (!ev)
		return 0;
	ev->prev_pid = args->prev_pid;
	ev->next_pid = args->next_pid;
	ev->prev_state = args->prev_state;
	bpf_probe_read_kernel(ev->next_comm, sizeof(ev->next_comm), args->next_comm);
	bpf_ringbuf_submit(ev, 0);
	return 0;
}
