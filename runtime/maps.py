"""eBPF maps for the runtime: array, per-CPU array, hash, per-CPU hash, LRU hash, prog_array,
ring buffer, array/hash of maps, perf event array, dev/cpu maps, queue and stack.

Values live in ctypes buffers registered in a `Memory`, so a lookup returns a real address the
program can load from and store to, and a value keeps its address for its lifetime (a hash map
allocates one buffer per entry). Python-side and program-side operations return the kernel's
error codes (negative errno). One CPU is modelled: per-CPU maps hold one value per key.
"""
from __future__ import annotations

import collections
import ctypes
import json
import re
from typing import Any, Iterable, Sequence

from cfg.errors import BpfcheckError
from cfg.program import MAP_TYPE_IDS, MapDef

from runtime.memory import GUARD, Memory, Region, alloc

EPERM, ENOENT, E2BIG, ENOMEM, EBUSY, EEXIST, EINVAL, ENOSPC = 1, 2, 7, 12, 16, 17, 22, 28
BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK = 0, 1, 2, 4
NCPUS = 1
# Arrays with more elements than this get one region for the whole array (not one per
# element): bounds are then checked against the array, not the element.
MAX_ELEMENT_REGIONS = 1 << 16
# Arrays are allocated whole (and zeroed): a larger one is refused with a MapError rather than
# taking the machine's memory. The kernel allows up to 4 GiB; real programs stay far below.
MAX_ARRAY_BYTES = 1 << 28


_NONZERO = re.compile(rb"[^\x00]")


class MapError(BpfcheckError):
    """Bad map contents given from Python or JSON (wrong key size, unknown map, ...)."""


def _round8(n: int) -> int:
    return (n + 7) & ~7


def parse_hex(text: str) -> bytes:
    """Bytes from hex text, with optional 0x prefix and spaces."""
    t = text.strip().lower()
    if t.startswith("0x"):
        t = t[2:]
    t = t.replace(" ", "").replace(":", "")
    try:
        return bytes.fromhex(t)
    except ValueError:
        raise MapError(f"not a hex byte string: {text!r}") from None


