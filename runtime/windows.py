"""eBPF for Windows programs on the runtime: their contexts, helper numbering and map types.

A Windows program runs on the same `Machine` (and JITs, and AOT engine) as a Linux one; only
three tables differ, and this module supplies them:

- contexts: `xdp_md` (8-byte data / data_end / data_meta pointers), `bind_md` (the app id
  [app_id_start, app_id_end) is read like a packet), `bpf_sock_addr`, `bpf_sock_ops`, with
  builders (`xdp`, `bind`, `sock_addr`, `sock_ops`) and `install` (called by
  `runtime.context.install` for `Context(platform="windows")`);
- helpers: `helpers_for(program_type)` is a complete table under eBPF for Windows' numbers
  (ebpf_structs.h): the general helpers map onto our Linux implementations where the meaning is
  the same, the Windows-only ones are defined here, the program-type-specific ones from 65536
  exist only for the types that define them, and every Linux-only number is masked (calling it
  is a run-time error naming the program type). Pass it as `Machine(..., helpers=...)`;
- maps: Windows numbers its map types differently (13 is ringbuf, 10 queue...): `map_defs`
  renumbers definitions into the runtime's (Linux) numbering, `mapset` builds a `MapSet`.

Facts (layouts, numbers) from eBPF for Windows' public headers, as corpus/windows/src/
ebpf_windows.h records them; the code is our own.
"""
from __future__ import annotations

import ctypes
import dataclasses
from typing import Any, Callable, Sequence

from cfg.errors import BpfcheckError
from cfg.program import MAP_TYPE_IDS, MapDef, Program

from runtime import context as ctxmod
from runtime import maps as mapmod
from runtime.helpers import HELPERS
from runtime.memory import M64, Memory, MemoryFault, PACK, VmError

EXT_HELPER_BASE = 0xFFFF    # program-type-specific helpers: EXT_HELPER_BASE + 1, + 2, ...
EINVAL = 22
XDP_PASS, XDP_DROP, XDP_TX = 1, 2, 3
BIND_PERMIT, BIND_DENY, BIND_REDIRECT = 0, 1, 2
AF_INET, AF_INET6 = 2, 23
XDP_HEADROOM = 256
XDP_TAILROOM = 256
LOGON_ID = 0x3E7            # the SYSTEM logon session (deterministic)
SOCKET_COOKIE = 0x5EC0C00C1E

# ebpf_structs.h enum bpf_map_type -> the runtime's map type name
MAP_TYPE_NAMES = {
    1: "hash", 2: "array", 3: "prog_array", 4: "percpu_hash", 5: "percpu_array",
    6: "hash_of_maps", 7: "array_of_maps", 8: "lru_hash", 9: "lpm_trie", 10: "queue",
    11: "lru_percpu_hash", 12: "stack", 13: "ringbuf", 14: "perf_event_array",
}


@dataclasses.dataclass(frozen=True)
class Layout:
    """A Windows context struct: size, fields name -> (offset, size), the 8-byte pointer
    fields (offset -> which packet bound they hold) and the fields a program may store to."""

    name: str
    size: int
    fields: dict[str, tuple[int, int]]
    pointers: dict[int, str] = dataclasses.field(default_factory=dict)
    writable: tuple[str, ...] = ()


XDP_MD = Layout("xdp_md", 32, {"data": (0, 8), "data_end": (8, 8), "data_meta": (16, 8),
                               "ingress_ifindex": (24, 4)},
                {0: "start", 8: "end", 16: "meta"})
BIND_MD = Layout("bind_md", 56, {"app_id_start": (0, 8), "app_id_end": (8, 8),
                                 "process_id": (16, 8), "socket_address": (24, 16),
                                 "socket_address_length": (40, 1), "operation": (44, 4),
                                 "protocol": (48, 1)},
                 {0: "start", 8: "end"}, ("socket_address", "socket_address_length"))
_SOCK_ADDR_FIELDS = {"family": (0, 4), "msg_src_ip4": (4, 4), "msg_src_ip6": (4, 16),
                     "msg_src_port": (20, 2), "user_ip4": (24, 4), "user_ip6": (24, 16),
                     "user_port": (40, 2), "protocol": (44, 4), "compartment_id": (48, 4),
                     "interface_luid": (56, 8)}
