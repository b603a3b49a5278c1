/* Shared definitions for the bpfcheck corpus (written for this project). */
#ifndef BPFCHECK_CORPUS_COMMON_H
#define BPFCHECK_CORPUS_COMMON_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* libbpf dropped the legacy map definition struct; the corpus keeps its own copy so that
 * objects with a `maps` section can be produced. Layout: five u32 fields, as old loaders read. */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

/* 802.1Q / 802.1ad tag as it follows the MAC addresses. */
struct vlan_tag {
	__be16 tci;
	__be16 next_proto;
};

/* ICMP header (linux/icmp.h pulls in libc headers that do not build for -target bpf). */
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

char LICENSE[] SEC("license") = "GPL";

#endif
