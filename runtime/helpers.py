"""Helper functions under the kernel's numbers (enum bpf_func_id).

A helper is `fn(machine, r1, r2, r3, r4, r5) -> int` (r0, taken modulo 2**64). Helpers read
and write program memory through `machine.memory`, which checks every access; a bad pointer is
a `MemoryFault` naming the helper. Time and randomness are deterministic (seeded per machine).
Calling a helper we do not model is a clear error naming it.
"""
from __future__ import annotations

import ctypes
import functools
import re
from typing import Callable

from runtime import maps as mapmod
from runtime.memory import M64, MemoryFault, VmError

# Kernel helper names by number (linux/bpf.h, __BPF_FUNC_MAPPER order), for messages.
HELPER_NAMES = {
    1: "map_lookup_elem", 2: "map_update_elem", 3: "map_delete_elem", 4: "probe_read",
    5: "ktime_get_ns", 6: "trace_printk", 7: "get_prandom_u32", 8: "get_smp_processor_id",
    9: "skb_store_bytes", 10: "l3_csum_replace", 11: "l4_csum_replace", 12: "tail_call",
    13: "clone_redirect", 14: "get_current_pid_tgid", 15: "get_current_uid_gid",
    16: "get_current_comm", 17: "get_cgroup_classid", 18: "skb_vlan_push", 19: "skb_vlan_pop",
    23: "redirect", 25: "perf_event_output", 26: "skb_load_bytes", 27: "get_stackid",
    28: "csum_diff", 34: "get_hash_recalc", 35: "get_current_task", 39: "skb_pull_data",
    41: "set_hash_invalid", 42: "get_numa_node_id", 44: "xdp_adjust_head",
    45: "probe_read_str", 46: "get_socket_cookie", 47: "get_socket_uid", 48: "set_hash",
    51: "redirect_map", 54: "xdp_adjust_meta", 65: "xdp_adjust_tail", 67: "get_stack",
    68: "skb_load_bytes_relative", 79: "skb_cgroup_id", 80: "get_current_cgroup_id",
    87: "map_push_elem", 88: "map_pop_elem", 89: "map_peek_elem", 112: "probe_read_user",
    113: "probe_read_kernel", 114: "probe_read_user_str", 115: "probe_read_kernel_str",
    118: "jiffies64", 125: "ktime_get_boot_ns", 130: "ringbuf_output", 131: "ringbuf_reserve",
    132: "ringbuf_submit", 133: "ringbuf_discard", 134: "ringbuf_query",
    160: "ktime_get_coarse_ns", 177: "trace_vprintk", 188: "xdp_get_buff_len",
    189: "xdp_load_bytes", 190: "xdp_store_bytes", 195: "map_lookup_percpu_elem",
    208: "ktime_get_tai_ns",
}
EFAULT = 14
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)
TC_ACT_SHOT, TC_ACT_REDIRECT = 2, 7
ETH_HLEN = 14
CLOCK_START_NS = 1_000_000_000
CLOCK_STEP_NS = 1_000

HELPERS: dict[int, Callable] = {}


def helper(num: int) -> Callable:
    """Register a helper under its kernel number; faults are reported with its name."""
    name = HELPER_NAMES[num]

    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapped(m, r1, r2, r3, r4, r5):
            try:
                return fn(m, r1, r2, r3, r4, r5)
            except MemoryFault as exc:
                raise MemoryFault(f"helper {name}: {exc.detail}", exc.pc) from None
        HELPERS[num] = wrapped
        return wrapped
    return deco


def _neg(err: int) -> int:
    return err & M64


def _map(m, addr: int, name: str) -> mapmod.Map:
    mp = m.maps.by_address(addr)
    if mp is None:
        raise VmError(f"helper {name}: {addr:#x} is not a map pointer")
    return mp


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


