/* UNSAFE XDP: reads a field past the end of struct xdp_md through a wrong cast. */
#include "common.h"

struct xdp_md_guess {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
	__u32 vlan_tci;      /* does not exist in struct xdp_md */
};

/* Drop VLAN 7 using a context field that is not there. */
SEC("xdp")
int bad_ctx_bad_offset(struct xdp_md *ctx)
{
	struct xdp_md_guess *g = (void *)ctx;

	if ((g->vlan_tci & 0xfff) == 7) /* BUG: ctx-access */
		return XDP_DROP;
	return XDP_PASS;
}
