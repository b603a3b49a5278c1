/* XDP, -mcpu=v4: sign-extending loads (ldsx) of signed packet fields and sign-extending moves
 * (movsx) when narrowing/widening signed values. */
#include "common.h"

struct tlv_signed {
	__s8 delta8;
	__u8 pad;
	__s16 delta16;
	__s32 delta32;
};

__s64 position;

/* Apply signed deltas from the payload to a global position; drop if it would go negative. */
SEC("xdp")
int xdp_v4_sign_extend(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct tlv_signed *t = data + sizeof(struct ethhdr);
	__s64 step;
	__s32 narrowed;

	if ((void *)(t + 1) > data_end)
		return XDP_PASS;
	step = (__s64)t->delta8 + (__s64)t->delta16 + (__s64)t->delta32;
	narrowed = (__s8)(step >> 3);
	step += (__s64)(__s16)narrowed;
	if (position + step < 0)
		return XDP_DROP;
	position += step;
	return XDP_PASS;
}
