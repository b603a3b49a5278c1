"""Assertions, one function per kind, that either report or assume (PREVAIL's checker).

Every function takes a `Checker`: with `report=True` it records a `Failure` (kind from the
error registry, the instruction's pc, a message and the part of the invariant that failed);
in both modes it then *assumes* the assertion, refining the state so that the same fault does
not produce a cascade of later errors. The fixpoint runs in assume mode; the final pass over
the stable invariants runs in report mode.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from domains.bounds import Interval
from domains.linear import LinearConstraint, LinearExpression, le
from verifier import types as T
from verifier.errors import ERROR_KINDS
from verifier.state import META_OFFSET, PACKET_SIZE, State, var


@dataclass(frozen=True)
class Failure:
    """One error: where, which kind (see verifier.errors), what, and which facts failed."""

    pc: int
    kind: str
    message: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ERROR_KINDS:
            raise ValueError(f"unregistered error kind {self.kind!r}")


@dataclass
class Checker:
    """Collects failures when `report` is set; always assumes."""

    report: bool = False
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    tripped: bool = False   # some check of the current instruction failed

    def fail(self, pc: int, kind: str, message: str, detail: str = "") -> None:
        self.tripped = True
        if self.report:
            self.failures.append(Failure(pc, kind, message, detail))

    def warn(self, pc: int, kind: str, message: str) -> None:
        if self.report:
            self.warnings.append(Failure(pc, kind, message))


# ---- explanations ----------------------------------------------------------------------------
def _show(iv: Interval) -> str:
    return f"= {iv.lo}" if iv.is_singleton() else f"in {iv}"


def explain(st: State, expr: LinearExpression) -> str:
    """The ranges of the variables of an expression: "`packet_size` in [0, 65535], ..."."""
    parts = []
    for v, _ in sorted(expr.terms, key=lambda t: t[0]):
        parts.append(f"`{v}` {_show(st.num.interval(v))}")
    return ", ".join(parts)


def _prove(ch: Checker, st: State, pc: int, kind: str, message: str,
           c: LinearConstraint, shown: str) -> bool:
    """Report `message` unless the state entails c; then assume c."""
    ok = st.num.entails(c)
    if not ok:
        detail = f"`{shown}` not proven: {explain(st, c.expr)}"
        ch.fail(pc, kind, f"{message} ({detail})", detail)
        st.num.add_constraint(c)
    return ok


def plus(x: str, k: int) -> str:
    """`x + k` / `x - k` / `x`, for the printed inequalities."""
    return x if k == 0 else f"{x} + {k}" if k > 0 else f"{x} - {-k}"


def _names(mask: int) -> str:
    return T.name(mask)


# ---- registers -------------------------------------------------------------------------------
def check_init(ch: Checker, st: State, pc: int, reg: int, what: str = "") -> bool:
    """The register is initialised on every path; assume it is (as a number if never set)."""
    r = f"r{reg}"
    m = st.type_of(r)
    if not m & T.UNINIT:
        return True
    maybe = "may be" if m != T.UNINIT else "is"
    ch.fail(pc, "uninit-register", f"r{reg} {maybe} uninitialised" + (f" ({what})" if what else ""),
            f"`{r}.type` = {_names(m)}")
    m &= ~T.UNINIT
    if m:
        st.types[r] = m
    else:
        st.havoc(r, T.NUMBER)
    return False


def check_number(ch: Checker, st: State, pc: int, reg: int, kind: str, message: str) -> bool:
    """The register is a number (not a pointer); assume it becomes one."""
    r = f"r{reg}"
    m = st.type_of(r)
    if m == T.NUMBER:
        return True
    ch.fail(pc, kind, f"{message}: r{reg} is {_names(m)}", f"`{r}.type` = {_names(m)}")
    st.havoc(r, T.NUMBER)
    return False


def restrict_type(st: State, value: str, mask: int) -> None:
    """Keep only the types of `mask` (bottom when nothing is left)."""
    m = st.type_of(value) & mask
    if not m:
        st.set_bottom()
    else:
        st.types[value] = m


# ---- memory ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    """What the memory checks need to know about the analysis context."""

    stack_lo: int        # lowest valid stack offset of the current frame
    stack_hi: int        # one past the highest valid stack offset
    context: object      # verifier.platform.ContextLayout or None
    packet_access: bool
    frame_top: int = 0   # r10 of the current frame (offsets are shown relative to it)
    readonly_maps: frozenset = frozenset()  # indices of maps the program may not write

    def rel(self, offset: int) -> str:
        """A stack offset as the program writes it: `r10-8`."""
        d = offset - self.frame_top
        return "r10" if d == 0 else f"r10{'+' if d > 0 else '-'}{abs(d)}"

    def rel_ranges(self, ranges: list[tuple[int, int]]) -> str:
        return ", ".join(f"[{self.rel(a)}, {self.rel(b)})" for a, b in ranges[:4])


def check_access(ch: Checker, st: State, pc: int, reg: int, off: int, size: int, write: bool,
                 region: Region, atomic: bool = False) -> int:
    """The access `*(size *)(reg + off)` is valid for every type `reg` may have. Returns the
    mask of pointer types the access goes through after assuming the assertion."""
    r = f"r{reg}"
    check_init(ch, st, pc, reg, "used as a pointer")
    m = st.type_of(r)
    access = "write" if write else "read"
    if m & T.NUMBER:
        may_null = bool(m & T.POINTERS) and st.interval(r, "svalue").contains(0)
        if may_null:
            ch.fail(pc, "null-deref", f"possible NULL dereference of r{reg} ({access} of {size} "
                    f"bytes); check it against NULL first", f"`{r}.type` = {_names(m)}")
        else:
            ch.fail(pc, "invalid-memory", f"{access} through r{reg}, which is a number, not a "
                    f"pointer", f"`{r}.type` = {_names(m)}")
    bad = m & ~T.POINTERS & ~T.NUMBER
    if bad:
        ch.fail(pc, "invalid-memory", f"{access} through r{reg} of type {_names(bad)}",
                f"`{r}.type` = {_names(m)}")
    m &= T.POINTERS
    if not m:
        st.set_bottom()
        return 0
    st.types[r] = m
    if m & T.STACK:
        _stack_access(ch, st, pc, r, off, size, write, region)
    if m & T.PACKET:
        _packet_access(ch, st, pc, r, off, size, write, region, atomic)
    if m & T.SHARED:
        _shared_access(ch, st, pc, r, off, size)
        if write and region.readonly_maps:
            _readonly(ch, st, pc, r, region)
    if m & T.CTX:
        if not _ctx_access(ch, st, pc, r, off, size, write, region, atomic) and m == T.CTX:
            pass
    return m


def _stack_access(ch: Checker, st: State, pc: int, r: str, off: int, size: int, write: bool,
                  region: Region) -> None:
    x = var(r, "stack_offset")
    lo = LinearExpression.var(x) + off
    what = f"stack {'write' if write else 'read'} of {size} bytes"
    _prove(ch, st, pc, "stack-bounds", f"{what} below the frame ({region.rel(region.stack_lo)})",
           le(region.stack_lo, lo), f"{plus(x, off)} >= {region.stack_lo}")
    _prove(ch, st, pc, "stack-bounds", f"{what} above the frame ({region.rel(region.stack_hi)})",
           le(lo + size, region.stack_hi), f"{plus(x, off + size)} <= {region.stack_hi}")
    if write:
        return
    iv = st.num.interval(x)
    if iv.is_bottom():
        return
    a, b = iv.lo + off, iv.hi + off + size
    if not isinstance(a, int) or not isinstance(b, int):
        return
    missing = st.stack.uninit_ranges(a, b)
    if missing:
        where = region.rel_ranges(missing)
        at = region.rel(a) if iv.is_singleton() else f"{region.rel(a)}..{region.rel(b - size)}"
        ch.fail(pc, "uninit-stack", f"read of {size} bytes at {at} reaches uninitialised "
                f"stack bytes {where}", f"`{x}` {_show(iv)}; uninitialised stack bytes {where}")
        st.stack.write(a, b)


def _packet_access(ch: Checker, st: State, pc: int, r: str, off: int, size: int, write: bool,
                   region: Region, atomic: bool) -> None:
    if not region.packet_access:
        ch.fail(pc, "invalid-memory", "this program type cannot access packet data directly")
    if atomic:
        ch.fail(pc, "invalid-memory", "atomic operation on packet memory")
    x = var(r, "packet_offset")
    e = LinearExpression.var(x) + off
    _prove(ch, st, pc, "packet-bounds", "packet access before the start of the packet",
           le(META_OFFSET, e), f"{plus(x, off)} >= {META_OFFSET}")
    _prove(ch, st, pc, "packet-bounds", f"packet {'write' if write else 'read'} of {size} bytes "
           f"past the end of the packet", le(e + size, PACKET_SIZE),
           f"{plus(x, off + size)} <= {PACKET_SIZE}")


def _readonly(ch: Checker, st: State, pc: int, r: str, region: Region) -> None:
    iv = st.interval(r, "map_fd")  # unknown (e.g. ringbuf memory): not a map of the program
    if iv.is_finite() and any(iv.lo <= i <= iv.hi for i in region.readonly_maps):
        ch.fail(pc, "invalid-memory", f"write through {r} into a read-only map (.rodata or "
                f"BPF_F_RDONLY_PROG)", f"`{r}.map_fd` {_show(iv)}")


def _shared_access(ch: Checker, st: State, pc: int, r: str, off: int, size: int) -> None:
    x = var(r, "shared_offset")
    e = LinearExpression.var(x) + off
    _prove(ch, st, pc, "map-value-bounds", "map value access before the start of the value",
           le(0, e), f"{plus(x, off)} >= 0")
    _prove(ch, st, pc, "map-value-bounds", f"map value access of {size} bytes past the end",
           le(e + size, var(r, "shared_region_size")),
           f"{plus(x, off + size)} <= {r}.shared_region_size")


def _ctx_access(ch: Checker, st: State, pc: int, r: str, off: int, size: int, write: bool,
                region: Region, atomic: bool) -> bool:
    layout = region.context
    iv = st.interval(r, "ctx_offset")
    if not iv.is_singleton():
        ch.fail(pc, "ctx-access", f"context access at a variable offset ({r}.ctx_offset {_show(iv)})",
                f"`{r}.ctx_offset` {_show(iv)}")
        return False
    o = iv.lo + off
    if layout is None:
        ch.fail(pc, "ctx-access", "this program type has no context")
        return False
    why = layout.explain(o, size, write) if hasattr(layout, "explain") else None
    fld = layout.field_at(o, size, write) if why is None else None
    if why is None and fld is None:
        why = f"no field of {getattr(layout, 'name', 'ctx')} at offset {o} with size {size}"
    if why is not None:
        ch.fail(pc, "ctx-access", why, f"`{r}.ctx_offset` = {iv.lo}, access offset {off}")
        return False
    if atomic:
        ch.fail(pc, "ctx-access", f"atomic operation on {layout.name}.{fld.name}")
        return False
    return True


# ---- values stored or returned ---------------------------------------------------------------
def check_stored_value(ch: Checker, st: State, pc: int, reg: int, target: int, size: int,
                       privileged: bool = False) -> None:
    """Storing r`reg` through a pointer of types `target`: only the stack may hold pointers,
    and only whole 8-byte spills (privileged programs may also leak them into maps)."""
    m = st.type_of(f"r{reg}")
    ptrs = m & ~T.NUMBER & ~T.UNINIT
    if not ptrs:
        return
    leaky = target & ~T.STACK & ~(T.SHARED if privileged else 0)
    if leaky:
        ch.fail(pc, "pointer-leak", f"r{reg} ({_names(m)}) stored into {_names(leaky)} memory",
                f"`r{reg}.type` = {_names(m)}")
    elif size != 8:
        ch.fail(pc, "pointer-leak", f"partial ({size}-byte) spill of pointer r{reg} to the stack",
                f"`r{reg}.type` = {_names(m)}")


def check_exit(ch: Checker, st: State, pc: int, return_range: tuple[int, int] | None,
               privileged: bool = False) -> None:
    """r0 is an initialised number (or, privileged, any value), within the type's range."""
    check_init(ch, st, pc, 0, "the program's return value")
    m = st.type_of("r0")
    if m != T.NUMBER and privileged and return_range is None:
        return
    if m != T.NUMBER:
        ch.fail(pc, "exit-value", f"the program returns r0 of type {_names(m)}, not a number",
                f"`r0.type` = {_names(m)}")
        st.havoc("r0", T.NUMBER)
        return
    if return_range is None:
        return
    lo, hi = return_range
    x = "r0.svalue"
    iv = st.num.interval(x)
    if not (lo <= iv.lo and iv.hi <= hi):
        detail = f"`{x}` {_show(iv)}"
        ch.fail(pc, "exit-value", f"return value not proven in [{lo}, {hi}] ({detail})", detail)
        st.num.add_constraint(le(lo, x))
        st.num.add_constraint(le(x, hi))


def check_divisor(ch: Checker, st: State, pc: int, reg: int | None, imm: int, width: int) -> None:
    """The divisor of a div/mod is not zero (only checked with !allow_division_by_zero)."""
    if reg is None:
        if imm == 0:
            ch.fail(pc, "division-by-zero", "division by the constant zero")
        return
    r = f"r{reg}"
    iv = st.interval(r, "uvalue")
    if width == 32:
        from domains.machine import truncate
        iv = truncate(iv, 32, False)
    if iv.contains(0):
        ch.fail(pc, "division-by-zero", f"the divisor r{reg} may be zero",
                f"`{r}.uvalue` {_show(iv)}")