# --- maps -----------------------------------------------------------------------------------
@helper(1)
def map_lookup_elem(m, r1, r2, r3, r4, r5):
    mp = _map(m, r1, "map_lookup_elem")
    if isinstance(mp, (mapmod.RingBuf, mapmod.QueueMap, mapmod.PerfEventArray,
                       mapmod.ProgArrayMap)):
        return 0
    return mp.lookup_addr(m.memory.read(r2, mp.key_size))


@helper(195)
def map_lookup_percpu_elem(m, r1, r2, r3, r4, r5):
    return map_lookup_elem(m, r1, r2, 0, 0, 0) if (r3 & 0xFFFFFFFF) < mapmod.NCPUS else 0


@helper(2)
def map_update_elem(m, r1, r2, r3, r4, r5):
    mp = _map(m, r1, "map_update_elem")
    if isinstance(mp, (mapmod.RingBuf, mapmod.QueueMap, mapmod.PerfEventArray,
                       mapmod.ProgArrayMap, mapmod.MapOfMaps)):
        return _neg(-mapmod.EINVAL)
    key = m.memory.read(r2, mp.key_size)
    value = m.memory.read(r3, mp.value_size)
    return _neg(mp.update(key, value, r4))


@helper(3)
def map_delete_elem(m, r1, r2, r3, r4, r5):
    mp = _map(m, r1, "map_delete_elem")
    if isinstance(mp, (mapmod.RingBuf, mapmod.QueueMap, mapmod.PerfEventArray)):
        return _neg(-mapmod.EINVAL)
    return _neg(mp.delete(m.memory.read(r2, mp.key_size)))


@helper(87)
def map_push_elem(m, r1, r2, r3, r4, r5):
    mp = _map(m, r1, "map_push_elem")
    if not isinstance(mp, mapmod.QueueMap):
        return _neg(-mapmod.EINVAL)
    return _neg(mp.push(m.memory.read(r2, mp.value_size), r3))


def _pop(m, r1, r2, remove: bool) -> int:
    mp = _map(m, r1, "map_pop_elem")
    if not isinstance(mp, mapmod.QueueMap):
        return _neg(-mapmod.EINVAL)
    m.memory.resolve(r2, mp.value_size, True)
    v = mp.pop(remove)
    if v is None:
        return _neg(-mapmod.ENOENT)
    m.memory.write(r2, v)
    return 0


@helper(88)
def map_pop_elem(m, r1, r2, r3, r4, r5):
    return _pop(m, r1, r2, True)


@helper(89)
def map_peek_elem(m, r1, r2, r3, r4, r5):
    return _pop(m, r1, r2, False)


@helper(12)
def tail_call(m, r1, r2, r3, r4, r5):
    mp = _map(m, r2, "tail_call")
    if not isinstance(mp, mapmod.ProgArrayMap):
        raise VmError(f"helper tail_call: map {mp.name} is not a prog_array")
    prog = mp.programs.get(r3 & 0xFFFFFFFF)
    if prog is None or m.tail_calls >= 33:
        return _neg(-mapmod.ENOENT)
    m.tail_call(prog)  # does not return
    return 0


# --- ring buffer and perf events ---------------------------------------------------------------
def _ringbuf(m, addr, name) -> mapmod.RingBuf:
    mp = _map(m, addr, name)
    if not isinstance(mp, mapmod.RingBuf):
        raise VmError(f"helper {name}: map {mp.name} is not a ringbuf")
    return mp


@helper(130)
def ringbuf_output(m, r1, r2, r3, r4, r5):
    return _neg(_ringbuf(m, r1, "ringbuf_output").output(m.memory.read(r2, r3)))


@helper(131)
def ringbuf_reserve(m, r1, r2, r3, r4, r5):
    if r3:
        return 0
    return _ringbuf(m, r1, "ringbuf_reserve").reserve(r2)


def _ringbuf_commit(m, addr: int, keep: bool, name: str) -> int:
    region = m.memory.find(addr)
    rb = region.owner if region is not None else None
    if not isinstance(rb, mapmod.RingBuf) or not rb.commit(addr, keep):
        raise VmError(f"helper {name}: {addr:#x} is not a reserved ringbuf record")
    return 0


