"""Helper calls: arguments checked by the prototype's kinds, then r0 from the return kind.

Memory arguments (map keys and values, mem + size pairs) must point into the stack, the
packet or a map value, within bounds for the whole size; readable memory on the stack must be
initialised. After the call r1-r5 are undefined, memory the helper writes is initialised, and a
helper that may move the packet kills every packet pointer.
"""
from __future__ import annotations

from domains.bounds import Interval
from domains.linear import LinearExpression as E
from domains.linear import le
from verifier import checks as C
from verifier import types as T
from verifier.state import State, var

READ_MEM = {"ptr_to_map_key", "ptr_to_map_value", "ptr_to_readable_mem",
            "ptr_to_readable_mem_or_null", "ptr_to_map_value_or_null"}
WRITE_MEM = {"ptr_to_uninit_map_value", "ptr_to_writable_mem", "ptr_to_writable_mem_or_null",
             "ptr_to_long", "ptr_to_int"}
NULLABLE = {"ptr_to_readable_mem_or_null", "ptr_to_writable_mem_or_null",
            "ptr_to_map_value_or_null", "ptr_to_stack_or_null"}
SIZE_KINDS = {"const_size", "const_size_or_zero", "const_alloc_size_or_zero"}
MAP_OF_MAPS = {"array_of_maps", "hash_of_maps"}


def _maps_of(sem, st: State, reg: str) -> list:
    """The maps a map_fd register may name."""
    iv = st.interval(reg, "map_fd")
    if not (isinstance(iv.lo, int) and isinstance(iv.hi, int)) or iv.hi - iv.lo > 64:
        return list(sem.maps)
    return [sem.maps[i] for i in range(max(iv.lo, 0), min(iv.hi, len(sem.maps) - 1) + 1)]


def _mem_arg(sem, ch: C.Checker, st: State, pc: int, reg: int, size: Interval, write: bool,
             nullable: bool, what: str, depth: int) -> None:
    """`reg` points to `size` bytes of readable (or writable) memory."""
    r = f"r{reg}"
    if not C.check_init(ch, st, pc, reg, what):
        return
    m = st.type_of(r)
    if nullable and m & T.NUMBER and size.lo == 0 and size.hi == 0:
        return
    bad = m & ~(T.STACK | T.PACKET | T.SHARED)
    if bad:
        null = m & T.NUMBER and m & T.POINTERS
        ch.fail(pc, "helper-arg", f"{what}: r{reg} is {T.name(m)}, expected a pointer to "
                f"{'initialised ' if not write else ''}memory" + (" (check it for NULL first)"
                                                                  if null else ""),
                f"`{r}.type` = {T.name(m)}")
        m &= T.STACK | T.PACKET | T.SHARED
        if not m:
            return
        st.types[r] = m
    hi = size.hi
    if not isinstance(hi, int):
        ch.fail(pc, "helper-arg", f"{what}: size is not bounded ({size})")
        return
    if hi <= 0:
        return
    if m & T.STACK:
        x = var(r, "stack_offset")
        region = sem.region(depth)
        if not st.num.entails(le(region.stack_lo, x)) or \
                not st.num.entails(le(E.var(x) + hi, region.stack_hi)):
            iv = st.num.interval(x)
            at = region.rel(iv.lo) if iv.is_singleton() else f"{region.rel(iv.lo)}..{region.rel(iv.hi)}" \
                if iv.is_finite() else str(iv)
            ch.fail(pc, "helper-arg", f"{what}: {hi} bytes at {at} do not fit in the stack "
                    f"[{region.rel(region.stack_lo)}, {region.rel(region.stack_hi)})",
                    f"`{x} + {hi} <= {region.stack_hi}` not proven: `{x}` {C._show(iv)}")
            st.num.add_constraint(le(region.stack_lo, x))
            st.num.add_constraint(le(E.var(x) + hi, region.stack_hi))
        iv = st.num.interval(x)
        if isinstance(iv.lo, int) and isinstance(iv.hi, int):
            lo_b, hi_b = iv.lo, iv.hi + hi
            if write:
                sem._kill_stack(st, lo_b, hi_b, iv.is_singleton() and size.is_singleton())
            else:
                missing = st.stack.uninit_ranges(lo_b, iv.lo + hi if iv.is_singleton() else hi_b)
                if missing:
                    where = region.rel_ranges(missing)
                    ch.fail(pc, "uninit-stack", f"{what}: stack bytes {where} are not initialised",
                            f"`{x}` {C._show(iv)}; uninitialised stack bytes {where}")
                    st.stack.write(lo_b, hi_b)
    if m & T.PACKET:
        x = var(r, "packet_offset")
        if not st.num.entails(le(E.var(x) + hi, "packet_size")) or \
                not st.num.entails(le("meta_offset", x)):
            ch.fail(pc, "helper-arg", f"{what}: {hi} bytes of packet not proven within bounds",
                    f"`{x} + {hi} <= packet_size` not proven: "
                    f"{C.explain(st, E.var(x) + E.var('packet_size'))}")
            st.num.add_constraint(le(E.var(x) + hi, "packet_size"))
    if m & T.SHARED:
        x = var(r, "shared_offset")
        if not st.num.entails(le(0, x)) or \
                not st.num.entails(le(E.var(x) + hi, var(r, "shared_region_size"))):
            ch.fail(pc, "helper-arg", f"{what}: {hi} bytes of map value not proven within bounds",
                    f"`{x} + {hi} <= {r}.shared_region_size` not proven: "
                    f"{C.explain(st, E.var(x) + E.var(var(r, 'shared_region_size')))}")
            st.num.add_constraint(le(0, x))
            st.num.add_constraint(le(E.var(x) + hi, var(r, "shared_region_size")))


