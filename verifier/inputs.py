"""Hypothesis strategies for concrete inputs of eBPF programs: protocol-shaped packets of every
length (Ethernet, VLAN, IPv4 with options, IPv6, TCP, UDP, ICMP, garbage), contexts for each
program type, and map contents; used by the differential tests (`verifier.difftest`).

Packets are built whole and then cut (or padded) to a length drawn from 0..1500, so that
every bounds check of a parser meets both sides of its edge.
"""
from __future__ import annotations

import struct

from hypothesis import strategies as st

MAX_LEN = 1500
ETH_TYPES = (0x0800, 0x86DD, 0x8100, 0x88A8, 0x0806, 0x88CC)
IP_PROTOS = (6, 17, 1, 58, 0, 47, 132)


@st.composite
def l4(draw, proto: int) -> bytes:
    """A TCP / UDP / ICMP header (with some payload) or random bytes."""
    if proto == 6:
        doff = draw(st.integers(5, 15))
        hdr = struct.pack("!HHIIBBHHH", draw(st.integers(0, 65535)), draw(st.integers(0, 65535)),
                          draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1)),
                          doff << 4, draw(st.integers(0, 255)), draw(st.integers(0, 65535)), 0, 0)
        return hdr + draw(st.binary(min_size=(doff - 5) * 4, max_size=(doff - 5) * 4 + 16))
    if proto == 17:
        ports = draw(st.sampled_from((53, 80, 443, 4789, 67, 68, 123))) \
            if draw(st.booleans()) else draw(st.integers(0, 65535))
        body = draw(st.binary(max_size=64))
        return struct.pack("!HHHH", draw(st.integers(0, 65535)), ports, 8 + len(body), 0) + body
    if proto in (1, 58):
        return struct.pack("!BBHI", draw(st.sampled_from((0, 8, 3, 11, 128, 129))),
                           draw(st.integers(0, 255)), 0, draw(st.integers(0, 2**32 - 1))) + \
            draw(st.binary(max_size=64))
    return draw(st.binary(max_size=64))


@st.composite
def ipv4(draw) -> bytes:
    ihl = draw(st.sampled_from((5, 5, 5, 6, 8, 15, 4, 0)))
    proto = draw(st.sampled_from(IP_PROTOS) | st.integers(0, 255))
    opts = draw(st.binary(min_size=max(0, ihl - 5) * 4, max_size=max(0, ihl - 5) * 4))
    body = draw(l4(proto))
    total = draw(st.sampled_from((20 + len(opts) + len(body),)) | st.integers(0, 65535))
    frag = draw(st.sampled_from((0, 0x4000, 0x2000, 0x0001)) | st.integers(0, 65535))
    hdr = struct.pack("!BBHHHBBH4s4s", (4 << 4) | ihl, draw(st.integers(0, 255)), total,
                      draw(st.integers(0, 65535)), frag, draw(st.integers(0, 255)), proto, 0,
                      draw(st.binary(min_size=4, max_size=4)),
                      draw(st.binary(min_size=4, max_size=4)))
    return hdr + opts + body


@st.composite
def ipv6(draw) -> bytes:
    nxt = draw(st.sampled_from(IP_PROTOS) | st.integers(0, 255))
    ext = b""
    if nxt == 0:  # a hop-by-hop header before the transport
        inner = draw(st.sampled_from((6, 17, 58)))
        ext = bytes([inner, 0]) + draw(st.binary(min_size=6, max_size=6))
        body = draw(l4(inner))
    else:
        body = draw(l4(nxt))
    hdr = struct.pack("!IHBB16s16s", 0x60000000, len(ext) + len(body), nxt,
                      draw(st.integers(0, 255)), draw(st.binary(min_size=16, max_size=16)),
                      draw(st.binary(min_size=16, max_size=16)))
    return hdr + ext + body


