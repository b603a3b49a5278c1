"""Platforms as data: program types, context layouts, helper prototypes, map types and limits.

The analysis never names a platform: it asks a `Platform` which program type a section means,
which context bytes a load or store may touch (and whether they load packet pointers), what a
helper call expects and returns, and which helpers a program type may call. Linux and eBPF for
Windows are two instances of these tables (`verifier/platforms/`); `get_platform(name)` picks one.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping

from cfg.errors import BpfcheckError


class PlatformError(BpfcheckError):
    """An unknown platform, program type, section or helper (bad input, not a bug of ours)."""


# What a context field loads: a number, or a pointer of the given kind.
CTX_FIELD_KINDS = frozenset({"scalar", "packet", "packet_end", "packet_meta", "pointer"})

# Argument kinds of helper prototypes (the kernel's enum bpf_arg_type, spelled our way).
#   anything                     any initialised value (number or pointer the helper only compares)
#   const_size / _or_zero        a number: the size of the memory argument just before it (> 0 / >= 0)
#   const_alloc_size_or_zero     a number: the size of memory the helper allocates (ringbuf_reserve)
#   ptr_to_ctx                   the program's context pointer (offset 0)
#   ptr_to_map                   a map (lddw map reference); ptr_to_map_of_programs: a prog_array
#   ptr_to_map_key               readable, initialised memory of the map's key size
#   ptr_to_map_value             readable, initialised memory of the map's value size
#   ptr_to_map_value_or_null     as above, or NULL
#   ptr_to_uninit_map_value      writable memory of the map's value size (may be uninitialised)
#   ptr_to_readable_mem[_or_null] initialised memory of the size in the next argument (or NULL)
#   ptr_to_writable_mem          memory of the size in the next argument that the helper fills in
#                                (need not be initialised before; initialised after the call)
#   ptr_to_writable_mem_or_null  as above, or NULL (with a zero size)
#   ptr_to_stack[_or_null]       a pointer into the stack (or NULL); callback context
#   ptr_to_func                  a code address (lddw src=4) of a static subprogram (callback)
#   ptr_to_long / ptr_to_int     writable, aligned 8 / 4 bytes the helper fills in
#   ptr_to_const_str             a NUL-terminated string in read-only map data (.rodata)
#   ptr_to_spin_lock / ptr_to_timer  a bpf_spin_lock / bpf_timer inside a map value
#   ptr_to_alloc_mem             memory returned by ringbuf_reserve (released by the call)
#   ptr_to_sock_common / ptr_to_sock / ptr_to_btf_id_sock_common  a socket pointer
#   ptr_to_btf_id / ptr_to_percpu_btf_id  a kernel object typed by BTF
#   ptr_to_dynptr                a struct bpf_dynptr on the stack
#   ptr_to_kptr                  a referenced kernel pointer slot in a map value
#   unsupported                  a kind bpfcheck does not model: any call is rejected
ARG_KINDS = frozenset({
    "anything", "const_size", "const_size_or_zero", "const_alloc_size_or_zero", "ptr_to_ctx",
    "ptr_to_map", "ptr_to_map_of_programs", "ptr_to_map_key", "ptr_to_map_value",
    "ptr_to_map_value_or_null", "ptr_to_uninit_map_value", "ptr_to_readable_mem",
    "ptr_to_readable_mem_or_null", "ptr_to_writable_mem", "ptr_to_writable_mem_or_null",
    "ptr_to_stack", "ptr_to_stack_or_null",
    "ptr_to_func", "ptr_to_long", "ptr_to_int", "ptr_to_const_str", "ptr_to_spin_lock",
    "ptr_to_timer", "ptr_to_alloc_mem", "ptr_to_sock_common", "ptr_to_sock",
    "ptr_to_btf_id_sock_common", "ptr_to_btf_id", "ptr_to_percpu_btf_id", "ptr_to_dynptr",
    "ptr_to_kptr", "unsupported",
})

# Return kinds (the kernel's enum bpf_return_type).
#   integer            a number (tail_call: returns only when the call fails)
#   void               r0 is undefined after the call
#   map_value_or_null  a pointer to a value of the map in r1, or NULL
#   map_value          a pointer to a value of the map in r1, never NULL (get_local_storage)
#   mem_or_null        memory of the size given by argument `ret_size_arg`, or NULL
#   socket_or_null / sock_common_or_null / tcp_sock_or_null   a socket pointer or NULL
#   btf_id / btf_id_or_null / mem_or_btf_id / mem_or_btf_id_or_null  kernel objects typed by BTF
RET_KINDS = frozenset({
    "integer", "void", "map_value_or_null", "map_value", "mem_or_null", "socket_or_null",
    "sock_common_or_null", "tcp_sock_or_null", "btf_id", "btf_id_or_null", "mem_or_btf_id",
    "mem_or_btf_id_or_null",
})


@dataclass(frozen=True)
class CtxField:
    """One field of a program's context: bytes [offset, offset + size + pad).

    `read_sizes` / `write_sizes` are the access widths allowed (empty: exactly `size`); an access
    of width w must start at an offset that is a multiple of w (as the kernel's `off % size`) and
    stay inside the field. `pad` counts padding bytes after the C member that belong to the field
    for wide accesses (e.g. a 4-byte read of the 2-byte `bpf_sock.dst_port`). `kind` says what a
    read loads; for "pointer", `target` names what it points to (e.g. "sock_common_or_null").
    """

    name: str
    offset: int
    size: int
    readable: bool = True
    writable: bool = False
    kind: str = "scalar"
    read_sizes: tuple[int, ...] = ()
    write_sizes: tuple[int, ...] = ()
    target: str = ""
    pad: int = 0

    def __post_init__(self) -> None:
        if self.kind not in CTX_FIELD_KINDS:
            raise PlatformError(f"context field {self.name}: unknown kind {self.kind!r}")
        if self.offset < 0 or self.size <= 0 or self.pad < 0:
            raise PlatformError(f"context field {self.name}: bad extent")

    @property
    def end(self) -> int:
        """One past the last byte the field covers (padding included)."""
        return self.offset + self.size + self.pad

    def widths(self, write: bool = False) -> tuple[int, ...]:
        """The access widths allowed for a read (or a write)."""
        sizes = self.write_sizes if write else self.read_sizes
        return sizes or (self.size,)

    def fits(self, offset: int, size: int, write: bool = False) -> bool:
        """Whether an access of `size` bytes at `offset` has an allowed shape (width, alignment,
        inside the field), whatever the field's read/write permission."""
        return (size in self.widths(write) and offset % size == 0
                and self.offset <= offset and offset + size <= self.end)

    def allows(self, offset: int, size: int, write: bool = False) -> bool:
        """Whether the access is allowed: right shape and the field is readable (writable)."""
        permitted = self.writable if write else self.readable
        return permitted and self.fits(offset, size, write)


@dataclass(frozen=True)
class ContextLayout:
    """The context a program receives in r1: its size and the fields it may access."""

    name: str
    size: int
    fields: tuple[CtxField, ...]
    _by_byte: dict[int, CtxField] = field(default=None, init=False, repr=False,  # type: ignore[assignment]
                                          compare=False, hash=False)

    def __post_init__(self) -> None:
        by_byte: dict[int, CtxField] = {}
        for f in self.fields:
            if f.end > self.size:
                raise PlatformError(f"context {self.name}: field {f.name} ends past {self.size}")
            for b in range(f.offset, f.end):
                if b in by_byte:
                    raise PlatformError(f"context {self.name}: {f.name} overlaps {by_byte[b].name}")
                by_byte[b] = f
        object.__setattr__(self, "_by_byte", by_byte)

    def field_containing(self, offset: int) -> CtxField | None:
        """The field that covers byte `offset`, if any."""
        return self._by_byte.get(offset)

    def field_at(self, offset: int, size: int, write: bool = False) -> CtxField | None:
        """The field an access of `size` bytes at `offset` touches when its shape is allowed
        (exact width, or a narrower / wider width the field lists), else None. Permissions are
        not checked here: test `readable` / `writable`, or call `access`."""
        f = self._by_byte.get(offset)
        if f is not None and f.fits(offset, size, write):
            return f
        return None

    def access(self, offset: int, size: int, write: bool = False) -> CtxField | None:
        """The field if the access is fully allowed (shape and permission), else None."""
        f = self.field_at(offset, size, write)
        if f is not None and (f.writable if write else f.readable):
            return f
        return None

    def explain(self, offset: int, size: int, write: bool = False) -> str | None:
        """Why an access is rejected (a one-line message), or None when it is allowed."""
        verb = "write" if write else "read"
        if offset < 0 or offset + size > self.size:
            return (f"{verb} of {size} bytes at offset {offset} is outside the "
                    f"{self.size}-byte context {self.name}")
        f = self._by_byte.get(offset)
        if f is None:
            return f"{verb} of {size} bytes at offset {offset}: no accessible field of {self.name} there"
        if not (f.writable if write else f.readable):
            return f"{self.name}.{f.name} is not {'writable' if write else 'readable'} for this program type"
        if not f.fits(offset, size, write):
            widths = "/".join(str(w) for w in f.widths(write))
            return (f"{verb} of {size} bytes at offset {offset}: {self.name}.{f.name} "
                    f"(offset {f.offset}, {f.size} bytes) allows {verb}s of {widths} bytes, aligned")
        return None

    def named(self, name: str) -> CtxField:
        """The field called `name` (PlatformError when absent)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise PlatformError(f"context {self.name} has no field {name!r}")

    def packet_fields(self) -> dict[str, CtxField]:
        """The fields that load packet pointers, by kind ("packet", "packet_end", "packet_meta")."""
        return {f.kind: f for f in self.fields if f.kind.startswith("packet")}


@dataclass(frozen=True)
class HelperProto:
    """A helper function: its number, argument kinds for r1..r5 and return kind.

    `ret_size_arg` is the 1-based argument (register) whose constant value is the size of the
    memory returned by a "mem_or_null" helper. `invalidates_packet` marks helpers that may move
    packet data (the kernel's bpf_helper_changes_pkt_data): every packet pointer dies at the call.
    """

    id: int
    name: str
    ret: str
    args: tuple[str, ...] = ()
    invalidates_packet: bool = False
    ret_size_arg: int | None = None

    def __post_init__(self) -> None:
        if self.ret not in RET_KINDS:
            raise PlatformError(f"helper {self.name}: unknown return kind {self.ret!r}")
        bad = [a for a in self.args if a not in ARG_KINDS]
        if bad or len(self.args) > 5:
            raise PlatformError(f"helper {self.name}: bad argument kinds {self.args!r}")
        if self.ret == "mem_or_null" and not self.ret_size_arg:
            raise PlatformError(f"helper {self.name}: mem_or_null needs ret_size_arg")

    @property
    def supported(self) -> bool:
        """False when an argument kind is one bpfcheck cannot check (calls are rejected)."""
        return "unsupported" not in self.args


@dataclass(frozen=True)
class ProgramType:
    """A program type (or an attach-type variant of one): its context and rules.

    `base` is the kernel program type a variant refines (e.g. "cgroup_sock_addr" for
    "cgroup_sock_addr/connect4"); for a plain type it equals `name`. `section_prefixes` follow
    libbpf: "xdp" matches "xdp" and "xdp/..."; a prefix ending in "/" matches anything after it.
    `packet_access`: direct packet reads; `packet_write`: direct packet writes. `helpers`: the
    platform-wide helper ids it may call (None: all). `own_helpers`: helpers only this type has,
    under numbers that other types may reuse (eBPF for Windows numbers them from 65536 per
    extension). `return_range`: inclusive bounds of r0 at exit (None: any).
    """

    name: str
    context: ContextLayout
    section_prefixes: tuple[str, ...] = ()
    packet_access: bool = False
    helpers: frozenset[int] | None = None
    return_range: tuple[int, int] | None = None
    packet_write: bool = False
    base: str = ""
    number: int | None = None
    privileged: bool = False
    own_helpers: tuple[HelperProto, ...] = ()

    def __post_init__(self) -> None:
        if not self.base:
            object.__setattr__(self, "base", self.name)

    def own_helper(self, helper_id: int) -> HelperProto | None:
        """The type-specific helper numbered `helper_id`, if this type has one."""
        for proto in self.own_helpers:
            if proto.id == helper_id:
                return proto
        return None

    def may_call(self, helper_id: int) -> bool:
        """Whether this program type may call helper `helper_id` (platform-wide or its own)."""
        if self.own_helper(helper_id) is not None:
            return True
        return self.helpers is None or helper_id in self.helpers


def section_matches(section: str, prefix: str) -> bool:
    """libbpf's rule: "xdp" matches "xdp" and "xdp/..."; "kprobe/" matches "kprobe/anything"."""
    if prefix.endswith("/"):
        return section.startswith(prefix) or section == prefix[:-1]
    return section == prefix or section.startswith(prefix + "/")


@dataclass(frozen=True, eq=False)
class Platform:
    """All the facts the analysis needs about one eBPF platform."""

    name: str
    program_types: Mapping[str, ProgramType]
    helpers: Mapping[int, HelperProto]
    map_types: Mapping[int, str]
    stack_size: int = 512
    max_call_depth: int = 8
    max_instructions: int = 1_000_000
    max_tail_calls: int = 33
    default_program_type: str | None = None   # for sections nothing matches (None: error)
    description: str = ""

    def program_type(self, name_or_section: str) -> ProgramType:
        """The program type with that name, or the one a section name means (libbpf rules, the
        longest prefix wins; then a plain-prefix fallback for legacy names like "socket1")."""
        found = self.program_types.get(name_or_section)
        if found is not None:
            return found
        found = self._by_section(name_or_section)
        if found is not None:
            return found
        if self.default_program_type is not None:
            return self.program_types[self.default_program_type]
        raise PlatformError(f"{self.name}: unknown program type or section {name_or_section!r}")

    def _by_section(self, section: str) -> ProgramType | None:
        best: tuple[int, ProgramType] | None = None
        for strict in (True, False):
            for pt in self.program_types.values():
                for prefix in pt.section_prefixes:
                    ok = (section_matches(section, prefix) if strict
                          else section.startswith(prefix.rstrip("/")))
                    if ok and (best is None or len(prefix) > best[0]):
                        best = (len(prefix), pt)
            if best is not None:
                return best[1]
        return None

    def program_type_for(self, type_name: str = "", section: str = "") -> ProgramType:
        """The most specific program type for a program: the attach-type variant its section
        names when that variant refines `type_name` (or when no type is given), else the type."""
        if section:
            by_section = self._by_section(section)
            if by_section is not None and (not type_name or by_section.base == type_name
                                           or by_section.name == type_name
                                           or type_name not in self.program_types):
                return by_section
        if type_name:
            return self.program_type(type_name)
        return self.program_type(section)

    def helper(self, helper_id: int, program_type: ProgramType | None = None) -> HelperProto:
        """The prototype of helper `helper_id`: the program type's own helper of that number if
        it has one, else the platform-wide one (PlatformError when there is none). Whether the
        type may call a platform-wide helper is `program_type.may_call(helper_id)`."""
        if program_type is not None:
            own = program_type.own_helper(helper_id)
            if own is not None:
                return own
        proto = self.helpers.get(helper_id)
        if proto is None:
            where = f" for program type {program_type.name}" if program_type is not None else ""
            raise PlatformError(f"{self.name}: unknown helper function {helper_id}{where}")
        return proto

    def callable_helpers(self, program_type: ProgramType) -> dict[int, HelperProto]:
        """Every helper `program_type` may call, by number."""
        table = {hid: p for hid, p in self.helpers.items() if program_type.may_call(hid)}
        table.update({p.id: p for p in program_type.own_helpers})
        return table

    def helper_named(self, name: str, program_type: ProgramType | None = None) -> HelperProto:
        """The prototype of the helper called `name` (with or without the "bpf_" prefix)."""
        key = name[4:] if name.startswith("bpf_") else name
        own = program_type.own_helpers if program_type is not None else ()
        for proto in (*own, *self.helpers.values()):
            if proto.name == key:
                return proto
        raise PlatformError(f"{self.name}: unknown helper function {name!r}")

    def map_type_name(self, number: int) -> str:
        """The name of map type `number` (PlatformError when unknown on this platform)."""
        name = self.map_types.get(number)
        if name is None:
            raise PlatformError(f"{self.name}: unknown map type {number}")
        return name


PLATFORM_MODULES = {"linux": "verifier.platforms.linux", "windows": "verifier.platforms.windows"}


@lru_cache(maxsize=None)
def get_platform(name: str = "linux") -> Platform:
    """The platform called `name` ("linux", "windows"); PlatformError when unknown."""
    module = PLATFORM_MODULES.get(name)
    if module is None:
        known = ", ".join(sorted(PLATFORM_MODULES))
        raise PlatformError(f"unknown platform {name!r} (known: {known})")
    platform = importlib.import_module(module).build()
    if not isinstance(platform, Platform):  # pragma: no cover - a bug in a platform module
        raise TypeError(f"{module}.build() did not return a Platform")
    return platform


def platform_names() -> tuple[str, ...]:
    """The names `get_platform` accepts."""
    return tuple(sorted(PLATFORM_MODULES))


def make_helpers(protos: Iterable[HelperProto]) -> dict[int, HelperProto]:
    """A helper table by id (PlatformError on a duplicate id or name)."""
    table: dict[int, HelperProto] = {}
    names: set[str] = set()
    for proto in protos:
        if proto.id in table or proto.name in names:
            raise PlatformError(f"duplicate helper {proto.id} {proto.name}")
        table[proto.id] = proto
        names.add(proto.name)
    return table


def describe(platform: Platform) -> dict[str, Any]:
    """A JSON-friendly summary of a platform (for docs and `--platform` listings)."""
    return {
        "name": platform.name,
        "program_types": sorted(platform.program_types),
        "helpers": len(platform.helpers),
        "map_types": len(platform.map_types),
        "stack_size": platform.stack_size,
        "max_call_depth": platform.max_call_depth,
    }