def _size_of(st: State, reg: int) -> Interval:
    iv = st.interval(f"r{reg}", "uvalue")
    if st.type_of(f"r{reg}") != T.NUMBER:
        return Interval.top()
    return iv


def call_helper(sem, st: State, pc: int, proto, ch: C.Checker, depth: int) -> None:
    """Check the arguments of `proto`, then apply its effect on `st`."""
    if not getattr(proto, "supported", True):
        ch.fail(pc, "helper-arg", f"helper {proto.name} takes arguments bpfcheck cannot check")
    maps: list = []
    args = proto.args
    for i, kind in enumerate(args):
        if st.is_bottom():
            return
        reg = i + 1
        r = f"r{reg}"
        what = f"argument {reg} of {proto.name}"
        nxt = args[i + 1] if i + 1 < len(args) else None
        if kind in ("ptr_to_map", "ptr_to_map_of_programs"):
            C.check_init(ch, st, pc, reg, what)
            want = T.MAP_FD if kind == "ptr_to_map" else T.MAP_FD_PROGRAMS
            m = st.type_of(r)
            if m != want and not (kind == "ptr_to_map" and m == T.MAP_FD_PROGRAMS
                                  and proto.name not in ("map_lookup_elem",)):
                ch.fail(pc, "helper-arg", f"{what}: r{reg} is {T.name(m)}, expected "
                        f"{T.name(want)}", f"`{r}.type` = {T.name(m)}")
            else:
                maps = _maps_of(sem, st, r)
        elif kind == "ptr_to_ctx":
            C.check_init(ch, st, pc, reg, what)
            m = st.type_of(r)
            if m != T.CTX:
                ch.fail(pc, "helper-arg", f"{what}: r{reg} is {T.name(m)}, expected the context",
                        f"`{r}.type` = {T.name(m)}")
            elif not st.interval(r, "ctx_offset").singleton() == 0:
                ch.fail(pc, "helper-arg", f"{what}: the context pointer must not be offset",
                        f"`{r}.ctx_offset` in {st.interval(r, 'ctx_offset')}")
        elif kind in ("ptr_to_map_key", "ptr_to_map_value", "ptr_to_uninit_map_value",
                      "ptr_to_map_value_or_null"):
            if not maps:
                C.check_init(ch, st, pc, reg, what)
                continue
            attr = "key_size" if kind == "ptr_to_map_key" else "value_size"
            sizes = [getattr(mp, attr) for mp in maps]
            size = Interval.const(max(sizes))
            _mem_arg(sem, ch, st, pc, reg, size, kind == "ptr_to_uninit_map_value",
                     kind in NULLABLE, what, depth)
        elif kind in READ_MEM or kind in WRITE_MEM:
            if kind in ("ptr_to_long", "ptr_to_int"):
                size = Interval.const(8 if kind == "ptr_to_long" else 4)
            elif nxt in SIZE_KINDS:
                C.check_init(ch, st, pc, reg + 1, f"argument {reg + 1} of {proto.name}")
                size = _size_of(st, reg + 1)
            else:
                size = Interval.const(1)
            _mem_arg(sem, ch, st, pc, reg, size, kind in WRITE_MEM, kind in NULLABLE, what, depth)
        elif kind in SIZE_KINDS:
            C.check_init(ch, st, pc, reg, what)
            if st.type_of(r) != T.NUMBER:
                ch.fail(pc, "helper-arg", f"{what}: a size must be a number, not "
                        f"{T.name(st.type_of(r))}", f"`{r}.type` = {T.name(st.type_of(r))}")
                continue
            iv = st.interval(r, "uvalue")
            if kind == "const_size" and iv.contains(0):
                ch.fail(pc, "helper-arg", f"{what}: the size may be zero", f"`{r}.uvalue` in {iv}")
            if not isinstance(iv.hi, int):
                ch.fail(pc, "helper-arg", f"{what}: the size is not bounded",
                        f"`{r}.uvalue` in {iv}")
        elif kind in ("ptr_to_stack", "ptr_to_stack_or_null"):
            C.check_init(ch, st, pc, reg, what)
            m = st.type_of(r)
            ok = T.STACK | (T.NUMBER if kind == "ptr_to_stack_or_null" else 0)
            if m & ~ok:
                ch.fail(pc, "helper-arg", f"{what}: r{reg} is {T.name(m)}, expected a stack pointer",
                        f"`{r}.type` = {T.name(m)}")
        elif kind == "ptr_to_func":
            C.check_init(ch, st, pc, reg, what)
            if st.type_of(r) != T.FUNC:
                ch.fail(pc, "helper-arg", f"{what}: r{reg} is {T.name(st.type_of(r))}, expected "
                        f"a function", f"`{r}.type` = {T.name(st.type_of(r))}")
            else:
                # the helper runs the callback, which the inlined CFG does not contain: rather
                # than accept code that was never analysed, reject (sound, and said plainly)
                ch.fail(pc, "invalid-call", f"{what}: callback functions (bpf_loop, timers, "
                        f"for_each_map_elem) are not analysed by bpfcheck")
        else:
            C.check_init(ch, st, pc, reg, what)
    if st.is_bottom():
        return
    # effects
    ret_size = Interval.top()
    if proto.ret == "mem_or_null" and proto.ret_size_arg:
        ret_size = _size_of(st, proto.ret_size_arg)
    for reg in range(1, 6):
        st.remove(f"r{reg}")
    ret = proto.ret
    if ret in ("map_value_or_null", "map_value") and maps:
        inner = [mp for mp in maps if sem.map_kind(mp) in MAP_OF_MAPS]
        if inner and len(inner) == len(maps):
            idxs = [sem.inner.get(sem.maps.index(mp)) for mp in maps]
            if all(i is not None for i in idxs):
                st.havoc("r0", T.MAP_FD | (T.NUMBER if ret.endswith("null") else 0))
                st.num.set_interval("r0.map_fd", Interval(min(idxs), max(idxs)))
                if ret.endswith("null"):
                    st.num.assign("r0.svalue", 0)
                    st.num.assign("r0.uvalue", 0)
                    fresh_id(st, pc)
            else:
                st.havoc("r0", T.NUMBER)
        else:
            size = min(mp.value_size for mp in maps)
            idx = [i for i, m in enumerate(sem.maps) if any(m is mp for mp in maps)]
            _pointer_or_null(st, size, ret.endswith("null"), pc)
            if idx:
                st.num.set_interval("r0.map_fd", Interval(min(idx), max(idx)))
    elif ret == "mem_or_null":
        _pointer_or_null(st, ret_size.lo if ret_size.is_singleton() else 0, True, pc)
    else:
        st.havoc("r0", T.NUMBER)
    if proto.invalidates_packet:
        sem.invalidate_packet(st)


def fresh_id(st: State, pc: int) -> None:
    """r0 gets the id `pc`; older values that may carry it lose it (ids stay unique)."""
    for v in list(st.types):
        x = var(v, "id")
        if st.num.interval(x).contains(pc):
            st.num.forget([x])
    st.num.assign("r0.id", pc)


def _pointer_or_null(st: State, size: int, nullable: bool, pc: int = -1) -> None:
    """r0 := a pointer to `size` bytes of shared memory, or NULL."""
    st.havoc("r0", T.SHARED | (T.NUMBER if nullable else 0))
    if nullable and pc >= 0:
        fresh_id(st, pc)
    st.num.assign("r0.shared_offset", 0)
    st.num.assign("r0.shared_region_size", size)
    if nullable:
        st.num.assign("r0.svalue", 0)
        st.num.assign("r0.uvalue", 0)