@helper(132)
def ringbuf_submit(m, r1, r2, r3, r4, r5):
    return _ringbuf_commit(m, r1, True, "ringbuf_submit")


@helper(133)
def ringbuf_discard(m, r1, r2, r3, r4, r5):
    return _ringbuf_commit(m, r1, False, "ringbuf_discard")


@helper(134)
def ringbuf_query(m, r1, r2, r3, r4, r5):
    rb = _ringbuf(m, r1, "ringbuf_query")
    return {0: rb.used, 1: rb.max_entries}.get(r2, 0)


@helper(25)
def perf_event_output(m, r1, r2, r3, r4, r5):
    mp = _map(m, r2, "perf_event_output")
    if not isinstance(mp, mapmod.PerfEventArray):
        return _neg(-mapmod.EINVAL)
    mp.events.append(m.memory.read(r4, r5))
    return 0


# --- time, randomness, identity ------------------------------------------------------------
def _clock(m, r1, r2, r3, r4, r5):
    m.clock_ns += CLOCK_STEP_NS
    return CLOCK_START_NS + m.clock_ns


for _n in (5, 125, 160, 208):
    helper(_n)(_clock)


@helper(118)
def jiffies64(m, r1, r2, r3, r4, r5):
    return (CLOCK_START_NS + m.clock_ns) // 4_000_000


@helper(7)
def get_prandom_u32(m, r1, r2, r3, r4, r5):
    return m.rng.getrandbits(32)


for _n in (8, 42, 17, 34, 46, 47, 79, 41, 48, 35):
    helper(_n)(lambda m, r1, r2, r3, r4, r5: 0)


@helper(80)
def get_current_cgroup_id(m, r1, r2, r3, r4, r5):
    return 1


@helper(14)
def get_current_pid_tgid(m, r1, r2, r3, r4, r5):
    return m.pid_tgid


@helper(15)
def get_current_uid_gid(m, r1, r2, r3, r4, r5):
    return m.uid_gid


@helper(16)
def get_current_comm(m, r1, r2, r3, r4, r5):
    if r2 == 0:
        return _neg(-mapmod.EINVAL)
    m.memory.write(r1, (b"bpfcheck" + b"\0" * r2)[:r2 - 1] + b"\0")
    return 0


# --- probe reads ----------------------------------------------------------------------------
def _probe_read(m, r1, r2, r3, r4, r5):
    m.memory.resolve(r1, r2, True) if r2 else None
    try:
        data = m.memory.read(r3, r2)
    except MemoryFault:
        if r2:
            ctypes.memset(r1, 0, r2)
        return _neg(-EFAULT)
    m.memory.write(r1, data)
    return 0


def _probe_read_str(m, r1, r2, r3, r4, r5):
    if r2 == 0:
        return 0
    m.memory.resolve(r1, r2, True)
    try:
        s = m.memory.read_cstr(r3, r2 - 1)
    except MemoryFault:
        ctypes.memset(r1, 0, r2)
        return _neg(-EFAULT)
    m.memory.write(r1, s + b"\0")
    return len(s) + 1


for _n in (4, 112, 113):
    helper(_n)(_probe_read)
for _n in (45, 114, 115):
    helper(_n)(_probe_read_str)


# --- trace_printk ---------------------------------------------------------------------------
_FMT = re.compile(rb"%([-0 +#]*\d*)(ll|l|h|hh|z)?([diuxXspc%])")


