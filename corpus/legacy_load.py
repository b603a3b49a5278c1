#!/usr/bin/env python3
"""Load a corpus object whose maps are declared the legacy way (SEC("maps")) into the kernel.

libbpf >= 1.0 (and so bpftool) refuses legacy map sections, so kernel_check.sh uses this small
loader for those objects: it creates each map from its `struct bpf_map_def`, patches the lddw
map relocations with the map fds, and calls BPF_PROG_LOAD once per program, printing the
verifier log of any program the kernel refuses. It handles what the corpus needs (one program
per function, map relocations only) and says so when an object needs more.

Usage: legacy_load.py OBJECT.o   -> exit 0 if every program loaded, 1 if the kernel refused
one (verifier log on stdout), 3 if the object cannot be loaded by this loader.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

SYS_BPF = 321  # x86-64
BPF_MAP_CREATE = 0
BPF_PROG_LOAD = 5
BPF_PSEUDO_MAP_FD = 1
LOG_SIZE = 1 << 20

# libbpf section-name prefixes -> kernel program type ids (the subset the legacy objects use).
PROG_TYPES = {
    "socket": 1,       # BPF_PROG_TYPE_SOCKET_FILTER
    "kprobe/": 2,      # BPF_PROG_TYPE_KPROBE
    "classifier": 3,   # BPF_PROG_TYPE_SCHED_CLS
    "tc": 3,
    "tracepoint/": 5,  # BPF_PROG_TYPE_TRACEPOINT
    "xdp": 6,          # BPF_PROG_TYPE_XDP
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class NotLoadable(Exception):
    """The object needs a loader feature this script does not have."""


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    """Issue the bpf(2) system call; return its result or raise OSError."""
    ret = _libc.syscall(SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _create_map(name: str, fields: tuple[int, int, int, int, int]) -> int:
    """Create one map from the five u32 fields of a legacy map definition."""
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<5I", attr, 0, *fields)
    struct.pack_into("16s", attr, 28, name.encode()[:15])  # map_name after numa_node
    return _bpf(BPF_MAP_CREATE, attr)


def _prog_type(section: str) -> int:
    """Program type from the section name, as libbpf would pick it."""
    for prefix, kind in PROG_TYPES.items():
        if section == prefix or (prefix.endswith("/") and section.startswith(prefix)):
            return kind
    raise NotLoadable(f"section {section!r}: program type not supported by this loader")


def _load_prog(name: str, kind: int, insns: bytes, license_: bytes) -> tuple[int, str]:
    """BPF_PROG_LOAD one program; return (fd or -errno, verifier log)."""
    attr = ctypes.create_string_buffer(160)
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license_)
    log = ctypes.create_string_buffer(LOG_SIZE)
    struct.pack_into("<IIQQIIQ", attr, 0, kind, len(insns) // 8, ctypes.addressof(code),
                     ctypes.addressof(lic), 1, LOG_SIZE, ctypes.addressof(log))
    struct.pack_into("16s", attr, 48, name.encode()[:15])
    try:
        fd = _bpf(BPF_PROG_LOAD, attr)
    except OSError as exc:
        return -exc.errno, log.value.decode(errors="replace")
    return fd, log.value.decode(errors="replace")


def load(path: str) -> int:
    """Load every program of a legacy-map object; return the exit code described above."""
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        symtab = elf.get_section_by_name(".symtab")
        maps_sec = elf.get_section_by_name("maps")
        lic_sec = elf.get_section_by_name("license")
        if symtab is None or maps_sec is None:
            raise NotLoadable("no symbol table or no legacy `maps` section")
        maps_idx = elf.get_section_index("maps")
        license_ = lic_sec.data().split(b"\0")[0] + b"\0" if lic_sec else b"GPL\0"
        fds: dict[str, int] = {}
        for sym in symtab.iter_symbols():
            if sym["st_shndx"] == maps_idx and sym["st_info"]["type"] == "STT_OBJECT":
                raw = maps_sec.data()[sym["st_value"]:sym["st_value"] + 20]
                fds[sym.name] = _create_map(sym.name, struct.unpack("<5I", raw))
        failures = 0
        for idx, sec in enumerate(elf.iter_sections()):
            if sec["sh_type"] != "SHT_PROGBITS" or not sec["sh_flags"] & 0x4:  # SHF_EXECINSTR
                continue
            if sec["sh_size"] == 0:
                continue
            if sec.name == ".text":
                raise NotLoadable(".text subprograms need bpf-to-bpf call linking")
            code = bytearray(sec.data())
            rel = elf.get_section_by_name(".rel" + sec.name)
            if isinstance(rel, RelocationSection):
                for r in rel.iter_relocations():
                    target = symtab.get_symbol(r["r_info_sym"])
                    if target.name not in fds:
                        raise NotLoadable(f"relocation to {target.name!r} is not a legacy map")
                    off = r["r_offset"]
                    code[off + 1] = (code[off + 1] & 0x0F) | (BPF_PSEUDO_MAP_FD << 4)
                    struct.pack_into("<i", code, off + 4, fds[target.name])
            kind = _prog_type(sec.name)
            funcs = sorted((s["st_value"], s["st_size"], s.name) for s in symtab.iter_symbols()
                           if s["st_shndx"] == idx and s["st_info"]["type"] == "STT_FUNC")
            for start, size, name in funcs:
                fd, log = _load_prog(name, kind, bytes(code[start:start + size]), license_)
                if fd < 0:
                    failures += 1
                    print(f"-- {sec.name}/{name}: load failed: {os.strerror(-fd)}")
                    print(log)
                else:
                    print(f"-- {sec.name}/{name}: loaded")
                    os.close(fd)
        for fd in fds.values():
            os.close(fd)
        return 1 if failures else 0


def main(argv: list[str]) -> int:
    """Command-line entry: one object path."""
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-3], file=sys.stderr)
        return 3
    try:
        return load(argv[1])
    except NotLoadable as exc:
        print(f"not loadable: {exc}")
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
