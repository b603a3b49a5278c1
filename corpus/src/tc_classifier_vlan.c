/* TC (SEC "classifier"): classify by VLAN priority and IPv4 DSCP read with bpf_skb_load_bytes. */
#include "common.h"

#define TC_ACT_OK 0

/* Sets skb->tc_classid from the VLAN PCP when tagged, otherwise from the DSCP field. */
SEC("classifier")
int tc_classifier_vlan(struct __sk_buff *skb)
{
	__u8 tos;

	if (skb->vlan_present) {
		skb->tc_classid = 0x10000 | ((skb->vlan_tci >> 13) & 7);
		return TC_ACT_OK;
	}
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + 1, &tos, sizeof(tos)) < 0)
		return TC_ACT_OK;
	skb->tc_classid = 0x20000 | (tos >> 2);
	return TC_ACT_OK;
}