SOCK_ADDR = Layout("bpf_sock_addr", 64, _SOCK_ADDR_FIELDS)
SOCK_ADDR_CONNECT = Layout("bpf_sock_addr", 64, _SOCK_ADDR_FIELDS, {},
                           ("user_ip6", "user_port"))   # connect hooks may redirect
SOCK_OPS = Layout("bpf_sock_ops", 64, {
    "op": (0, 4), "family": (4, 4), "local_ip4": (8, 4), "local_ip6": (8, 16),
    "local_port": (24, 4), "remote_ip4": (28, 4), "remote_ip6": (28, 16), "remote_port": (44, 4),
    "protocol": (48, 1), "compartment_id": (52, 4), "interface_luid": (56, 8)})

SOCK_ADDR_HOOKS = ("connect4", "connect6", "recv_accept4", "recv_accept6", "bind4", "bind6",
                   "listen4", "listen6", "connect_authorization4", "connect_authorization6")
PROGRAM_TYPES = ("xdp", "bind", "sock_addr", "sock_ops")


def program_type(section: str) -> str:
    """The runtime's Windows program type for a section name (netebpfext conventions):
    "xdp", "bind", "sock_addr" or "sock_ops"; ProgramError-like BpfcheckError otherwise."""
    if section in ("xdp", "xdp_test") or section.startswith("xdp/"):
        return "xdp"
    if section == "bind" or section.startswith("bind/"):
        return "bind"
    if section.startswith("cgroup/") and section[len("cgroup/"):] in SOCK_ADDR_HOOKS:
        return "sock_addr"
    if section == "sockops" or section.startswith("sockops/"):
        return "sock_ops"
    if section in PROGRAM_TYPES:
        return section
    raise BpfcheckError(f"section {section!r} is no eBPF for Windows program type the runtime "
                        f"models ({', '.join(PROGRAM_TYPES)})")


# --- contexts --------------------------------------------------------------------------------
def xdp(packet: bytes, **fields: int) -> ctxmod.Context:
    """A Windows `xdp_md` over `packet` (fields: ingress_ifindex)."""
    return ctxmod.Context("xdp", bytes(packet), tuple(fields.items()), platform="windows")


def bind(app_id: bytes = b"", **fields: int | bytes) -> ctxmod.Context:
    """A `bind_md` whose app id is `app_id` (fields: process_id, socket_address (16 bytes,
    a sockaddr), socket_address_length, operation, protocol)."""
    return ctxmod.Context("bind", bytes(app_id), tuple(fields.items()), platform="windows")


def sock_addr(hook: str = "connect4", **fields: int | bytes) -> ctxmod.Context:
    """A `bpf_sock_addr` for the cgroup hook `hook` (connect4, recv_accept6, ...): fields
    family, msg_src_ip4 / msg_src_ip6, msg_src_port, user_ip4 / user_ip6, user_port, protocol,
    compartment_id, interface_luid (addresses and ports in network order, as the header)."""
    hook = hook[len("cgroup/"):] if hook.startswith("cgroup/") else hook
    if hook not in SOCK_ADDR_HOOKS:
        raise BpfcheckError(f"unknown sock_addr hook {hook!r} (known: {', '.join(SOCK_ADDR_HOOKS)})")
    fields.setdefault("family", AF_INET6 if hook.endswith("6") else AF_INET)
    return ctxmod.Context("sock_addr", b"", tuple(fields.items()), program_type=hook,
                          platform="windows")


def sock_ops(**fields: int | bytes) -> ctxmod.Context:
    """A `bpf_sock_ops` (fields op, family, local_ip4 / local_ip6, local_port, remote_...)."""
    return ctxmod.Context("sock_ops", b"", tuple(fields.items()), platform="windows")


