"""What the numba dialect of the portable JIT needs at run time: raw memory access, the eBPF
division forms, byte swaps, the region lookup, and compiling (with a disk cache) a generated
module.

Everything here works on np.uint64 values only (mixing int64 and uint64 in numba yields
float64); signed views are explicit np.int64 / np.int32 casts. When numba cannot be imported,
`available()` says why and the portable JIT keeps to its CPython dialect.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import pathlib
import sys
import tempfile
from typing import Callable

import numpy as np

try:  # numba is optional: without it the CPython dialect runs everywhere
    from llvmlite import ir
    from numba import njit, types
    from numba.extending import intrinsic
    _WHY = ""
except Exception as exc:  # pragma: no cover - depends on the host
    njit = None
    _WHY = f"numba is not importable ({exc})"

u64, i64, i32, i16, i8 = np.uint64, np.int64, np.int32, np.int16, np.int8
K0, K1 = u64(0), u64(1)
K31, K63 = u64(31), u64(63)
M8, M16, M32, M64 = u64(0xFF), u64(0xFFFF), u64(0xFFFFFFFF), u64(0xFFFFFFFFFFFFFFFF)
SIGN64 = u64(1 << 63)


def available() -> tuple[bool, str]:
    """(True, "") when the numba dialect can be used here, else (False, why)."""
    return (njit is not None, _WHY)


if njit is not None:
    def _loader(bits: int):
        @intrinsic
        def load(typingctx, addr):
            """Load `bits` bits (unaligned, little-endian host) from a host address."""
            def codegen(context, builder, signature, args):
                ptr = builder.inttoptr(args[0], ir.IntType(bits).as_pointer())
                value = builder.load(ptr, align=1)
                return value if bits == 64 else builder.zext(value, ir.IntType(64))
            return types.uint64(types.uint64), codegen
        return load

    def _storer(bits: int):
        @intrinsic
        def store(typingctx, addr, value):
            """Store the low `bits` bits of `value` at a host address."""
            def codegen(context, builder, signature, args):
                ptr = builder.inttoptr(args[0], ir.IntType(bits).as_pointer())
                v = args[1] if bits == 64 else builder.trunc(args[1], ir.IntType(bits))
                builder.store(v, ptr, align=1)
                return context.get_dummy_value()
            return types.none(types.uint64, types.uint64), codegen
        return store

    ld1, ld2, ld4, ld8 = (_loader(b) for b in (8, 16, 32, 64))
    st1, st2, st4, st8 = (_storer(b) for b in (8, 16, 32, 64))

    @njit(cache=True)
    def udiv(a, b):
        return a // b if b != K0 else K0

    @njit(cache=True)
    def umod(a, b):
        return a % b if b != K0 else a

    @njit(cache=True)
    def _mag(a, sign):
        # |a| of a two's-complement value as uint64 (|INT_MIN| = 2**63 fits)
        return (K0 - a) if a & sign else a

    @njit(cache=True)
    def sdiv64(a, b):
        if b == K0:
            return K0
        q = _mag(a, SIGN64) // _mag(b, SIGN64)
        return (K0 - q) if (a ^ b) & SIGN64 else q

    @njit(cache=True)
    def smod64(a, b):
        if b == K0:
            return a
        r = _mag(a, SIGN64) % _mag(b, SIGN64)
        return (K0 - r) if a & SIGN64 else r

    @njit(cache=True)
    def sdiv32(a, b):
        # a, b: 32-bit values (zero-extended); result zero-extended
        sa, sb = u64(i64(i32(a))), u64(i64(i32(b)))
        return sdiv64(sa, sb) & M32

    @njit(cache=True)
    def smod32(a, b):
        if b == K0:
            return a
        sa, sb = u64(i64(i32(a))), u64(i64(i32(b)))
        return smod64(sa, sb) & M32

    @njit(cache=True)
    def bswap16(a):
        return ((a & M8) << u64(8)) | ((a >> u64(8)) & M8)

    @njit(cache=True)
    def bswap32(a):
        return (bswap16(a & M16) << u64(16)) | bswap16((a >> u64(16)) & M16)

    @njit(cache=True)
    def bswap64(a):
        return (bswap32(a & M32) << u64(32)) | bswap32((a >> u64(32)) & M32)

    @njit(cache=True)
    def find(LO, HI, FL, a, size, need):
        """The index of the table region holding [a, a + size) with flag bit `need`, or 0
        (the empty entry) when none does; the table is sorted by start."""
        lo, hi = 1, LO.shape[0] - 1
        while lo <= hi:  # the last start <= a
            mid = (lo + hi) >> 1
            if LO[mid] <= a:
                lo = mid + 1
            else:
                hi = mid - 1
        i = hi
        if i >= 1 and a < HI[i] and HI[i] - a >= size and FL[i] & need:
            return i
        return 0

    @intrinsic
    def hit(typingctx, LO, HI, C, site, a, size):
        """Whether [a, a + size) lies in the region cached for this access site (C[site]
        indexes LO/HI). Emitted inline as a few LLVM instructions: one call node per access
        in numba's IR keeps the compile time of a generated function down."""
        def codegen(context, builder, signature, args):
            lo_t, hi_t, c_t = signature.args[:3]
            lo_a = context.make_array(lo_t)(context, builder, args[0])
            hi_a = context.make_array(hi_t)(context, builder, args[1])
            c_a = context.make_array(c_t)(context, builder, args[2])
            i = builder.load(builder.gep(c_a.data, [args[3]]))
            lo = builder.load(builder.gep(lo_a.data, [i]))
            hi = builder.load(builder.gep(hi_a.data, [i]))
            inside = builder.and_(builder.icmp_unsigned("<=", lo, args[4]),
                                  builder.icmp_unsigned("<", args[4], hi))
            return builder.and_(inside, builder.icmp_unsigned(">=", builder.sub(hi, args[4]),
                                                              args[5]))
        return types.boolean(LO, HI, C, types.int64, types.uint64, types.uint64), codegen

    @njit(cache=True)
    def refill(LO, HI, FL, C, site, a, size, need):
        """After a miss of `hit`: find the region holding [a, a + size) with flag bit `need`
        and cache it for the site; False when there is none (the driver then runs the access
        on the interpreter, which raises the exact fault)."""
        i = find(LO, HI, FL, a, size, need)
        if i == 0:
            return False
        C[site] = i
        return True

    SIGNATURE = types.int64(types.uint64[::1], types.uint64[:, ::1], types.int64[::1],
                            types.uint64[::1], types.uint64[::1], types.uint8[::1],
                            types.int64[::1], types.uint64[::1], types.uint64[::1])