class Map:
    """Base class: definition, memory, handle address (the `map pointer` a program holds)."""

    def __init__(self, mdef: MapDef, memory: Memory) -> None:
        self.defn = mdef
        self.name = mdef.name
        self.key_size = mdef.key_size
        self.value_size = mdef.value_size
        self.max_entries = mdef.max_entries
        self.memory = memory
        self.readonly = mdef.readonly
        self.handle: Region = memory.add(f"map {mdef.name}", "map_object", 8, readable=False,
                                         writable=False, owner=self)

    @property
    def address(self) -> int:
        """The value of a register holding this map (lddw map fd/index)."""
        return self.handle.start

    def _key(self, key: bytes) -> bytes:
        key = bytes(key)
        if len(key) != self.key_size:
            raise MapError(f"map {self.name}: key of {len(key)} bytes, expected {self.key_size}")
        return key

    def _value(self, value: bytes) -> bytes:
        value = bytes(value)
        if len(value) != self.value_size:
            raise MapError(f"map {self.name}: value of {len(value)} bytes, "
                           f"expected {self.value_size}")
        return value

    # program side (addresses) -------------------------------------------------------------
    def lookup_addr(self, key: bytes) -> int:
        """Address of the value for `key`, 0 when absent."""
        return 0

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> int:
        return -EINVAL

    def delete(self, key: bytes) -> int:
        return -EINVAL

    # python side ----------------------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        """The value stored under `key` (None when absent)."""
        addr = self.lookup_addr(self._key(key))
        return self.memory.read(addr, self.value_size) if addr else None

    def set(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        """Store a value from Python; MapError on a kernel error code."""
        err = self.update(self._key(key), self._value(value), flags)
        if err:
            raise MapError(f"map {self.name}: update failed with errno {-err}")

    def items(self) -> list[tuple[bytes, bytes]]:
        return []

    def dump(self) -> Any:
        """JSON-ready contents: {key hex: value hex} (arrays: non-zero entries only)."""
        return {k.hex(): v.hex() for k, v in self.items()}

    def load(self, data: Any, loader: MapSet) -> None:
        if not isinstance(data, dict):
            raise MapError(f"map {self.name}: expected an object of key hex -> value hex")
        for k, v in data.items():
            if not isinstance(v, str):
                raise MapError(f"map {self.name}: value for {k} must be a hex string")
            try:
                key, value = parse_hex(k), parse_hex(v)
            except MapError as exc:
                raise MapError(f"map {self.name}: {exc}") from None
            self.set(key, value)


class ArrayMap(Map):
    """array / percpu_array / global data: one buffer, one region per element."""

    def __init__(self, mdef: MapDef, memory: Memory) -> None:
        super().__init__(mdef, memory)
        if self.key_size != 4:
            raise MapError(f"array map {self.name}: key size must be 4, not {self.key_size}")
        n = self.max_entries
        # Elements with regions of their own are kept apart by a guard gap, so that an access
        # running past one element traps in checked runs instead of landing in the next one.
        gap = GUARD if 1 < n <= MAX_ELEMENT_REGIONS else 0
        self.stride = _round8(max(1, self.value_size)) + gap
        if self.stride * n > MAX_ARRAY_BYTES:
            raise MapError(f"array map {self.name}: {n} entries of {self.value_size} bytes "
                           f"need {self.stride * n} bytes, more than the runtime allocates "
                           f"({MAX_ARRAY_BYTES})")
        self.buf = alloc(self.stride * n + 2 * GUARD)
        base = ctypes.addressof(self.buf) + GUARD
        if mdef.initial_value:
            ctypes.memmove(base, mdef.initial_value, min(len(mdef.initial_value),
                                                         self.stride * n))
        kind = "global" if mdef.kind in ("data", "rodata", "bss", "kconfig") else "map_value"
        writable = not self.readonly
        if n <= MAX_ELEMENT_REGIONS:
            self.regions = [Region(f"{self.name}[{i}]" if n > 1 else self.name, kind, self.buf,
                                   base + i * self.stride, self.value_size, True, writable, self)
                            for i in range(n)]
            memory.add_many(self.regions)
        else:
            self.regions = [memory.add_region(Region(self.name, kind, self.buf, base,
                                                     self.stride * n, True, writable, self))]
        self.base = base

    def lookup_addr(self, key: bytes) -> int:
        idx = int.from_bytes(key, "little")
        return self.base + idx * self.stride if idx < self.max_entries else 0

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> int:
        if flags & ~BPF_F_LOCK > BPF_EXIST:
            return -EINVAL
        idx = int.from_bytes(key, "little")
        if idx >= self.max_entries:
            return -E2BIG
        if flags & ~BPF_F_LOCK == BPF_NOEXIST:
            return -EEXIST
        self.memory.write_raw(self.base + idx * self.stride, value[:self.value_size])
        return 0

    def delete(self, key: bytes) -> int:
        return -EINVAL

    def items(self) -> list[tuple[bytes, bytes]]:
        out = []
        raw = ctypes.string_at(self.base, self.stride * self.max_entries)
        i = 0
        while (found := _NONZERO.search(raw, i * self.stride)) is not None:
            i = found.start() // self.stride  # skips runs of zero elements at C speed
            v = raw[i * self.stride:i * self.stride + self.value_size]
            if any(v):
                out.append((i.to_bytes(4, "little"), v))
            i += 1
        return out


class HashMap(Map):
    """hash / percpu_hash / lru_hash / lru_percpu_hash: one buffer and region per entry."""

    def __init__(self, mdef: MapDef, memory: Memory, lru: bool = False) -> None:
        super().__init__(mdef, memory)
        self.lru = lru
        self.entries: collections.OrderedDict[bytes, Region] = collections.OrderedDict()

    def lookup_addr(self, key: bytes) -> int:
        r = self.entries.get(bytes(key))
        if r is None:
            return 0
        if self.lru:
            self.entries.move_to_end(bytes(key))
        return r.start

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> int:
        key = bytes(key)
        if flags & ~BPF_F_LOCK > BPF_EXIST:
            return -EINVAL
        flags &= ~BPF_F_LOCK
        r = self.entries.get(key)
        if r is not None:
            if flags == BPF_NOEXIST:
                return -EEXIST
            self.memory.write_raw(r.start, value[:self.value_size])
            if self.lru:
                self.entries.move_to_end(key)
            return 0
        if flags == BPF_EXIST:
            return -ENOENT
        if len(self.entries) >= self.max_entries:
            if not self.lru:
                return -E2BIG
            _old, victim = self.entries.popitem(last=False)
            self.memory.remove(victim)
        r = self.memory.add(f"{self.name}[{key.hex()}]", "map_value", self.value_size,
                            value[:self.value_size], writable=not self.readonly, owner=self)
        self.entries[key] = r
        return 0

    def delete(self, key: bytes) -> int:
        r = self.entries.pop(bytes(key), None)
        if r is None:
            return -ENOENT
        self.memory.remove(r)
        return 0

    def items(self) -> list[tuple[bytes, bytes]]:
        return [(k, r.bytes()) for k, r in self.entries.items()]


class ProgArrayMap(Map):
    """prog_array: index -> Program, for tail calls; filled from Python or JSON by name."""

    def __init__(self, mdef: MapDef, memory: Memory) -> None:
        super().__init__(mdef, memory)
        self.programs: dict[int, Any] = {}

    def set_program(self, index: int, program: Any) -> None:
        if not 0 <= index < self.max_entries:
            raise MapError(f"prog_array {self.name}: index {index} out of range")
        self.programs[index] = program

    def delete(self, key: bytes) -> int:
        return 0 if self.programs.pop(int.from_bytes(key, "little"), None) is not None \
            else -ENOENT

    def dump(self) -> Any:
        return {i.to_bytes(4, "little").hex(): getattr(p, "name", str(p))
                for i, p in sorted(self.programs.items())}

    def load(self, data: Any, loader: MapSet) -> None:
        if not isinstance(data, dict):
            raise MapError(f"prog_array {self.name}: expected an object key hex -> program")
        for k, v in data.items():
            prog = loader.programs.get(v) if isinstance(v, str) else None
            if prog is None:
                raise MapError(f"prog_array {self.name}: unknown program {v!r} "
                               f"(known: {', '.join(sorted(loader.programs)) or 'none'})")
            self.set_program(int.from_bytes(parse_hex(k), "little"), prog)


class MapOfMaps(Map):
    """array_of_maps / hash_of_maps: key -> inner Map; a lookup yields the inner map pointer."""

    def __init__(self, mdef: MapDef, memory: Memory, array: bool) -> None:
        super().__init__(mdef, memory)
        self.array = array
        self.inner: dict[bytes, Map] = {}

    def set_inner(self, key: bytes, inner: Map) -> None:
        key = self._key(key)
        if self.array and int.from_bytes(key, "little") >= self.max_entries:
            raise MapError(f"{self.name}: index out of range")
        self.inner[key] = inner

    def lookup_addr(self, key: bytes) -> int:
        m = self.inner.get(bytes(key))
        return m.address if m else 0

    def delete(self, key: bytes) -> int:
        return 0 if self.inner.pop(bytes(key), None) else -ENOENT

    def dump(self) -> Any:
        return {k.hex(): m.dump() for k, m in self.inner.items()}

    def load(self, data: Any, loader: MapSet) -> None:
        if not isinstance(data, dict):
            raise MapError(f"{self.name}: expected an object key hex -> inner map contents")
        template = self.defn.inner or MapDef(f"{self.name}.inner", MAP_TYPE_IDS["array"], 4,
                                             self.value_size or 4, 1)
        for k, v in data.items():
            key = parse_hex(k)
            inner = make_map(MapDef(f"{self.name}[{key.hex()}]", template.type,
                                    template.key_size, template.value_size,
                                    template.max_entries, template.flags), self.memory)
            loader.register_inner(inner)
            inner.load(v, loader)
            self.set_inner(key, inner)


class RingBuf(Map):
    """ringbuf: reserve/submit/discard/output; committed records kept in `records`."""

    HEADER = 8

    def __init__(self, mdef: MapDef, memory: Memory) -> None:
        super().__init__(mdef, memory)
        self.records: list[bytes] = []
        self.pending: dict[int, Region] = {}
        self.used = 0

    def _cost(self, size: int) -> int:
        return _round8(size + self.HEADER)

    def reserve(self, size: int) -> int:
        if size <= 0 or self.used + self._cost(size) > self.max_entries:
            return 0
        r = self.memory.add(f"{self.name} record", "ringbuf", size, owner=self)
        self.pending[r.start] = r
        self.used += self._cost(size)
        return r.start

    def commit(self, addr: int, keep: bool) -> bool:
        r = self.pending.pop(addr, None)
        if r is None:
            return False
        if keep:
            self.records.append(r.bytes())
        else:
            self.used -= self._cost(r.size)
        self.memory.remove(r)
        return True

    def output(self, data: bytes) -> int:
        if self.used + self._cost(len(data)) > self.max_entries:
            return -EBUSY
        self.used += self._cost(len(data))
        self.records.append(bytes(data))
        return 0

    def drain(self) -> list[bytes]:
        """Consume the committed records (as a user-space reader would)."""
        out, self.records = self.records, []
        self.used = sum(self._cost(r.size) for r in self.pending.values())
        return out

    def dump(self) -> Any:
        return [r.hex() for r in self.records]

    def load(self, data: Any, loader: MapSet) -> None:
        if data:
            raise MapError(f"ringbuf {self.name} cannot be filled")


class PerfEventArray(Map):
    """perf_event_array: bpf_perf_event_output appends to `events`."""

    def __init__(self, mdef: MapDef, memory: Memory) -> None:
        super().__init__(mdef, memory)
        self.events: list[bytes] = []

    def dump(self) -> Any:
        return [e.hex() for e in self.events]

    def load(self, data: Any, loader: MapSet) -> None:
        if data:
            raise MapError(f"perf_event_array {self.name} cannot be filled")


class QueueMap(Map):
    """queue (FIFO) and stack (LIFO): push/pop/peek helpers; keyless."""

    def __init__(self, mdef: MapDef, memory: Memory, lifo: bool) -> None:
        super().__init__(mdef, memory)
        self.lifo = lifo
        self.values: collections.deque[bytes] = collections.deque()

    def push(self, value: bytes, flags: int) -> int:
        if len(self.values) >= self.max_entries:
            if flags != BPF_EXIST:
                return -E2BIG
            self.values.popleft()
        self.values.append(bytes(value))
        return 0

    def pop(self, remove: bool) -> bytes | None:
        if not self.values:
            return None
        if self.lifo:
            return self.values.pop() if remove else self.values[-1]
        return self.values.popleft() if remove else self.values[0]

    def dump(self) -> Any:
        return [v.hex() for v in self.values]

    def load(self, data: Any, loader: MapSet) -> None:
        if not isinstance(data, list):
            raise MapError(f"{self.name}: expected a list of value hex")
        for v in data:
            if self.push(self._value(parse_hex(v)), BPF_ANY):
                raise MapError(f"{self.name}: full")


_ARRAY_TYPES = {"array", "percpu_array", "devmap", "cpumap", "xskmap", "cgroup_array",
                "sockmap", "reuseport_sockarray"}
_HASH_TYPES = {"hash": False, "percpu_hash": False, "lru_hash": True, "lru_percpu_hash": True,
               "devmap_hash": False, "sockhash": False, "lpm_trie": False}


def make_map(mdef: MapDef, memory: Memory) -> Map:
    """The runtime map for a definition (MapError for kinds we do not model)."""
    t = mdef.type_name
    if t in _ARRAY_TYPES:
        return ArrayMap(mdef, memory)
    if t in _HASH_TYPES:
        return HashMap(mdef, memory, lru=_HASH_TYPES[t])
    if t == "prog_array":
        return ProgArrayMap(mdef, memory)
    if t in ("array_of_maps", "hash_of_maps"):
        return MapOfMaps(mdef, memory, array=t == "array_of_maps")
    if t == "ringbuf":
        return RingBuf(mdef, memory)
    if t == "perf_event_array":
        return PerfEventArray(mdef, memory)
    if t in ("queue", "stack"):
        return QueueMap(mdef, memory, lifo=t == "stack")
    raise MapError(f"map {mdef.name}: type {t} is not supported by the runtime")


class MapSet:
    """The maps of one program (by index as in `program.maps`, and by name) and their memory."""

    def __init__(self, defs: Sequence[MapDef] = (), memory: Memory | None = None,
                 programs: dict[str, Any] | None = None) -> None:
        self.memory = memory if memory is not None else Memory()
        self.maps: list[Map] = [make_map(d, self.memory) for d in defs]
        self.by_name = {m.name: m for m in self.maps}
        self.programs: dict[str, Any] = dict(programs or {})
        self._by_addr = {m.address: m for m in self.maps}

    @classmethod
    def for_program(cls, program: Any, memory: Memory | None = None) -> MapSet:
        return cls(program.maps, memory)

    def register_inner(self, inner: Map) -> None:
        self._by_addr[inner.address] = inner

    def __getitem__(self, key: str | int) -> Map:
        try:
            return self.maps[key] if isinstance(key, int) else self.by_name[key]
        except (IndexError, KeyError):
            raise MapError(f"no map {key!r}") from None

    def __len__(self) -> int:
        return len(self.maps)

    def __iter__(self):
        return iter(self.maps)

    def by_address(self, addr: int) -> Map | None:
        """The map whose pointer is `addr` (helpers receive map pointers)."""
        return self._by_addr.get(addr)

    def dump(self) -> dict[str, Any]:
        """All contents as JSON-ready data (see docs/runtime.md for the schema)."""
        return {m.name: m.dump() for m in self.maps}

    def load(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise MapError("maps JSON must be an object: map name -> contents")
        for name, contents in data.items():
            self[name].load(contents, self)

    def load_json(self, text: str) -> None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MapError(f"maps JSON: {exc}") from None
        self.load(data)

    def dump_json(self) -> str:
        return json.dumps(self.dump(), indent=2, sort_keys=True)


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The maps whose dump differs (for `bpfcheck run`)."""
    return {k: v for k, v in after.items() if before.get(k) != v}


def map_names(maps: Iterable[Map]) -> list[str]:
    return [m.name for m in maps]