def _layout(context: ctxmod.Context) -> Layout:
    kind = context.kind
    if kind == "sock_addr":
        return SOCK_ADDR_CONNECT if context.program_type.startswith("connect") and \
            not context.program_type.startswith("connect_authorization") else SOCK_ADDR
    layout = {"xdp": XDP_MD, "bind": BIND_MD, "sock_ops": SOCK_OPS}.get(kind)
    if layout is None:
        raise BpfcheckError(f"no eBPF for Windows context of kind {kind!r} "
                            f"(known: {', '.join(PROGRAM_TYPES)})")
    return layout


def install(context: ctxmod.Context, memory: Memory) -> ctxmod.Installed:
    """Place a Windows context in `memory` (see `runtime.context.install`)."""
    layout = _layout(context)
    if context.kind == "xdp":
        inst = ctxmod._packet(memory, context.data, XDP_HEADROOM, XDP_TAILROOM, "packet")
    elif context.kind == "bind":
        inst = ctxmod._packet(memory, context.data, 0, 0, "app id")
        inst.packet.writable = inst.meta.writable = False   # the app id is read-only
    else:
        inst = ctxmod.Installed(context)
    inst.context = context
    inst.ctx = memory.add(layout.name, "ctx", layout.size)
    base = inst.ctx.start - inst.ctx.base
    for name, value in context.fields:
        if name not in layout.fields or layout.fields[name][0] in layout.pointers:
            raise BpfcheckError(f"{layout.name} has no settable field {name!r}")
        off, size = layout.fields[name]
        raw = value if isinstance(value, (bytes, bytearray)) else \
            (int(value) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        if len(raw) != size:
            raise BpfcheckError(f"{layout.name}.{name} takes {size} bytes, not {len(raw)}")
        ctypes.memmove(inst.ctx.base + base + off, bytes(raw), size)
    getters = {"start": lambda: inst.packet.start, "end": lambda: inst.packet.end,
               "meta": lambda: inst.meta.start}
    inst.pointer_fields = {off: getters[which] for off, which in layout.pointers.items()}
    inst.pointer_size = 8
    writable: set[int] = set()
    for name in layout.writable:
        off, size = layout.fields[name]
        writable.update(range(off, off + size))
    inst.writable = frozenset(writable)
    for off, get in inst.pointer_fields.items():  # the struct holds real addresses
        PACK[8](inst.ctx.buf, base + off, get())
    inst.r1 = inst.ctx.start
    return inst


# --- helpers ------------------------------------------------------------------------------
def _named(name: str, fn: Callable) -> Callable:
    """A Windows-only helper whose faults name it."""
    def wrapped(m, r1, r2, r3, r4, r5):
        try:
            return fn(m, r1, r2, r3, r4, r5)
        except MemoryFault as exc:
            raise MemoryFault(f"helper {name}: {exc.detail}", exc.pc) from None
    wrapped.__name__ = name
    return wrapped


def _neg(err: int) -> int:
    return -err & M64


def _lookup_and_delete(m, r1, r2, r3, r4, r5):
    mp = m.maps.by_address(r1)
    if mp is None:
        raise VmError(f"{r1:#x} is not a map pointer")
    if isinstance(mp, mapmod.QueueMap):
        value = mp.pop(True)
    else:
        key = m.memory.read(r2, mp.key_size)
        addr = mp.lookup_addr(key)
        value = m.memory.read(addr, mp.value_size) if addr else None
        if value is not None:
            mp.delete(key)
    if value is None:
        return 0
    # the value outlives its entry in a scratch region of the machine (one per run is enough)
    scratch = getattr(m, "_windows_scratch", None)
    if scratch is None or scratch.end - scratch.start < len(value):
        scratch = m.memory.add("lookup_and_delete value", "map_value", max(8, len(value)))
        m._windows_scratch = scratch
    m.memory.write(scratch.start, value)
    return scratch.start


def _printk(n_args: int) -> Callable:
    def printk(m, r1, r2, r3, r4, r5):
        args = (r3, r4, r5)[:n_args] + (0,) * (3 - n_args)
        return HELPERS[6](m, r1, r2, *args)
    return printk


def _ms(clock: int) -> Callable:
    def ms(m, r1, r2, r3, r4, r5):
        return HELPERS[clock](m, r1, r2, r3, r4, r5) // 1_000_000
    return ms


def _copy_s(m, r1, r2, r3, r4, r5):
    """memcpy_s / memmove_s: copy r4 bytes when they fit in r2, else zero dst, -EINVAL."""
    if r4 > r2:
        if r2:
            m.memory.write(r1, b"\0" * r2)
        return _neg(EINVAL)
    if r4:
        m.memory.write(r1, m.memory.read(r3, r4))
    return 0


def _memcmp_s(m, r1, r2, r3, r4, r5):
    a, b = m.memory.read(r1, r2) if r2 else b"", m.memory.read(r3, r4) if r4 else b""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    return 0 if a == b else (1 if a > b else M64)


def _memset(m, r1, r2, r3, r4, r5):
    if r2:
        m.memory.write(r1, bytes([r3 & 0xFF]) * r2)
    return 0


def _strnlen_s(m, r1, r2, r3, r4, r5):
    return len(m.memory.read_cstr(r1, r2)) if r2 else 0


def _strncpy_s(m, r1, r2, r3, r4, r5, append: bool = False):
    src = m.memory.read_cstr(r3, r4) if r4 else b""
    head = m.memory.read_cstr(r1, r2) if append and r2 else b""
    total = head + src
    if len(total) + 1 > r2:
        if r2:
            m.memory.write(r1, b"\0")
        return _neg(EINVAL)
    m.memory.write(r1, total + b"\0")
    return 0


def _redirect_context(m, r1, r2, r3, r4, r5):
    data = m.memory.read(r2, r3) if r3 else b""
    m.redirect_context = data
    return 0


def _pid_tgid(m, r1, r2, r3, r4, r5):
    return m.pid_tgid


GENERAL: dict[int, tuple[str, Callable]] = {
    1: ("map_lookup_elem", HELPERS[1]), 2: ("map_update_elem", HELPERS[2]),
    3: ("map_delete_elem", HELPERS[3]), 4: ("map_lookup_and_delete_elem", _lookup_and_delete),
    5: ("tail_call", HELPERS[12]), 6: ("get_prandom_u32", HELPERS[7]),
    7: ("ktime_get_boot_ns", HELPERS[125]), 8: ("get_smp_processor_id", HELPERS[8]),
    9: ("ktime_get_ns", HELPERS[5]), 10: ("csum_diff", HELPERS[28]),
    11: ("ringbuf_output", HELPERS[130]), 12: ("trace_printk2", _printk(0)),
    13: ("trace_printk3", _printk(1)), 14: ("trace_printk4", _printk(2)),
    15: ("trace_printk5", _printk(3)), 16: ("map_push_elem", HELPERS[87]),
    17: ("map_pop_elem", HELPERS[88]), 18: ("map_peek_elem", HELPERS[89]),
    19: ("get_current_pid_tgid", HELPERS[14]),
    20: ("get_current_logon_id", lambda m, *a: getattr(m, "logon_id", LOGON_ID)),
    21: ("is_current_admin", lambda m, *a: getattr(m, "is_admin", 1)),
    22: ("memcpy_s", _copy_s), 23: ("memcmp_s", _memcmp_s), 24: ("memset", _memset),
    25: ("memmove_s", _copy_s),
    26: ("get_socket_cookie", lambda m, *a: getattr(m, "socket_cookie", SOCKET_COOKIE)),
    27: ("strncpy_s", _strncpy_s),
    28: ("strncat_s", lambda m, r1, r2, r3, r4, r5: _strncpy_s(m, r1, r2, r3, r4, r5, True)),
    29: ("strnlen_s", _strnlen_s), 30: ("ktime_get_boot_ms", _ms(125)),
    31: ("ktime_get_ms", _ms(5)), 32: ("perf_event_output", HELPERS[25]),
    33: ("get_current_process_start_key", lambda m, *a: 0x1000),
    34: ("get_current_thread_create_time", lambda m, *a: 0x2000),
}
# program-type-specific helpers, numbered from EXT_HELPER_BASE + 1 per type
OWN: dict[str, tuple[tuple[str, Callable], ...]] = {
    "xdp": (("xdp_adjust_head", HELPERS[44]),),
    "sock_addr": (("sock_addr_get_current_pid_tgid", _pid_tgid),
                  ("sock_addr_set_redirect_context", _redirect_context)),
}
HELPER_NAMES = {n: name for n, (name, _) in GENERAL.items()}


def _masked(number: int, ptype: str) -> Callable:
    def missing(m, r1, r2, r3, r4, r5):
        raise VmError(f"helper {number} does not exist for eBPF for Windows {ptype} programs")
    return missing


def helpers_for(ptype: str) -> dict[int, Callable]:
    """The complete helper table of a Windows program type (a section name works too), to
    pass as `Machine(..., helpers=...)`: it replaces every Linux number."""
    ptype = program_type(ptype)
    table: dict[int, Callable] = {n: _masked(n, ptype) for n in HELPERS}
    for n, (name, fn) in GENERAL.items():
        table[n] = fn if fn in HELPERS.values() else _named(name, fn)
    for i, (name, fn) in enumerate(OWN.get(ptype, ()), start=EXT_HELPER_BASE + 1):
        table[i] = fn if fn in HELPERS.values() else _named(name, fn)
    return table


def helper_name(ptype: str, number: int) -> str | None:
    """The Windows name of helper `number` for `ptype` (None when it does not exist)."""
    if number in GENERAL:
        return GENERAL[number][0]
    own = OWN.get(program_type(ptype), ())
    i = number - EXT_HELPER_BASE - 1
    return own[i][0] if 0 <= i < len(own) else None


# --- maps ------------------------------------------------------------------------------------
def map_def(mdef: MapDef) -> MapDef:
    """`mdef` (Windows map type numbering) in the runtime's numbering; inner maps too."""
    name = MAP_TYPE_NAMES.get(mdef.type)
    if mdef.kind in ("data", "rodata", "bss", "kconfig"):
        return mdef  # global-variable arrays are synthesised by the loader in our numbering
    if name is None:
        raise BpfcheckError(f"map {mdef.name}: type {mdef.type} is no eBPF for Windows map type")
    inner = map_def(mdef.inner) if mdef.inner is not None else None
    return dataclasses.replace(mdef, type=MAP_TYPE_IDS[name], inner=inner)


def map_defs(defs: Sequence[MapDef]) -> list[MapDef]:
    """`map_def` of each definition (indices unchanged)."""
    return [map_def(d) for d in defs]


def mapset(program: Program, programs: dict[str, Any] | None = None,
           memory: Memory | None = None) -> mapmod.MapSet:
    """The runtime maps of a Windows program (`programs`: name -> Program for prog_arrays)."""
    return mapmod.MapSet(map_defs(program.maps), memory, programs=programs)


def machine(program: Program, engine: str = "interp", maps: mapmod.MapSet | None = None,
            **kwargs: Any):
    """A machine of `engine` (runtime.engines) running Windows `program` with its helper table
    and renumbered maps."""
    from runtime.engines import get_engine
    factory = get_engine(engine)
    return factory(program, maps if maps is not None else mapset(program),
                   helpers_for(program.section or program.type), **kwargs)


def default_context(program: Program, packet: bytes | None = None) -> ctxmod.Context:
    """A plausible input for `program`'s type: the packet (XDP) or app id (bind) given, else
    a TCP connection to 10.0.0.1:80 (sock_addr) / an established IPv4 flow (sock_ops)."""
    ptype = program_type(program.section or program.type)
    if ptype == "xdp":
        return xdp(packet or bytes(64))
    if ptype == "bind":
        return bind(packet or b"\\device\\app.exe", process_id=1234, operation=0, protocol=6,
                    socket_address=bytes([2, 0, 0, 80]) + bytes(12), socket_address_length=16)
    if ptype == "sock_addr":
        hook = program.section.split("/", 1)[1] if "/" in program.section else "connect4"
        return sock_addr(hook, user_ip4=0x0100000A, user_port=0x5000, protocol=6,
                         msg_src_ip4=0x0200000A, msg_src_port=0x3930)
    return sock_ops(op=0, family=AF_INET, local_ip4=0x0200000A, local_port=12345,
                    remote_ip4=0x0100000A, remote_port=80, protocol=6)