# --- compiling a generated module -------------------------------------------------------------
PRELUDE = ("import numpy as np\n"
           "from runtime.jit.numba_support import (u64, i64, i32, i16, i8, K0, K1, K31, K63,\n"
           "    M8, M16, M32, M64, ld1, ld2, ld4, ld8, st1, st2, st4, st8, udiv, umod,\n"
           "    sdiv64, smod64, sdiv32, smod32, bswap16, bswap32, bswap64, hit, refill)\n")


def cache_dir() -> pathlib.Path | None:
    """Where generated modules and numba's compiled code are kept (None: not writable).
    `BPFCHECK_CACHE_DIR` overrides `$XDG_CACHE_HOME/bpfcheck` (default ~/.cache/bpfcheck)."""
    root = os.environ.get("BPFCHECK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bpfcheck")
    path = pathlib.Path(root) / "pyjit"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path if os.access(path, os.W_OK) else None
    except OSError:
        return None


_COMPILED: dict[str, Callable] = {}


def compile_module(source: str, name: str = "program", cache: bool = True) -> Callable:
    """`name` from the generated module `source` (PRELUDE prepended), compiled by numba with
    the runner signature. Cached in-process by the source's hash and on disk (numba's cache of
    a module file named by that hash), so the same program compiles once per machine;
    `cache=False` compiles afresh (then the result's type annotations are complete)."""
    text = PRELUDE + source
    key = hashlib.sha256(text.encode()).hexdigest()[:24]
    if key in _COMPILED and cache:
        return _COMPILED[key]
    folder = cache_dir() if cache else None
    module = None
    if folder is not None:
        path = folder / f"pyjit_{key}.py"
        try:
            if not path.exists():
                fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
                with os.fdopen(fd, "w") as out:
                    out.write(text)
                os.replace(tmp, path)
            spec = importlib.util.spec_from_file_location(f"_bpfcheck_pyjit_{key}", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # numba's cache locates functions by module
            spec.loader.exec_module(module)
            fn = njit(SIGNATURE, cache=True, error_model="numpy", boundscheck=False)(
                getattr(module, name))
        except OSError:
            module = None
    if module is None:
        env: dict = {}
        exec(compile(text, f"<pyjit {key}>", "exec"), env)  # noqa: S102 - our own codegen
        fn = njit(SIGNATURE, error_model="numpy", boundscheck=False)(env[name])
    if cache:
        _COMPILED[key] = fn
    return fn