def format_printk(fmt: bytes, args: list[int], m=None) -> str:
    """Format like the kernel's bpf_trace_printk (at most 3 arguments; %s reads memory)."""
    it = iter(args)

    def one(mt: re.Match) -> bytes:
        flags, length, conv = mt.group(1), mt.group(2), mt.group(3)
        if conv == b"%":
            return b"%"
        v = next(it, 0)
        bits = 64 if length in (b"l", b"ll", b"z") else 32
        v &= (1 << bits) - 1
        spec = "%" + flags.decode()
        if conv in b"di":
            v = v - (1 << bits) if v >> (bits - 1) else v
            return (spec + "d").encode() % v
        if conv in b"uxX":
            return (spec + conv.decode()).encode() % v
        if conv == b"c":
            return bytes([v & 0xFF])
        if conv == b"p":
            return b"0x%x" % v
        if conv == b"s":
            return m.memory.read_cstr(v) if m is not None else b"?"
        return mt.group(0)
    return _FMT.sub(one, fmt).decode("utf-8", "replace")


@helper(6)
def trace_printk(m, r1, r2, r3, r4, r5):
    fmt = m.memory.read(r1, r2).split(b"\0")[0]
    text = format_printk(fmt, [r3, r4, r5], m)
    m.trace_output.append(text.rstrip("\n"))
    return len(text)


@helper(177)
def trace_vprintk(m, r1, r2, r3, r4, r5):
    fmt = m.memory.read(r1, r2).split(b"\0")[0]
    raw = m.memory.read(r3, r4) if r4 else b""
    args = [int.from_bytes(raw[i:i + 8], "little") for i in range(0, len(raw) - 7, 8)]
    text = format_printk(fmt, args, m)
    m.trace_output.append(text.rstrip("\n"))
    return len(text)


# --- packets ---------------------------------------------------------------------------------
def _packet_range(m, off: int, size: int) -> int | None:
    pkt = m.ctx.packet if m.ctx is not None else None
    if pkt is None or off < 0 or size < 0 or off + size > pkt.end - pkt.start:
        return None
    return pkt.start + off


def _load_bytes(m, r1, r2, r3, r4, r5, base: int = 0):
    m.memory.resolve(r3, r4, True) if r4 else None
    src = _packet_range(m, _s32(r2) + base, r4 & 0xFFFFFFFF)
    if src is None or not r4:
        if r4:
            ctypes.memset(r3, 0, r4)
        return _neg(-EFAULT) if src is None else _neg(-mapmod.EINVAL)
    ctypes.memmove(r3, src, r4)
    return 0


@helper(26)
def skb_load_bytes(m, r1, r2, r3, r4, r5):
    return _load_bytes(m, r1, r2, r3, r4, r5)


@helper(189)
def xdp_load_bytes(m, r1, r2, r3, r4, r5):
    return _load_bytes(m, r1, r2, r3, r4, r5)


@helper(68)
def skb_load_bytes_relative(m, r1, r2, r3, r4, r5):
    if r5 not in (0, 1):
        return _neg(-mapmod.EINVAL)
    net = ETH_HLEN if (r5 == 1 and m.ctx.context.l2) else 0
    return _load_bytes(m, r1, r2, r3, r4, r5, net)


def _store_bytes(m, r1, r2, r3, r4, r5):
    data = m.memory.read(r3, r4)
    dst = _packet_range(m, _s32(r2), r4 & 0xFFFFFFFF)
    if dst is None:
        return _neg(-EFAULT)
    ctypes.memmove(dst, data, len(data))
    return 0


helper(9)(_store_bytes)
helper(190)(_store_bytes)


@helper(39)
def skb_pull_data(m, r1, r2, r3, r4, r5):
    return 0 if _packet_range(m, 0, r2) is not None or r2 == 0 else _neg(-mapmod.ENOMEM)


@helper(188)
def xdp_get_buff_len(m, r1, r2, r3, r4, r5):
    return m.ctx.packet.end - m.ctx.packet.start


def _csum_fold_add(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _csum_replace(m, off: int, old: int, new: int, size: int) -> int:
    addr = _packet_range(m, _s32(off), 2)
    if addr is None or size not in (0, 2, 4):
        return _neg(-mapmod.EINVAL if addr is not None else -EFAULT)
    check = int.from_bytes(ctypes.string_at(addr, 2), "big")
    if size == 0:  # `new` is a precomputed checksum difference
        total = (~check & 0xFFFF) + _csum_fold_add(new & 0xFFFFFFFF)
    else:
        def be_words(v: int) -> list[int]:
            raw = (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, size, 2)]
        total = ~check & 0xFFFF
        for w in be_words(old):
            total += ~w & 0xFFFF
        for w in be_words(new):
            total += w
    result = ~_csum_fold_add(total) & 0xFFFF
    ctypes.memmove(addr, result.to_bytes(2, "big"), 2)
    return 0


