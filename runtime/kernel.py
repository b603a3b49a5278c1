"""The live Linux kernel as an oracle, through the bpf(2) syscall with ctypes.

`available()` says whether this process may load programs. `KernelMaps` creates the maps of a
program; `load(program, ...)` rewrites map-index lddw forms into fds and loads the program,
returning the kernel verifier's verdict and log; `test_run(...)` runs a loaded program with
BPF_PROG_TEST_RUN. `run_data_test()` runs a bpf_conformance-style test (see docs/runtime.md):
the program is loaded as XDP behind a prologue that sets r1 = memory (the packet, bounds
checked so the kernel verifier accepts accesses) and r2 = its length, and every exit of the
entry function is run twice (low and high 32 bits of r0) since the kernel reports a u32 retval.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import struct
from dataclasses import dataclass

from cfg import isa
from cfg.errors import BpfcheckError
from cfg.isa import Insn
from cfg.program import MapDef, Program

SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine(), 321)
BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM = 0, 1, 2, 3
BPF_MAP_GET_NEXT_KEY, BPF_PROG_LOAD, BPF_PROG_TEST_RUN = 4, 5, 10
BPF_OBJ_GET_INFO_BY_FD = 15
PROG_INFO_SIZE = 256   # bpf_prog_info: jited_prog_len at 16, jited_prog_insns at 24
JIT_ENABLE = "/proc/sys/net/core/bpf_jit_enable"
PROG_TYPES = {"socket_filter": 1, "kprobe": 2, "sched_cls": 3, "sched_act": 4,
              "tracepoint": 5, "xdp": 6, "cgroup_skb": 8}
ATTR_SIZE = 160
LOG_SIZE = 1 << 20

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class KernelError(BpfcheckError):
    """The bpf syscall failed (errno and, for loads, the verifier log)."""

    def __init__(self, message: str, err: int = 0, log: str = "") -> None:
        self.errno = err
        self.log = log
        super().__init__(message)


def bpf(cmd: int, attr: ctypes.Array) -> int:
    """Call bpf(cmd, attr); KernelError with errno on failure."""
    ret = _libc.syscall(SYS_BPF, cmd, attr, ctypes.sizeof(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise KernelError(f"bpf({cmd}) failed: {os.strerror(err)}", err)
    return ret


def _attr() -> ctypes.Array:
    return ctypes.create_string_buffer(ATTR_SIZE)


def _ptr(buf) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


_AVAILABLE: tuple[bool, str] | None = None


def available() -> tuple[bool, str]:
    """(True, "") when this process can load and test-run BPF programs, else (False, why)."""
    global _AVAILABLE
    if _AVAILABLE is None:
        if platform.system() != "Linux":
            _AVAILABLE = (False, "not Linux")
        else:
            try:
                fd, _log = load_insns([Insn(isa.CLS_ALU64 | isa.ALU_MOV, 0, 0, 0, 2),
                                       Insn(isa.CLS_JMP | isa.JMP_EXIT)], "xdp")
                os.close(fd)
                _AVAILABLE = (True, "")
            except KernelError as exc:
                _AVAILABLE = (False, f"the kernel refuses BPF programs: {exc} "
                                     f"(uid {os.getuid()})")
            except OSError as exc:
                _AVAILABLE = (False, f"no bpf syscall: {exc}")
    return _AVAILABLE


def jit_enabled(path: str | None = None) -> tuple[bool, str]:
    """(True, "") when the kernel compiles BPF programs to native code, else (False, why)."""
    path = path or JIT_ENABLE
    try:
        with open(path, encoding="ascii") as f:
            value = f.read().strip()
    except OSError as exc:
        return False, f"cannot read {path}: {exc.strerror}"
    if value in ("1", "2"):
        return True, ""
    return False, f"the kernel's BPF JIT is disabled ({path} = {value})"


# --- maps -------------------------------------------------------------------------------------
class KernelMap:
    """A kernel map (fd) made from a MapDef."""

    def __init__(self, mdef: MapDef, inner_fd: int = 0) -> None:
        self.defn = mdef
        attr = _attr()
        struct.pack_into("<IIIIII", attr, 0, mdef.type, mdef.key_size, mdef.value_size,
                         mdef.max_entries, mdef.flags, inner_fd)
        name = "".join(c for c in mdef.name if c.isalnum() or c in "_.")[:15].encode()
        attr[28:28 + len(name)] = name
        self.fd = bpf(BPF_MAP_CREATE, attr)
        if mdef.initial_value is not None and mdef.kind in ("data", "rodata", "bss",
                                                              "kconfig"):
            value = mdef.initial_value.ljust(mdef.value_size, b"\0")[:mdef.value_size]
            self.update(b"\0\0\0\0", value)

    def _elem(self, cmd: int, key: bytes, value, flags: int = 0) -> None:
        kbuf = ctypes.create_string_buffer(key, len(key))
        attr = _attr()
        struct.pack_into("<IIQQQ", attr, 0, self.fd, 0, _ptr(kbuf), _ptr(value), flags)
        bpf(cmd, attr)

    def update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        self._elem(BPF_MAP_UPDATE_ELEM, key, ctypes.create_string_buffer(value, len(value)),
                   flags)

    def lookup(self, key: bytes) -> bytes | None:
        out = ctypes.create_string_buffer(self.defn.value_size)
        try:
            self._elem(BPF_MAP_LOOKUP_ELEM, key, out)
        except KernelError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise
        return out.raw

    def keys(self) -> list[bytes]:
        """Every key, by BPF_MAP_GET_NEXT_KEY."""
        out: list[bytes] = []
        key = None
        while True:
            nxt = ctypes.create_string_buffer(self.defn.key_size)
            kbuf = ctypes.create_string_buffer(key, len(key)) if key is not None else None
            attr = _attr()
            struct.pack_into("<IIQQ", attr, 0, self.fd, 0, _ptr(kbuf), _ptr(nxt))
            try:
                bpf(BPF_MAP_GET_NEXT_KEY, attr)
            except KernelError as exc:
                if exc.errno == errno.ENOENT:
                    return out
                raise
            key = nxt.raw
            out.append(key)

    def items(self) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k in self.keys() if (v := self.lookup(k)) is not None]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class KernelMaps:
    """The kernel maps of a program, by index as in `program.maps`."""

    def __init__(self, defs) -> None:
        self.maps: list[KernelMap] = []
        try:
            for d in defs:
                inner_fd = 0
                tmp = None
                if d.inner is not None:
                    tmp = KernelMap(d.inner)
                    inner_fd = tmp.fd
                self.maps.append(KernelMap(d, inner_fd))
                if tmp is not None:
                    tmp.close()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for m in self.maps:
            m.close()

    def __enter__(self) -> KernelMaps:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- programs -------------------------------------------------------------------------------
def resolve_maps(insns, maps: KernelMaps | None) -> list[Insn]:
    """Rewrite lddw map-index forms (src 5/6, and fd forms 1/2 meaning an index) into fds."""
    out = []
    for insn in insns:
        if insn.opcode == isa.OPCODE_LDDW and insn.src in (
                isa.LDDW_MAP_FD, isa.LDDW_MAP_IDX, isa.LDDW_MAP_VALUE, isa.LDDW_MAP_IDX_VALUE):
            if maps is None or not 0 <= insn.imm < len(maps.maps):
                raise KernelError(f"lddw refers to map {insn.imm}, which was not created")
            src = isa.LDDW_MAP_FD if insn.src in (isa.LDDW_MAP_FD, isa.LDDW_MAP_IDX) \
                else isa.LDDW_MAP_VALUE
            insn = Insn(insn.opcode, insn.dst, src, 0, maps.maps[insn.imm].fd, insn.next_imm)
        out.append(insn)
    return out


def load_insns(insns, prog_type: str = "xdp", name: str = "bpfcheck",
               log_level: int = 1) -> tuple[int, str]:
    """Load instructions; (fd, verifier log). KernelError (with the log) when rejected."""
    if prog_type not in PROG_TYPES:
        raise KernelError(f"program type {prog_type!r} cannot be test-run here")
    code = isa.encode(insns)
    cbuf = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr = _attr()
    struct.pack_into("<IIQQIIQ", attr, 0, PROG_TYPES[prog_type], len(code) // 8, _ptr(cbuf),
                     _ptr(lic), log_level, LOG_SIZE if log_level else 0,
                     _ptr(log) if log_level else 0)
    pname = "".join(c for c in name if c.isalnum() or c == "_")[:15].encode()
    attr[48:48 + len(pname)] = pname
    try:
        fd = bpf(BPF_PROG_LOAD, attr)
    except KernelError as exc:
        text = log.value.decode("utf-8", "replace")
        if exc.errno == errno.ENOSPC and log_level:
            # the log did not fit: the verdict is what matters, load again without a log
            fd, _ = load_insns(insns, prog_type, name, 0)
            return fd, text + "\n(log truncated)"
        raise KernelError(f"kernel verifier rejected the program: {os.strerror(exc.errno)}",
                          exc.errno, text) from None
    return fd, log.value.decode("utf-8", "replace")


@dataclass(frozen=True)
class Loaded:
    """A program accepted by the kernel."""

    fd: int
    log: str


@dataclass(frozen=True)
class TestRun:
    """What BPF_PROG_TEST_RUN returned: r0 (u32), output data and ctx, mean ns per run."""

    retval: int
    data: bytes
    ctx: bytes | None
    duration_ns: int


def load(program: Program, maps: KernelMaps | None = None, prog_type: str | None = None,
         log_level: int = 1) -> Loaded:
    """Load a Program (maps created beforehand with KernelMaps); KernelError when refused."""
    fd, log = load_insns(resolve_maps(program.insns, maps), prog_type or program.type,
                         program.name, log_level)
    return Loaded(fd, log)


def test_run(fd: int, data: bytes = b"", ctx: bytes | None = None, repeat: int = 1,
             data_out_size: int | None = None) -> TestRun:
    """BPF_PROG_TEST_RUN on a loaded program."""
    din = ctypes.create_string_buffer(data, max(1, len(data)))
    out_size = data_out_size if data_out_size is not None else len(data) + 512
    dout = ctypes.create_string_buffer(max(1, out_size))
    cin = ctypes.create_string_buffer(ctx, len(ctx)) if ctx else None
    cout = ctypes.create_string_buffer(len(ctx)) if ctx else None
    attr = _attr()
    struct.pack_into("<IIIIQQIIIIQQ", attr, 0, fd, 0, len(data), out_size, _ptr(din),
                     _ptr(dout), max(1, repeat), 0, len(ctx) if ctx else 0,
                     len(ctx) if ctx else 0, _ptr(cin), _ptr(cout))
    bpf(BPF_PROG_TEST_RUN, attr)
    retval, dsize = struct.unpack_from("<I", attr, 4)[0], struct.unpack_from("<I", attr, 12)[0]
    duration = struct.unpack_from("<I", attr, 36)[0]
    return TestRun(retval, dout.raw[:min(dsize, out_size)], cout.raw if cout else None,
                   duration)


def jited_code(fd: int) -> bytes:
    """The native code the kernel's JIT made for a loaded program (BPF_OBJ_GET_INFO_BY_FD's
    jited_prog_insns); b"" when it was not JIT-compiled or the kernel hides it."""
    def info(buf_len: int, buf) -> bytearray:
        out = ctypes.create_string_buffer(PROG_INFO_SIZE)
        struct.pack_into("<IIQ", out, 16, buf_len, 0, _ptr(buf))
        attr = _attr()
        struct.pack_into("<IIQ", attr, 0, fd, PROG_INFO_SIZE, _ptr(out))
        bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
        return bytearray(out.raw)

    size = struct.unpack_from("<I", info(0, None), 16)[0]
    if not size:
        return b""
    code = ctypes.create_string_buffer(size)
    got, _xlated, address = struct.unpack_from("<IIQ", info(size, code), 16)
    return code.raw[:got] if address else b""


def high_half(insns: list[Insn]) -> list[Insn]:
    """`insns` with every exit of the entry function returning r0 >> 32 instead of r0 (the
    kernel reports a u32 retval: running both programs gives the whole r0)."""
    starts = sorted(_function_starts(insns))
    main_end = starts[1] if len(starts) > 1 else (1 << 62)
    pcs = isa.slot_offsets(insns)
    replace = {i: [Insn(isa.CLS_ALU64 | isa.ALU_RSH, 0, 0, 0, 32), EXIT]
               for i, insn in enumerate(insns)
               if insn.opcode == EXIT.opcode and pcs[i] < main_end}
    return expand(list(insns), replace) if replace else list(insns)


# --- .data tests ----------------------------------------------------------------------------
def _function_starts(insns: list[Insn]) -> set[int]:
    pcs = isa.slot_offsets(insns)
    starts = {0}
    for pc, insn in zip(pcs, insns):
        if insn.opcode == isa.CLS_JMP | isa.JMP_CALL and insn.src == isa.CALL_LOCAL:
            starts.add(pc + 1 + insn.imm)
        if insn.opcode == isa.OPCODE_LDDW and insn.src == isa.LDDW_CODE:
            starts.add(pc + 1 + insn.imm)
    return starts


def expand(insns: list[Insn], replace: dict[int, list[Insn]]) -> list[Insn]:
    """Replace instruction i by the sequence `replace[i]` (which must end in the original's
    place: jumps to i go to the sequence's start) and fix every relative offset."""
    pcs = isa.slot_offsets(insns)
    new_pc, out_pcs, pc = {}, [], 0
    for i, insn in enumerate(insns):
        new_pc[pcs[i]] = pc
        seq = replace.get(i, [insn])
        out_pcs.append(pc)
        pc += sum(x.slots for x in seq)
    end = pcs[-1] + insns[-1].slots if insns else 0
    new_pc[end] = pc
    out = []
    for i, insn in enumerate(insns):
        seq = replace.get(i)
        if seq is not None:
            out.extend(seq)  # sequences contain no relative references
            continue
        old_pc, npc = pcs[i], out_pcs[i]
        rel = None
        spec = insn.spec
        if spec.kind in ("ja", "jcond", "may_goto"):
            rel = insn.jump_offset
        elif (spec.kind == "call" and insn.src == isa.CALL_LOCAL) or (
                spec.kind == "lddw" and insn.src == isa.LDDW_CODE):
            rel = insn.imm
        if rel is not None:
            target = new_pc.get(old_pc + 1 + rel)
            if target is None:
                raise KernelError(f"cannot relocate the jump at pc {old_pc}")
            nrel = target - npc - 1
            if spec.kind in ("ja", "jcond", "may_goto") and not (
                    insn.opcode == isa.CLS_JMP32 | isa.JMP_JA):
                insn = Insn(insn.opcode, insn.dst, insn.src, nrel, insn.imm, insn.next_imm)
            else:
                insn = Insn(insn.opcode, insn.dst, insn.src, insn.off, nrel, insn.next_imm)
        out.append(insn)
    return out


def _mov(dst: int, imm: int) -> Insn:
    return Insn(isa.CLS_ALU64 | isa.ALU_MOV, dst, 0, 0, imm)


EXIT = Insn(isa.CLS_JMP | isa.JMP_EXIT)


def data_test_program(insns: list[Insn], mem_len: int, high: bool) -> list[Insn]:
    """The XDP program that runs a .data test's `insns` (see the module docstring)."""
    body = high_half(list(insns)) if high else list(insns)
    if mem_len:
        prologue = [
            Insn(isa.CLS_LDX | isa.MODE_MEM | isa.SIZE_W, 2, 1, 4),   # r2 = data_end
            Insn(isa.CLS_LDX | isa.MODE_MEM | isa.SIZE_W, 1, 1, 0),   # r1 = data
            Insn(isa.CLS_ALU64 | isa.SRC_X | isa.ALU_MOV, 3, 1),
            Insn(isa.CLS_ALU64 | isa.ALU_ADD, 3, 0, 0, mem_len),
            Insn(isa.CLS_JMP | isa.SRC_X | isa.JMP_JLE, 3, 2, 2),     # in bounds: go on
            _mov(0, 0), EXIT,
            _mov(2, mem_len), _mov(3, 0),
        ]
    else:
        prologue = [_mov(1, 0), _mov(2, 0)]
    return prologue + body


def run_data_test(insns: list[Insn], mem: bytes = b"",
                  maps=()) -> tuple[int | None, str | None]:
    """(r0, None) when the kernel runs the test, (None, why) when it refuses it. `maps` are
    the test's `-- map` definitions (fresh, empty maps for each of the two runs)."""
    ok, why = available()
    if not ok:
        return None, why
    packet = mem.ljust(64, b"\0")
    halves = []
    for high in (False, True):
        try:
            with KernelMaps(maps) as kmaps:
                prog = resolve_maps(data_test_program(list(insns), len(mem), high), kmaps)
                fd, _log = load_insns(prog, "xdp", "data_test")
                try:
                    halves.append(test_run(fd, packet).retval)
                finally:
                    os.close(fd)
        except KernelError as exc:
            last = [ln for ln in exc.log.strip().splitlines() if ln.strip()][-2:]
            return None, f"{exc}: {' / '.join(last)}"
    return halves[0] | (halves[1] << 32), None