@st.composite
def ethernet(draw) -> bytes:
    """An Ethernet frame: addresses, 0-2 VLAN tags, an L3 payload matching the ethertype."""
    dst = draw(st.sampled_from((b"\xff" * 6, b"\x01\x00\x5e\x00\x00\x01", b"\x00" * 6)) |
               st.binary(min_size=6, max_size=6))
    src = draw(st.binary(min_size=6, max_size=6))
    tags = b""
    for _ in range(draw(st.integers(0, 2))):
        tags += struct.pack("!HH", draw(st.sampled_from((0x8100, 0x88A8))),
                            draw(st.integers(0, 65535)))
    kind = draw(st.sampled_from(("ipv4", "ipv4", "ipv6", "other")))
    if kind == "ipv4":
        et, payload = 0x0800, draw(ipv4())
    elif kind == "ipv6":
        et, payload = 0x86DD, draw(ipv6())
    else:
        et = draw(st.sampled_from(ETH_TYPES) | st.integers(0, 65535))
        payload = draw(st.binary(max_size=128))
    return dst + src + tags + struct.pack("!H", et) + payload


@st.composite
def packets(draw, max_len: int = MAX_LEN) -> bytes:
    """A protocol-shaped (or random) packet cut or padded to a length in 0..max_len."""
    whole = draw(ethernet() | st.binary(max_size=96))
    n = draw(st.sampled_from((0, 1, 13, 14, 15, 33, 34, 35, 53, 54, 55, len(whole),
                              max(0, len(whole) - 1), len(whole) + 1)) |
             st.integers(0, max_len))
    n = min(n, max_len)
    if n <= len(whole):
        return whole[:n]
    return whole + draw(st.binary(min_size=n - len(whole), max_size=n - len(whole)))


def packet_of_length(n: int, seed: int = 0) -> bytes:
    """A deterministic IPv4/TCP-shaped packet of exactly n bytes (the length sweep)."""
    import random
    rnd = random.Random(seed * 7919 + n)
    base = (b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00"
            b"\x45\x00\x00\x28\x00\x01\x40\x00\x40\x06\x00\x00\x0a\x00\x00\x01\x0a\x00\x00\x02"
            b"\x30\x39\x00\x50\x00\x00\x00\x01\x00\x00\x00\x00\x50\x02\x72\x10\x00\x00\x00\x00")
    if n <= len(base):
        return base[:n]
    return base + bytes(rnd.randrange(256) for _ in range(n - len(base)))


@st.composite
def map_contents(draw, program) -> dict:
    """Initial contents for the program's array and hash maps ({name: {key hex: value hex}})."""
    out: dict = {}
    from runtime.maps import _ARRAY_TYPES, _HASH_TYPES
    for m in program.maps:
        if m.type_name not in _ARRAY_TYPES and m.type_name not in _HASH_TYPES:
            continue
        if m.inner is not None or m.key_size <= 0 or m.value_size <= 0 or \
                m.key_size > 64 or m.value_size > 512:
            continue
        if not draw(st.booleans()):
            continue
        entries = {}
        for _ in range(draw(st.integers(1, 3))):
            if m.key_size == 4 or draw(st.booleans()):
                k = draw(st.integers(0, max(0, min(m.max_entries, 8) - 1))) \
                    .to_bytes(m.key_size, "little")
            else:
                k = draw(st.binary(min_size=m.key_size, max_size=m.key_size))
            entries[k.hex()] = draw(st.binary(min_size=m.value_size,
                                              max_size=m.value_size)).hex()
        out[m.name] = entries
    return out


def context_for(program_type: str, packet: bytes, ctx_size: int, raw: bytes = b""):
    """The runtime Context a program of this type gets for `packet` (or raw ctx bytes)."""
    from runtime import context as C
    if program_type in C.SKB_PROGRAM_TYPES or program_type in ("xdp", ""):
        return C.for_program_type(program_type or "xdp", packet)
    return C.ctx_bytes((raw + bytes(ctx_size))[:ctx_size])


@st.composite
def inputs(draw, program, program_type: str, ctx_size: int, with_maps: bool = True):
    """A `verifier.difftest.Input` for `program`."""
    from verifier.difftest import Input
    pkt = draw(packets())
    n = min(ctx_size, 256)
    raw = draw(st.binary(min_size=n, max_size=n)) if n else b""
    ctx = context_for(program_type, pkt, ctx_size, raw)
    maps = draw(map_contents(program)) if with_maps and program.maps else None
    return Input(ctx, maps or None)