@helper(10)
def l3_csum_replace(m, r1, r2, r3, r4, r5):
    return _csum_replace(m, r2, r3, r4, r5 & 0xF)


@helper(11)
def l4_csum_replace(m, r1, r2, r3, r4, r5):
    return _csum_replace(m, r2, r3, r4, r5 & 0xF)


@helper(28)
def csum_diff(m, r1, r2, r3, r4, r5):
    if r2 % 4 or r4 % 4:
        return _neg(-mapmod.EINVAL)
    old = m.memory.read(r1, r2) if r2 else b""
    new = m.memory.read(r3, r4) if r4 else b""
    total = r5 & 0xFFFFFFFF
    for i in range(0, len(old), 4):
        total += ~int.from_bytes(old[i:i + 4], "little") & 0xFFFFFFFF
    for i in range(0, len(new), 4):
        total += int.from_bytes(new[i:i + 4], "little")
    # Linux >= 6.13 returns the sum folded to 16 bits (not complemented) on every arch.
    return _csum_fold_add(total)


def _is_xdp(m) -> bool:
    return m.ctx is not None and m.ctx.context.kind == "xdp"


@helper(23)
def redirect(m, r1, r2, r3, r4, r5):
    m.redirect = (r1 & 0xFFFFFFFF, r2)
    if _is_xdp(m):
        return XDP_REDIRECT if not r2 else XDP_ABORTED
    return TC_ACT_REDIRECT if not r2 & ~1 else TC_ACT_SHOT


@helper(51)
def redirect_map(m, r1, r2, r3, r4, r5):
    mp = _map(m, r1, "redirect_map")
    key = (r2 & 0xFFFFFFFF).to_bytes(4, "little")[:mp.key_size]
    if mp.lookup_addr(key):
        m.redirect = (r2 & 0xFFFFFFFF, r3)
        return XDP_REDIRECT
    return r3 & 0x3


@helper(44)
def xdp_adjust_head(m, r1, r2, r3, r4, r5):
    ctx, delta = m.ctx, _s32(r2)
    start = ctx.packet.start + delta
    meta_len = ctx.packet.start - ctx.meta.start
    if start - meta_len < ctx.buffer_start or ctx.packet.end - start < ETH_HLEN:
        return _neg(-mapmod.EINVAL)
    if meta_len:
        ctypes.memmove(ctx.meta.start + delta, ctx.meta.start, meta_len)
    m.memory.move(ctx.meta, ctx.meta.start + delta, start)
    m.memory.move(ctx.packet, start, ctx.packet.end)
    return 0


@helper(54)
def xdp_adjust_meta(m, r1, r2, r3, r4, r5):
    ctx, delta = m.ctx, _s32(r2)
    meta = ctx.meta.start + delta
    meta_len = ctx.packet.start - meta
    if meta < ctx.buffer_start or meta_len < 0 or meta_len > 32 or meta_len % 4:
        return _neg(-mapmod.EACCES if hasattr(mapmod, "EACCES") else -13)
    m.memory.move(ctx.meta, meta, ctx.packet.start)
    return 0


@helper(65)
def xdp_adjust_tail(m, r1, r2, r3, r4, r5):
    ctx, delta = m.ctx, _s32(r2)
    end = ctx.packet.end + delta
    if end > ctx.buffer_end or end - ctx.packet.start < ETH_HLEN:
        return _neg(-mapmod.EINVAL)
    if delta > 0:
        ctypes.memset(ctx.packet.end, 0, delta)
    m.memory.move(ctx.packet, ctx.packet.start, end)
    return 0
