"""Packet builders for runs and tests: Ethernet, VLAN, IPv4 (with options and a valid
checksum), IPv6, TCP, UDP and ICMP, and a set of sample packets that walk a parser's usual
paths. Network byte order throughout; addresses are 32-bit ints (IPv4) or 16 bytes (IPv6).
"""
from __future__ import annotations

import struct

ETH_IPV4, ETH_IPV6, ETH_ARP, ETH_VLAN = 0x0800, 0x86DD, 0x0806, 0x8100
PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_ICMPV6 = 1, 6, 17, 58
MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def eth(ethertype: int, payload: bytes, dst: bytes = MAC_B, src: bytes = MAC_A) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + payload


def vlan(vid: int, ethertype: int, payload: bytes) -> bytes:
    """An 802.1Q tag and what follows it (to put after an Ethernet header of type 0x8100)."""
    return struct.pack("!HH", vid & 0x0FFF, ethertype) + payload


def ipv4(proto: int, payload: bytes, src: int = 0x0A000001, dst: int = 0x0A000002,
         ttl: int = 64, options: bytes = b"") -> bytes:
    """An IPv4 header (options padded to 32-bit words, checksum filled in) and its payload."""
    options += bytes(-len(options) % 4)
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBHII", 0x40 | ihl, 0, 4 * ihl + len(payload), 1, 0, ttl,
                         proto, 0, src, dst) + options
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload


def ipv6(next_header: int, payload: bytes, src: bytes = bytes(15) + b"\1",
         dst: bytes = bytes(15) + b"\2", hop_limit: int = 64) -> bytes:
    return (struct.pack("!IHBB", 0x60000000, len(payload), next_header, hop_limit)
            + src + dst + payload)


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int, flags: int = 0x02, seq: int = 1, payload: bytes = b"") -> bytes:
    """A 20-byte TCP header (flags: SYN by default) and its payload."""
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 8192, 0, 0) + payload


def icmp(icmp_type: int = 8, code: int = 0, payload: bytes = b"ping") -> bytes:
    body = struct.pack("!BBHHH", icmp_type, code, 0, 1, 1) + payload
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


def samples() -> dict[str, bytes]:
    """Named sample packets: the common protocols, an IPv4 header with options, a VLAN tag, a
    TTL of 1, ARP and a runt frame."""
    syn = tcp(40000, 80)
    dns = udp(5353, 53, b"12345678")
    return {
        "ipv4_tcp": eth(ETH_IPV4, ipv4(PROTO_TCP, syn)),
        "ipv4_udp": eth(ETH_IPV4, ipv4(PROTO_UDP, dns)),
        "ipv4_icmp": eth(ETH_IPV4, ipv4(PROTO_ICMP, icmp())),
        "ipv4_ttl1_options": eth(ETH_IPV4, ipv4(PROTO_UDP, dns, ttl=1, options=bytes(8))),
        "ipv6_tcp": eth(ETH_IPV6, ipv6(PROTO_TCP, syn)),
        "arp": eth(ETH_ARP, bytes(28)),
        "vlan_ipv4": eth(ETH_VLAN, vlan(5, ETH_IPV4, ipv4(PROTO_TCP, syn))),
        "runt": eth(0x1234, b""),
    }
