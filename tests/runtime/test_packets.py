"""The packet builders produce well-formed headers (lengths and checksums)."""
import struct

from runtime import packets as P


def test_ipv4_header_has_a_valid_checksum_and_lengths_with_options():
    pkt = P.ipv4(P.PROTO_UDP, P.udp(1, 53, b"xy"), options=b"\x01\x01")
    ihl = (pkt[0] & 0x0F) * 4
    assert ihl == 24                                    # options padded to a word
    assert P.checksum(pkt[:ihl]) == 0                   # a valid header sums to 0xffff
    assert struct.unpack("!H", pkt[2:4])[0] == len(pkt)
    assert struct.unpack("!H", pkt[ihl + 4:ihl + 6])[0] == 10   # UDP length


def test_icmp_checksum_covers_the_message():
    assert P.checksum(P.icmp(8, 0, b"abc")) == 0


def test_samples_are_ethernet_frames_of_the_stated_types():
    samples = P.samples()
    assert samples["ipv6_tcp"][12:14] == b"\x86\xdd"
    assert samples["vlan_ipv4"][12:14] == b"\x81\x00" and samples["vlan_ipv4"][16:18] == b"\x08\x00"
    assert len(samples["runt"]) == 14
