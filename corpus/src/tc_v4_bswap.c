/* TC, -mcpu=v4: byte swaps (bswap16/32/64) converting network-order fields; NAT-style port
 * rewrite with a checksum fix-up. */
#include "common.h"

#define TC_ACT_OK 0

const volatile __u16 from_port = 8080;
const volatile __u16 to_port = 80;

/* Rewrite TCP destination port from_port -> to_port on IPv4 without options. */
SEC("tc")
int tc_v4_bswap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	__u64 seq_ack;
	__u32 sum;

	if ((void *)(tcp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (ip->ihl != 5 || ip->protocol != IPPROTO_TCP)
		return TC_ACT_OK;
	if (__builtin_bswap16(tcp->dest) != from_port)
		return TC_ACT_OK;
	seq_ack = __builtin_bswap64(*(__u64 *)&tcp->seq);
	if (__builtin_bswap32(ip->daddr) == 0x7f000001 && seq_ack == 0)
		return TC_ACT_OK;
	sum = (__u16)~tcp->check + (__u16)~tcp->dest + __builtin_bswap16(to_port);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	tcp->dest = __builtin_bswap16(to_port);
	tcp->check = (__u16)~sum;
	return TC_ACT_OK;
}
