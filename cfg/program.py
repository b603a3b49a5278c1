"""`Program`: what every stage after loading works on.

A program is a flat instruction array (the entry function first, then the subprograms it
calls, as the kernel sees it after libbpf's relocation) with its maps, program type, functions,
and line info. Program counters (`pc`) count 8-byte slots, as jump offsets do, so an lddw takes
two pcs and `pcs[i]` is the pc of `insns[i]`.

Map references: after loading from ELF, every map reference is an lddw with src
`LDDW_MAP_IDX` (imm = index into `maps`) or `LDDW_MAP_IDX_VALUE` (imm = index, next_imm =
offset into the value, for global data and map values). The fd forms (`LDDW_MAP_FD`,
`LDDW_MAP_VALUE`), as written in text programs, also name an index into `maps`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from cfg.isa import Insn, decode, encode

# Map types by the kernel's numbers (enum bpf_map_type); the names the loader and CLI print.
MAP_TYPES = {
    0: "unspec", 1: "hash", 2: "array", 3: "prog_array", 4: "perf_event_array",
    5: "percpu_hash", 6: "percpu_array", 7: "stack_trace", 8: "cgroup_array", 9: "lru_hash",
    10: "lru_percpu_hash", 11: "lpm_trie", 12: "array_of_maps", 13: "hash_of_maps",
    14: "devmap", 15: "sockmap", 16: "cpumap", 17: "xskmap", 18: "sockhash",
    19: "cgroup_storage", 20: "reuseport_sockarray", 21: "percpu_cgroup_storage", 22: "queue",
    23: "stack", 24: "sk_storage", 25: "devmap_hash", 26: "struct_ops", 27: "ringbuf",
    28: "inode_storage", 29: "task_storage", 30: "bloom_filter", 31: "user_ringbuf",
    32: "cgrp_storage", 33: "arena",
}
MAP_TYPE_IDS = {name: num for num, name in MAP_TYPES.items()}


@dataclass(frozen=True)
class MapDef:
    """A map as the program sees it. `kind` says where it was declared: `legacy` (`maps`
    section), `btf` (`.maps`), `data` / `rodata` / `bss` / `kconfig` (global variables, an array
    of one element whose value is the section), or `user` (given by hand)."""

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    inner: MapDef | None = None
    kind: str = "user"
    initial_value: bytes | None = None  # contents of .data / .rodata (zeros for .bss)
    pinning: int = 0

    @property
    def type_name(self) -> str:
        return MAP_TYPES.get(self.type, f"type{self.type}")

    @property
    def readonly(self) -> bool:
        """Read-only for the program: .rodata and maps created with BPF_F_RDONLY_PROG."""
        return self.kind in ("rodata", "kconfig") or bool(self.flags & (1 << 7))


@dataclass(frozen=True)
class LineInfo:
    """Source position of an instruction, from BTF.ext line info."""

    file: str
    line: int
    column: int = 0
    text: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Function:
    """A function of the program: its name and its pcs [start, end)."""

    name: str
    start: int
    end: int


@dataclass
class Program:
    """An eBPF program ready for analysis or execution."""

    insns: Sequence[Insn]
    name: str = "prog"
    section: str = ""
    type: str = "unspec"
    maps: Sequence[MapDef] = ()
    functions: Sequence[Function] = ()
    line_info: dict[int, LineInfo] = field(default_factory=dict)
    file: str = ""
    btf: Any = None                 # cfg.btf.Btf when loaded from an object with BTF
    core_relocs: Sequence[Any] = ()  # CO-RE relocations found (cfg.btf_ext.CoreReloc)
    core_results: Sequence[Any] = ()  # what was applied (cfg.core.CoreResult), in that order
    core_target: str = ""            # the target BTF they were applied against ("": none)
    pcs: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.insns = tuple(self.insns)
        self.maps = tuple(self.maps)
        pcs, pc = [], 0
        for insn in self.insns:
            pcs.append(pc)
            pc += insn.slots
        self.pcs = pcs
        self._index = {p: i for i, p in enumerate(pcs)}
        if not self.functions:
            self.functions = (Function(self.name, 0, pc),)
        self.functions = tuple(self.functions)

    @classmethod
    def from_bytes(cls, data: bytes, **kwargs: Any) -> Program:
        """A program from raw instruction bytes (DecodeError on bad input)."""
        return cls(decode(data), **kwargs)

    def to_bytes(self) -> bytes:
        return encode(self.insns)

    @property
    def end_pc(self) -> int:
        """One past the last slot."""
        return self.pcs[-1] + self.insns[-1].slots if self.insns else 0

    def index_of(self, pc: int) -> int | None:
        """Index into `insns` of the instruction starting at `pc` (None inside an lddw)."""
        return self._index.get(pc)

    def at(self, pc: int) -> Insn:
        return self.insns[self._index[pc]]

    def items(self):
        """(pc, insn) pairs in order."""
        return zip(self.pcs, self.insns)

    def function_at(self, pc: int) -> Function | None:
        for fn in self.functions:
            if fn.start <= pc < fn.end:
                return fn
        return None

    def source(self, pc: int) -> LineInfo | None:
        """The nearest line info at or before `pc` within its function."""
        if pc in self.line_info:
            return self.line_info[pc]
        fn = self.function_at(pc)
        lo = fn.start if fn else 0
        for p in range(pc - 1, lo - 1, -1):
            if p in self.line_info:
                return self.line_info[p]
        return None
