"""Transfer functions of the memory kinds: ldx/ldxsx loads, st/stx stores, atomics, lddw and
the legacy ld_abs/ld_ind packet loads, including the byte-level model of stack cells.
"""
from __future__ import annotations

from domains import machine as M
from domains.bounds import Interval
from verifier import checks as C
from verifier import types as T
from verifier.sem_numbers import MASK64, _width_range, set_number, views
from verifier.stack import cell_name
from verifier.state import PACKET_SIZE, META_OFFSET, State, var


OLD, CMP, NEW = "atomic.old", "atomic.cmp", "atomic.new"  # scratch values of one atomic


def _copy_low(st: State, dst: str, src: str, size: int) -> None:
    """dst := the low `size` bytes of the number src, zero-extended (a store's or a 32-bit
    fetch's truncation); an exact copy, keeping relations, when nothing is cut off."""
    if size < 8:
        s, u = views(st, src)
        if not u.hi < (1 << (size * 8)):
            r = M.truncate(u, size * 8, False).meet(M.truncate(s, size * 8, False))
            set_number(st, dst, r, r)
            return
    st.copy_value(dst, src)


class MemorySemantics:
    """Mixin of `verifier.semantics.Semantics`: loads, stores, atomics and lddw."""

    def _load(self, st, pc, insn, spec, ch, depth) -> None:
        dst = f"r{insn.dst}"
        base = f"r{insn.src}"
        size, off = spec.size, insn.off
        signed = spec.kind == "ldxsx"
        m = C.check_access(ch, st, pc, insn.src, off, size, False, self.region(depth))
        if st.is_bottom() or not m:
            return
        ws, wu = _width_range(size, signed)
        if m == T.STACK:
            iv = st.interval(base, "stack_offset")
            if iv.is_singleton():
                o = iv.lo + off
                cell = st.stack.cell(o, size)
                if cell is not None:
                    mt = st.type_of(cell)
                    if mt == T.NUMBER and signed and size < 8:
                        cs, cu = views(st, cell)
                        r = M.sign_extend(cu, size * 8, 64, True)
                        set_number(st, dst, r, M.to_unsigned(r, 64))
                        return
                    st.copy_value(dst, cell)
                    return
                over = st.stack.overlapping(o, o + size)
                if any(st.type_of(cell_name(a, b)) & ~T.NUMBER for a, b in over) or \
                        st.stack.has_ptr_bytes(o, o + size):
                    ch.fail(pc, "invalid-memory", f"read of {size} bytes at stack offset {o} "
                            f"takes part of a spilled pointer")
                elif (known := self._known_bytes(st, o, o + size)) is not None:
                    v = int.from_bytes(known, "big" if self.options.big_endian else "little")
                    if signed and v >> (size * 8 - 1):
                        v -= 1 << (size * 8)
                    st.set_const(dst, v)
                    return
                elif (part := self._cell_part(st, o, size, over)) is not None:
                    if signed:
                        r = M.sign_extend(part, size * 8, 64, True)
                        set_number(st, dst, r, M.to_unsigned(r, 64))
                    else:
                        set_number(st, dst, part, part)
                    return
            else:
                lo, hi = iv.lo + off, iv.hi + off + size
                if isinstance(lo, int) and isinstance(hi, int):
                    over = st.stack.overlapping(lo, hi)
                    if any(st.type_of(cell_name(a, b)) & ~T.NUMBER for a, b in over) or \
                            st.stack.has_ptr_bytes(lo, hi):
                        ch.fail(pc, "invalid-memory", "variable-offset stack read may take part "
                                "of a spilled pointer")
            set_number(st, dst, ws, wu)
            return
        if m == T.CTX:
            iv = st.interval(base, "ctx_offset")
            fld = self.context.field_at(iv.lo + off, size) if iv.is_singleton() and \
                self.context is not None else None
            kind = getattr(fld, "kind", "scalar") if fld is not None else "scalar"
            if kind == "packet":
                st.havoc(dst, T.PACKET)
                st.num.assign(var(dst, "packet_offset"), 0)
                return
            if kind == "packet_end":
                st.havoc(dst, T.PACKET)
                st.num.assign(var(dst, "packet_offset"), PACKET_SIZE)
                return
            if kind == "packet_meta":
                st.havoc(dst, T.PACKET)
                st.num.assign(var(dst, "packet_offset"), META_OFFSET)
                return
        set_number(st, dst, ws, wu)

    def _cell_part(self, st: State, o: int, size: int, over) -> Interval | None:
        """The unsigned value of bytes [o, o + size) when they all lie inside one number cell
        (its low bytes first in memory, or its high bytes with `big_endian`), else None."""
        if len(over) != 1:
            return None
        a, b = over[0]
        if not (a <= o and o + size <= a + b):
            return None
        _, u = views(st, cell_name(a, b))
        shift = a + b - o - size if self.options.big_endian else o - a
        if shift:
            u = M.alu("rsh", u, Interval.const(8 * shift), 64, False)
        return M.truncate(u, size * 8, False)

    def _kill_stack(self, st: State, lo: int, hi: int, exact: bool) -> None:
        """Bytes [lo, hi) are (exact) or may be (not exact) overwritten by numbers. The bytes
        of a known constant cell outside [lo, hi) stay known (as smaller cells)."""
        for a, b in st.stack.overlapping(lo, hi):
            name = cell_name(a, b)
            kept = self._cell_bytes(st, a, b) if exact else None
            if st.type_of(name) & ~T.NUMBER:
                st.stack.mark_ptr(a, a + b)
            st.stack.remove_cell(a)
            st.remove(name)
            if kept is not None:
                for x, y in ((a, lo), (hi, a + b)):
                    if x < y:
                        self._const_cell(st, x, kept[x - a:y - a])
        if exact:
            st.stack.write(lo, hi)

    def _cell_bytes(self, st: State, a: int, b: int) -> bytes | None:
        """The bytes of a number cell whose value is known (in memory order), else None."""
        name = cell_name(a, b)
        if st.type_of(name) != T.NUMBER:
            return None
        v = st.interval(name, "uvalue").singleton()
        if v is None:
            s = st.interval(name, "svalue").singleton()
            if s is None:
                return None
            v = s & MASK64
        v &= (1 << (8 * b)) - 1
        return v.to_bytes(b, "big" if self.options.big_endian else "little")

    def _const_cell(self, st: State, a: int, data: bytes) -> None:
        """A new number cell at `a` holding `data` (memory order)."""
        n = len(data)
        st.stack.cells[a] = n
        st.set_const(cell_name(a, n), int.from_bytes(data, "big" if self.options.big_endian
                                                      else "little"))

    def _known_bytes(self, st: State, lo: int, hi: int) -> bytes | None:
        """The bytes [lo, hi) when every one lies in a number cell of known value."""
        out = bytearray()
        cells = sorted(st.stack.overlapping(lo, hi))
        for a, b in cells:
            if a > lo + len(out):
                return None
            data = self._cell_bytes(st, a, b)
            if data is None:
                return None
            start = lo + len(out) - a
            out += data[start:min(b, hi - a)]
        return bytes(out) if len(out) == hi - lo else None

    def _store(self, st, pc, insn, spec, ch, depth) -> None:
        size, off = spec.size, insn.off
        base = f"r{insn.dst}"
        src = insn.src if spec.kind == "stx" else None
        if src is not None:
            C.check_init(ch, st, pc, src)
        m = C.check_access(ch, st, pc, insn.dst, off, size, True, self.region(depth))
        if st.is_bottom() or not m:
            return
        if src is not None:
            C.check_stored_value(ch, st, pc, src, m, size, self.options.privileged)
        if not m & T.STACK:
            return
        iv = st.interval(base, "stack_offset")
        if not isinstance(iv.lo, int) or not isinstance(iv.hi, int):
            return
        lo, hi = iv.lo + off, iv.hi + off + size
        if not (iv.is_singleton() and m == T.STACK):
            self._kill_stack(st, lo, hi, False)
            if src is not None and st.type_of(f"r{src}") & ~T.NUMBER:
                st.stack.mark_ptr(lo, hi)
            return
        self._kill_stack(st, lo, hi, True)
        name = cell_name(lo, size)
        srcr = f"r{src}" if src is not None else None
        if srcr is not None and size == 8:
            st.copy_value(name, srcr)
        elif srcr is not None:
            if st.type_of(srcr) != T.NUMBER:
                st.stack.mark_ptr(lo, hi)
                return
            _copy_low(st, name, srcr, size)
        else:
            c = insn.imm & ((1 << (size * 8)) - 1) if size < 8 else insn.imm & MASK64
            st.set_const(name, c)
        st.stack.cells[lo] = size

    def _atomic(self, st, pc, insn, spec, ch, depth) -> None:
        size, off = spec.size, insn.off
        C.check_init(ch, st, pc, insn.src)
        m = C.check_access(ch, st, pc, insn.dst, off, size, False, self.region(depth), atomic=True)
        if st.is_bottom() or not m:
            return
        C.check_stored_value(ch, st, pc, insn.src, m & ~T.STACK | T.SHARED, size,
                             self.options.privileged)
        if st.type_of(f"r{insn.src}") != T.NUMBER:
            st.havoc(f"r{insn.src}", T.NUMBER)
        if m == T.STACK and self._stack_atomic(st, pc, insn, spec, ch):
            return
        if m & T.STACK:
            iv = st.interval(f"r{insn.dst}", "stack_offset")
            if isinstance(iv.lo, int) and isinstance(iv.hi, int):
                self._kill_stack(st, iv.lo + off, iv.hi + off + size, iv.is_singleton())
        ws, wu = _width_range(size, False)
        if spec.op == "cmpxchg":
            C.check_init(ch, st, pc, 0)
            set_number(st, "r0", ws, wu)
        elif spec.op.startswith("fetch") or spec.op == "xchg":
            set_number(st, f"r{insn.src}", ws, wu)

    def _stack_atomic(self, st: State, pc: int, insn, spec, ch: C.Checker) -> bool:
        """An atomic on one stack cell holding a number (or bytes of known value): compute
        the new cell and the fetched old value like the ALU would. False: not that case."""
        iv = st.interval(f"r{insn.dst}", "stack_offset")
        if not iv.is_singleton():
            return False
        size, o = spec.size, iv.lo + insn.off
        cell = st.stack.cell(o, size)
        if cell is None:
            known = self._known_bytes(st, o, o + size)
            if known is None:
                return False
            self._kill_stack(st, o, o + size, True)
            self._const_cell(st, o, known)
            cell = cell_name(o, size)
        if st.type_of(cell) != T.NUMBER:
            return False
        src = f"r{insn.src}"
        op = spec.op.removeprefix("fetch_")
        st.copy_value(OLD, cell)
        if op == "cmpxchg":
            C.check_init(ch, st, pc, 0)
            if st.type_of("r0") != T.NUMBER:
                st.remove(OLD)
                return False
            _copy_low(st, CMP, "r0", size)
            expected, found = st.interval(CMP, "uvalue"), st.interval(OLD, "uvalue")
            if expected.is_singleton() and expected == found:
                _copy_low(st, cell, src, size)
            elif not expected.meet(found).is_bottom():
                _copy_low(st, NEW, src, size)
                ns, nu = views(st, NEW)
                cs, cu = views(st, cell)
                set_number(st, cell, ns.join(cs), nu.join(cu))
            st.remove(CMP)
            st.remove(NEW)
            _copy_low(st, "r0", OLD, size)
        elif op == "xchg":
            _copy_low(st, cell, src, size)
        else:
            self._number_op(st, cell, op, spec.width, insn.src, 0)
        if spec.op.startswith("fetch") or op == "xchg":
            _copy_low(st, src, OLD, size)
        st.remove(OLD)
        return True

    def _lddw(self, st, pc, insn, spec, ch, depth) -> None:
        from cfg import isa
        dst = f"r{insn.dst}"
        form = insn.src
        if form == isa.LDDW_IMM64:
            st.set_const(dst, insn.imm64)
            return
        if form in (isa.LDDW_MAP_FD, isa.LDDW_MAP_IDX, isa.LDDW_MAP_VALUE, isa.LDDW_MAP_IDX_VALUE):
            idx = insn.imm
            if not 0 <= idx < len(self.program.maps):
                ch.fail(pc, "invalid-memory", f"lddw refers to map {idx}, which does not exist")
                st.havoc(dst, T.NUMBER)
                return
            mp = self.maps[idx]
            if form in (isa.LDDW_MAP_FD, isa.LDDW_MAP_IDX):
                progs = self.map_kind(mp) == "prog_array"
                st.havoc(dst, T.MAP_FD_PROGRAMS if progs else T.MAP_FD)
                st.num.assign(var(dst, "map_fd"), idx)
                return
            st.havoc(dst, T.SHARED)
            st.num.assign(var(dst, "map_fd"), idx)
            st.num.assign(var(dst, "shared_offset"), insn.next_imm)
            st.num.assign(var(dst, "shared_region_size"), mp.value_size)
            return
        if form == isa.LDDW_CODE:
            st.havoc(dst, T.FUNC)
            st.num.assign(var(dst, "svalue"), pc + insn.imm + 1)
            return
        st.havoc(dst, T.NUMBER)  # kernel variable (BTF id): an address we never dereference

    def _ldabs(self, st, pc, insn, spec, ch, depth) -> None:
        C.check_init(ch, st, pc, 6, "ld_abs/ld_ind need the context in r6")
        if st.type_of("r6") != T.CTX:
            ch.fail(pc, "invalid-memory", f"ld_abs/ld_ind need the context in r6, not "
                    f"{T.name(st.type_of('r6'))}", f"`r6.type` = {T.name(st.type_of('r6'))}")
        if getattr(self.context, "name", "") != "__sk_buff":
            ch.fail(pc, "invalid-memory", "only socket buffer programs can use ld_abs/ld_ind")
        if spec.kind == "ldind":
            C.check_init(ch, st, pc, insn.src)
            C.check_number(ch, st, pc, insn.src, "pointer-arith", "ld_ind offset")
        for r in range(1, 6):
            st.remove(f"r{r}")
        ws, wu = _width_range(spec.size, False)
        set_number(st, "r0", ws, wu)
