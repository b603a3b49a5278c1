/* UNSAFE TC: bpf_skb_load_bytes told to copy 64 bytes into a 32-byte stack buffer. */
#include "common.h"

struct hdr_copy {
	__u8 bytes[32];
};

__u64 first_words;

/* Copy the start of the packet; the length argument is the wrong constant. */
SEC("tc")
int bad_helper_size(struct __sk_buff *skb)
{
	struct hdr_copy copy;

	if (bpf_skb_load_bytes(skb, 0, &copy, 64) < 0) /* BUG: helper-arg */
		return 0;
	first_words = *(__u64 *)copy.bytes;
	return 0;
}
