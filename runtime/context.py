"""Program contexts: what r1 points at when a program starts.

A `Context` describes the input (XDP `xdp_md` over a packet, `__sk_buff` over a packet, raw
memory as in bpf_conformance, or plain ctx bytes); `install(context, memory)` allocates its
regions and returns an `Installed` context with the starting registers. As in the kernel, a
32-bit load of `xdp_md.data` / `data_end` / `data_meta` (and the `__sk_buff` ones) yields the
full 64-bit packet address: the kernel rewrites these loads, since real addresses do not fit in
32 bits.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import ctypes

from cfg.errors import BpfcheckError

from runtime.memory import GUARD, PACK, UNPACK, Memory, Region, alloc

XDP_HEADROOM = 256
XDP_TAILROOM = 256
SKB_HEADROOM = 64

# xdp_md: offset -> name (all u32)
XDP_FIELDS = {0: "data", 4: "data_end", 8: "data_meta", 12: "ingress_ifindex",
              16: "rx_queue_index", 20: "egress_ifindex"}
XDP_SIZE = 24

# __sk_buff: name -> (offset, size)
SKB_FIELDS = {
    "len": (0, 4), "pkt_type": (4, 4), "mark": (8, 4), "queue_mapping": (12, 4),
    "protocol": (16, 4), "vlan_present": (20, 4), "vlan_tci": (24, 4), "vlan_proto": (28, 4),
    "priority": (32, 4), "ingress_ifindex": (36, 4), "ifindex": (40, 4), "tc_index": (44, 4),
    "cb": (48, 20), "hash": (68, 4), "tc_classid": (72, 4), "data": (76, 4),
    "data_end": (80, 4), "napi_id": (84, 4), "family": (88, 4), "remote_ip4": (92, 4),
    "local_ip4": (96, 4), "remote_ip6": (100, 16), "local_ip6": (116, 16),
    "remote_port": (132, 4), "local_port": (136, 4), "data_meta": (140, 4),
    "flow_keys": (144, 8), "tstamp": (152, 8), "wire_len": (160, 4), "gso_segs": (164, 4),
    "sk": (168, 8), "gso_size": (176, 4), "tstamp_type": (180, 1), "hwtstamp": (184, 8),
}
SKB_SIZE = 192
SKB_WRITABLE = ("mark", "priority", "queue_mapping", "tc_index", "cb", "tc_classid", "tstamp")
# Program types that may store to fewer __sk_buff fields than TC.
SKB_WRITABLE_BY_TYPE = {"socket_filter": ("cb",), "cgroup_skb": ("mark", "priority", "cb"),
                        "sk_skb": ("cb", "tc_index", "priority", "mark")}

L2_PROGRAM_TYPES = frozenset({"sched_cls", "sched_act"})
SKB_PROGRAM_TYPES = frozenset({"socket_filter", "sched_cls", "sched_act", "cgroup_skb",
                               "lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local", "sk_skb",
                               "flow_dissector"})


@dataclass(frozen=True)
class Context:
    """The input of a run. kind: "xdp", "skb", "mem" (r1 = memory, r2 = length), "bytes"
    (r1 points at the given ctx bytes) or "none" (r1 = r2 = 0). `l2`: skb data starts at the
    Ethernet header (TC) rather than after it (socket filters). `fields` set ctx fields by name.
    """

    kind: str
    data: bytes = b""
    fields: tuple[tuple[str, int], ...] = ()
    l2: bool = True
    program_type: str = ""
    platform: str = "linux"   # "windows": installed by runtime.windows (its own ctx layouts)


def xdp(packet: bytes, **fields: int) -> Context:
    """An `xdp_md` over `packet` (fields: ingress_ifindex, rx_queue_index, ...)."""
    return Context("xdp", bytes(packet), tuple(fields.items()))


def skb(packet: bytes, l2: bool = True, program_type: str = "sched_cls",
        **fields: int) -> Context:
    """A `__sk_buff` over `packet`; `l2=False` for socket filters (data after Ethernet).
    `program_type` decides which fields the program may store to."""
    return Context("skb", bytes(packet), tuple(fields.items()), l2, program_type)


def raw_memory(mem: bytes) -> Context:
    """bpf_conformance convention: r1 = address of a copy of `mem`, r2 = its length."""
    return Context("mem", bytes(mem))


def ctx_bytes(ctx: bytes) -> Context:
    """r1 points at a writable copy of `ctx` (for program types we do not model)."""
    return Context("bytes", bytes(ctx))


def for_program_type(program_type: str | None, packet: bytes) -> Context:
    """The natural context for a packet given to a program of this type."""
    if program_type in SKB_PROGRAM_TYPES:
        # As the kernel's test runs: only TC programs see the Ethernet header in skb data.
        return skb(packet, l2=program_type in L2_PROGRAM_TYPES, program_type=program_type)
    return xdp(packet)


@dataclass
class Installed:
    """A context placed in memory: starting registers, its regions, pointer fields."""

    context: Context
    r1: int = 0
    r2: int = 0
    ctx: Region | None = None        # the ctx struct (loads go through `load`)
    packet: Region | None = None     # [data, data_end)
    meta: Region | None = None       # [data_meta, data)
    mem: Region | None = None        # raw memory
    buffer_start: int = 0            # first usable byte of the packet buffer (headroom)
    buffer_end: int = 0              # one past the last usable byte (tailroom)
    pointer_fields: dict[int, Callable[[], int]] = field(default_factory=dict)
    writable: frozenset[int] = frozenset()   # ctx byte offsets a program may store to
    pointer_size: int = 4    # width of the pointer fields (Windows contexts hold 8-byte ones)

    def regions(self) -> list[Region]:
        """The distinct regions of this context (packet and meta share a buffer)."""
        return list({id(r): r for r in (self.ctx, self.packet, self.meta, self.mem)
                     if r is not None}.values())

    def packet_bytes(self) -> bytes | None:
        return self.packet.bytes() if self.packet is not None else None

    def mem_bytes(self) -> bytes | None:
        return self.mem.bytes() if self.mem is not None else None

    def load(self, off: int, size: int) -> int | None:
        """A ctx load; None when the access is not allowed."""
        ctx = self.ctx
        if ctx is None or off < 0 or off + size > ctx.end - ctx.start:
            return None
        width = self.pointer_size
        if off in self.pointer_fields:
            return self.pointer_fields[off]() if size == width else None
        for p in self.pointer_fields:
            if p <= off < p + width or off <= p < off + size:
                return None
        return UNPACK[size](ctx.buf, ctx.start - ctx.base + off)[0]

    def store(self, off: int, size: int, value: int) -> bool:
        """A ctx store; False when the field is not writable."""
        ctx = self.ctx
        if ctx is None or any(o not in self.writable for o in range(off, off + size)):
            return False
        PACK[size](ctx.buf, ctx.start - ctx.base + off, value & ((1 << (8 * size)) - 1))
        return True

    def set_packet(self, memory: Memory, start: int, end: int) -> None:
        """Move data/data_end (xdp_adjust_head/tail); the meta region ends at data."""
        memory.move(self.packet, start, end)
        if self.meta is not None:
            memory.move(self.meta, min(self.meta.start, start), start)


class Snapshot:
    """The bytes and bounds of an installed context, saved right after installation, so that
    the next run on an equal context restores them (one copy per buffer, a bounds move only
    when a helper moved a region) instead of allocating and registering new regions."""

    __slots__ = ("context", "installed", "buffers", "bounds", "epoch")

    def __init__(self, installed: Installed, memory: Memory) -> None:
        regions = installed.regions()
        views = {id(r.buf): r.view for r in regions}
        self.context = installed.context
        self.installed = installed
        self.buffers = tuple((view, view.tobytes()) for view in views.values())
        self.bounds = tuple((r, r.start, r.end) for r in regions)
        self.epoch = memory.epoch   # bounds are as saved while the memory epoch stays here

    def restore(self, memory: Memory) -> None:
        """Put back every byte and bound the context had when it was saved."""
        for view, data in self.buffers:
            view[:] = data
        if memory.epoch != self.epoch:   # some region moved (or went) since: check ours
            for region, start, end in self.bounds:
                if region.start != start or region.end != end:
                    memory.move(region, start, end)
            self.epoch = memory.epoch


def _packet(memory: Memory, data: bytes, head: int, tail: int, name: str) -> Installed:
    buf = alloc(head + len(data) + tail + 2 * GUARD)
    base = ctypes.addressof(buf) + GUARD
    start = base + head
    ctypes.memmove(start, data, len(data))
    packet = memory.add_region(Region(name, "packet", buf, start, len(data)))
    meta = memory.add_region(Region(name + " meta", "packet", buf, start, 0))
    inst = Installed(Context("none"), packet=packet, meta=meta)
    inst.buffer_start, inst.buffer_end = base, base + head + len(data) + tail
    return inst


def _pkt_type(dst: bytes) -> int:
    """skb->pkt_type as eth_type_trans sets it on the loopback device (the kernel's test runs):
    broadcast 1, multicast 2, another host 3 (loopback's address is all zeros), us 0."""
    if dst == b"\xff" * 6:
        return 1
    if dst[0] & 1:
        return 2
    return 3 if any(dst) else 0


def install(context: Context, memory: Memory) -> Installed:
    """Allocate the context's regions in `memory` and compute r1, r2."""
    if context.platform == "windows":
        from runtime import windows
        return windows.install(context, memory)
    kind = context.kind
    if kind == "none":
        return Installed(context)
    if kind == "mem":
        inst = Installed(context)
        inst.mem = memory.add("mem", "mem", len(context.data), context.data)
        inst.packet = inst.mem
        inst.r1, inst.r2 = inst.mem.start, len(context.data)
        return inst
    if kind == "bytes":
        inst = Installed(context)
        inst.mem = memory.add("ctx", "mem", len(context.data), context.data)
        inst.r1 = inst.mem.start
        return inst
    if kind == "xdp":
        inst = _packet(memory, context.data, XDP_HEADROOM, XDP_TAILROOM, "packet")
        inst.context = context
        inst.ctx = memory.add("xdp_md", "ctx", XDP_SIZE)
        names = {v: k for k, v in XDP_FIELDS.items()}
        for name, value in context.fields:
            if name not in names or name in ("data", "data_end", "data_meta"):
                raise BpfcheckError(f"xdp_md has no settable field {name!r}")
            PACK[4](inst.ctx.view, inst.ctx.start - inst.ctx.base + names[name], value)
        inst.pointer_fields = {0: lambda: inst.packet.start, 4: lambda: inst.packet.end,
                               8: lambda: inst.meta.start}
        inst.r1 = inst.ctx.start
        return inst
    if kind == "skb":
        data = context.data if context.l2 else context.data[14:]
        inst = _packet(memory, data, SKB_HEADROOM, 0, "packet")
        inst.context = context
        inst.ctx = memory.add("__sk_buff", "ctx", SKB_SIZE)
        values = {"len": len(data), "wire_len": len(context.data), "ifindex": 1,
                  "ingress_ifindex": 1, "gso_segs": 1}
        if len(context.data) >= 14:
            values["protocol"] = int.from_bytes(context.data[12:14], "little")
            values["pkt_type"] = _pkt_type(context.data[:6])
        values.update(dict(context.fields))
        for name, value in values.items():
            if name not in SKB_FIELDS:
                raise BpfcheckError(f"__sk_buff has no field {name!r}")
            off, size = SKB_FIELDS[name]
            if name in ("data", "data_end", "data_meta", "flow_keys", "sk"):
                raise BpfcheckError(f"__sk_buff.{name} cannot be set")
            if size > 8:
                raise BpfcheckError(f"__sk_buff.{name} is an array: set it by bytes")
            PACK[size](inst.ctx.view, inst.ctx.start - inst.ctx.base + off, value)
        inst.pointer_fields = {76: lambda: inst.packet.start, 80: lambda: inst.packet.end,
                               140: lambda: inst.meta.start}
        writable = set()
        for name in SKB_WRITABLE_BY_TYPE.get(context.program_type, SKB_WRITABLE):
            off, size = SKB_FIELDS[name]
            writable.update(range(off, off + size))
        inst.writable = frozenset(writable)
        inst.r1 = inst.ctx.start
        return inst
    raise BpfcheckError(f"unknown context kind {kind!r}")
