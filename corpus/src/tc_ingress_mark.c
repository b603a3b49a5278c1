/* TC (SEC "tc"): direct packet access on __sk_buff; mark DNS traffic and set its priority. */
#include "common.h"

#define TC_ACT_OK 0
#define DNS_MARK 0x53

/* IPv4/UDP to or from port 53 gets skb->mark and skb->priority set. */
SEC("tc")
int tc_ingress_mark(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if ((void *)(udp + 1) > data_end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	if (udp->dest == bpf_htons(53) || udp->source == bpf_htons(53)) {
		skb->mark = DNS_MARK;
		skb->priority = 6;
	}
	return TC_ACT_OK;
}
