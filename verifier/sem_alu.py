"""Transfer functions of the ALU kinds: alu (add ... arsh, 32 and 64-bit), neg, mov, movsx,
end and bswap, on numbers and on pointers (pointer plus number, pointer minus pointer).

Results that may wrap are computed with `domains.machine` on intervals; additions and
subtractions that cannot wrap are assigned as linear expressions, which keeps the zone's
relations (`r2.packet_offset = r1.packet_offset + 14`).
"""
from __future__ import annotations

from domains import machine as M
from domains.bounds import Interval
from domains.linear import LinearExpression as E
from domains.linear import eq
from verifier import checks as C
from verifier import types as T
from verifier.sem_numbers import MASK64, S64, U32, U64, _low32, plus, set_number, sync, views
from verifier.state import State, var

ALU_OP = {"div": "udiv", "mod": "umod"}


def _mask_keeps(a_u: Interval, b_u: Interval | None, imm: int, width: int) -> bool:
    """Whether the width-bit `a & b` (zero-extended) is `a` for every unsigned a in a_u: b
    (the register's range b_u, or the immediate) is a known low-bit mask 2^k - 1 of at most
    `width` bits and a_u lies in [0, 2^k - 1]."""
    c = (imm & MASK64 if width == 64 else imm & 0xFFFFFFFF) if b_u is None else b_u.singleton()
    return c is not None and c < 1 << width and c & (c + 1) == 0 and \
        isinstance(a_u.hi, int) and a_u.hi <= c


def _shifted_in_zeros(op: str, count: Interval, width: int) -> Interval:
    """`x << k` (k in [0, width), known at least to be `count.lo`) has its k low bits clear,
    wrapped or not: at most 2^width - 2^k. Everything for other operations."""
    full = M.full_range(width, False)
    if op != "lsh" or not isinstance(count.lo, int) or not 0 < count.lo or \
            not isinstance(count.hi, int) or count.hi >= width:
        return full
    return Interval(0, (1 << width) - (1 << count.lo))


class AluSemantics:
    """Mixin of `verifier.semantics.Semantics`: the arithmetic instruction kinds."""

    def _operand(self, st: State, pc: int, insn, spec, ch) -> tuple[int | None, int]:
        """(source register or None, sign-extended immediate), checking the source."""
        if spec.uses_src_reg:
            C.check_init(ch, st, pc, insn.src)
            return insn.src, 0
        return None, insn.imm

    def _alu(self, st, pc, insn, spec, ch, depth) -> None:
        op = ALU_OP.get(spec.op, spec.op)
        dst = f"r{insn.dst}"
        C.check_init(ch, st, pc, insn.dst)
        src, imm = self._operand(st, pc, insn, spec, ch)
        if st.is_bottom():
            return
        if op in ("udiv", "umod", "sdiv", "smod") and not self.options.allow_division_by_zero:
            C.check_divisor(ch, st, pc, src, imm, spec.width)
        md = st.type_of(dst)
        ms = st.type_of(f"r{src}") if src is not None else T.NUMBER
        if src == insn.dst and (op == "sub" and not md & ~(T.NUMBER | T.POINTERS) and
                                (spec.width == 64 or md == T.NUMBER) or
                                op == "xor" and md == T.NUMBER):
            st.set_const(dst, 0)  # `r1 -= r1`, `r1 ^= r1`: zero whatever r1 is (one value)
        elif md == T.NUMBER and ms == T.NUMBER:
            self._number_op(st, dst, op, spec.width, src, imm)
        elif spec.width == 64 and op in ("add", "sub"):
            self._pointer_arith(st, pc, insn.dst, op, src, imm, ch)
        elif op == "sub" and md == ms and md in T.OFFSET_FIELD and src is not None:
            # 32-bit difference of two pointers into one region (data_end - data as u32)
            f = T.OFFSET_FIELD[md]
            diff = st.num.interval(E.var(var(dst, f)) - E.var(var(f"r{src}", f)))
            r = M.truncate(diff, 32, False)
            set_number(st, dst, r, r)
        else:
            who = dst if md != T.NUMBER else f"r{src}"
            ch.fail(pc, "pointer-arith", f"{spec.name} on pointer {who} "
                    f"({T.name(st.type_of(who))}): only 64-bit add/sub of numbers is allowed",
                    f"`{who}.type` = {T.name(st.type_of(who))}")
            st.havoc(dst, T.NUMBER)

    def _number_op(self, st: State, dst: str, op: str, width: int, src: int | None,
                   imm: int) -> None:
        srcr = f"r{src}" if src is not None else None
        if op == "and" and _mask_keeps(views(st, dst)[1], srcr and views(st, srcr)[1], imm,
                                       width):
            return  # `r2 &= 0xff` on a value in [0, 255]: unchanged, relations kept
        if width == 64:
            a_s, a_u = views(st, dst)
            if srcr is None:
                b_s, b_u = Interval.const(imm), Interval.const(imm & MASK64)
            else:
                b_s, b_u = views(st, srcr)
            if op in ("add", "sub"):
                sign = 1 if op == "add" else -1
                sv, uv = var(dst, "svalue"), var(dst, "uvalue")
                es = plus(st, sv, srcr and var(srcr, "svalue"), sign, imm)
                eu = plus(st, uv, srcr and var(srcr, "uvalue"), sign, imm)
                rs = (a_s + b_s) if sign > 0 else (a_s - b_s)
                ru = (a_u + Interval.const(imm) if srcr is None else a_u + b_u) if sign > 0 else \
                    (a_u - Interval.const(imm) if srcr is None else a_u - b_u)
                s_ok, u_ok = rs.leq(S64), ru.leq(U64)
                if s_ok and u_ok:
                    st.num.assign(sv, es)
                    st.num.assign(uv, eu)
                    self._only_number(st, dst)
                    return
                if s_ok:
                    st.num.assign(sv, es)
                    self._only_number(st, dst)
                    st.num.forget([uv])
                    sync(st, dst)
                    return
                if u_ok:
                    st.num.assign(uv, eu)
                    self._only_number(st, dst)
                    st.num.forget([sv])
                    sync(st, dst)
                    return
            rs = M.alu(op, a_s, b_s, 64, True)
            ru = M.alu(op, a_u, b_u, 64, False).meet(_shifted_in_zeros(op, b_u, 64))
            if srcr is None and imm == 32 and op in ("lsh", "rsh", "arsh"):
                if self._shift32(st, dst, op, a_s, a_u, rs, ru):
                    return
            self._machine_result(st, dst, op, 64, srcr, imm, rs, ru)
            return
        # 32-bit: operate on the low halves, zero-extend the result
        a_u, a_s = _low32(st, dst)
        if srcr is None:
            b_u, b_s = Interval.const(imm & 0xFFFFFFFF), Interval.const(imm)
        else:
            b_u, b_s = _low32(st, srcr)
        if op in ("add", "sub"):
            clean_a = views(st, dst)[1].leq(U32)
            clean_b = srcr is None or views(st, srcr)[1].leq(U32)
            sign = 1 if op == "add" else -1
            bb = Interval.const(imm) if srcr is None else b_u
            r = (a_u + bb) if sign > 0 else (a_u - bb)
            if clean_a and clean_b and r.leq(U32):
                uv, sv = var(dst, "uvalue"), var(dst, "svalue")
                eu = plus(st, uv, srcr and var(srcr, "uvalue"), sign, imm)
                st.num.assign(uv, eu)
                st.num.assign(sv, uv)
                self._only_number(st, dst)
                return
        ru = M.alu(op, a_u, b_u, 32, False).meet(_shifted_in_zeros(op, b_u, 32))
        rs = M.alu(op, a_s, b_s, 32, True)
        r = ru.meet(M.to_unsigned(rs, 32))
        self._machine_result(st, dst, op, 32, srcr, imm, r, r)

    def _machine_result(self, st: State, dst: str, op: str, width: int, srcr: str | None,
                        imm: int, rs: Interval, ru: Interval) -> None:
        """set_number; a domain that models machine operations itself (an optional method
        `machine_assign(var, op, a, b, width)`, e.g. known bits) refines the result too."""
        hook = getattr(st.num, "machine_assign", None)
        if hook is None:
            set_number(st, dst, rs, ru)
            return
        tmp = f"{dst}.machine"
        b = var(srcr, "uvalue") if srcr is not None else imm & MASK64
        hook(tmp, op, var(dst, "uvalue"), b, width)
        set_number(st, dst, rs, ru)
        if not st.is_bottom():
            st.num.add_constraint(eq(var(dst, "uvalue"), tmp))
            st.num.forget([tmp])
            sync(st, dst)

    def _shift32(self, st: State, dst: str, op: str, a_s: Interval, a_u: Interval,
                 rs: Interval, ru: Interval) -> bool:
        """`r <<= 32` then `r >>= 32` (or `s>>= 32`) zero- (sign-) extends a 32-bit value; when
        the value already fits, the pair is the identity: keep the value's relations."""
        zx = var(dst, "zext")
        sv, uv = var(dst, "svalue"), var(dst, "uvalue")
        if op == "lsh":
            saved = None
            if a_u.hi < (1 << 31):
                saved = uv
            elif a_s.leq(Interval(-(1 << 31), (1 << 31) - 1)) or a_u.hi < (1 << 32):
                saved = uv if a_u.hi < (1 << 32) else sv
                if saved == sv:
                    return False
            if saved is None:
                return False
            st.num.assign(zx, saved)
            st.num.forget([sv, uv])
            st.num.set_interval(sv, rs)
            st.num.set_interval(uv, ru)
            sync(st, dst)
            return True
        z = st.num.interval(zx)
        if z.is_bottom() or not z.is_finite() or z.lo < 0:
            return False
        if op == "arsh" and z.hi >= (1 << 31):
            return False
        st.num.assign(uv, zx)
        st.num.assign(sv, zx)
        st.num.forget([zx])
        return True

    def _only_number(self, st: State, r: str) -> None:
        """r is now a number: drop its pointer fields and type."""
        st.num.forget([var(r, f) for f in T.ALL_FIELDS if f not in ("svalue", "uvalue")])
        st.types[r] = T.NUMBER

    def _pointer_arith(self, st: State, pc: int, d: int, op: str, src: int | None, imm: int,
                       ch: C.Checker) -> None:
        dst = f"r{d}"
        md = st.type_of(dst)
        srcr = f"r{src}" if src is not None else None
        ms = st.type_of(srcr) if srcr else T.NUMBER
        if md & T.POINTERS and ms == T.NUMBER:
            self._ptr_plus(st, pc, dst, md, srcr, imm, op == "sub", ch)
        elif md == T.NUMBER and ms & T.POINTERS and op == "add":
            if ms & ~T.POINTERS:
                ch.fail(pc, "pointer-arith", f"arithmetic on {srcr} ({T.name(ms)}), which may be "
                        f"NULL or not a pointer", f"`{srcr}.type` = {T.name(ms)}")
            ms &= T.POINTERS
            for b in T.bits(ms):
                f = T.OFFSET_FIELD[b]
                st.num.assign(var(dst, f), plus(st, var(srcr, f), var(dst, "svalue"), 1))
            for f in ("shared_region_size", "stack_numeric_size"):
                if f in T.fields(ms):
                    st.num.assign(var(dst, f), var(srcr, f))
            st.num.forget([var(dst, "svalue"), var(dst, "uvalue")])
            st.num.assign(var(dst, "region"), var(srcr, "region"))
            st.types[dst] = ms
        elif op == "sub" and md & T.POINTERS and ms & T.POINTERS:
            if not T.is_single(md) and not md & ~(T.NUMBER | T.POINTERS) and \
                    not md & T.SHARED and st.same_region(dst, srcr):
                self._same_region_difference(st, dst, srcr, md)
                return
            if md != ms or not T.is_single(md):
                ch.fail(pc, "pointer-arith", f"subtraction of pointers of different regions "
                        f"({T.name(md)} - {T.name(ms)})", f"`{dst}.type` = {T.name(md)}, "
                        f"`{srcr}.type` = {T.name(ms)}")
                st.havoc(dst, T.NUMBER)
                return
            if md == T.SHARED:
                # two map values (or one value and global data) are different objects: the
                # difference of their addresses is not the difference of their offsets
                st.havoc(dst, T.NUMBER)
                return
            f = T.OFFSET_FIELD[md]
            st.num.assign(var(dst, "svalue"), E.var(var(dst, f)) - E.var(var(srcr, f)))
            self._only_number(st, dst)
            st.num.forget([var(dst, "uvalue")])
            sync(st, dst)
        else:
            ch.fail(pc, "pointer-arith", f"{'addition' if op == 'add' else 'subtraction'} of "
                    f"{T.name(ms)} {'to' if op == 'add' else 'from'} {T.name(md)} is not allowed",
                    f"`{dst}.type` = {T.name(md)}" + (f", `{srcr}.type` = {T.name(ms)}" if srcr else ""))
            st.havoc(dst, T.NUMBER)

    def _same_region_difference(self, st: State, dst: str, srcr: str, mask: int) -> None:
        """dst - srcr for two values of several possible types that surely share one (they
        took their types on the same paths): the hull of the per-type differences."""
        out = Interval.bottom()
        for b in T.bits(mask):
            f = "svalue" if b == T.NUMBER else T.OFFSET_FIELD[b]
            d = st.num.interval(E.var(var(dst, f)) - E.var(var(srcr, f)))
            out = out.join(d if d.leq(S64) else S64)  # a number difference may wrap
        set_number(st, dst, out, U64)

    def _ptr_plus(self, st, pc, dst, md, srcr, imm, minus, ch) -> None:
        if md & ~T.POINTERS:
            if not (srcr is None and imm == 0):
                nullable = md & T.NUMBER
                ch.fail(pc, "pointer-arith", f"arithmetic on {dst} ({T.name(md)}), which "
                        + ("may be NULL: check it first" if nullable else "is not a pointer"),
                        f"`{dst}.type` = {T.name(md)}")
            md &= T.POINTERS
            st.types[dst] = md
        sign = -1 if minus else 1
        for b in T.bits(md):
            f = T.OFFSET_FIELD[b]
            x = var(dst, f)
            st.num.assign(x, plus(st, x, srcr and var(srcr, "svalue"), sign, imm))
        st.num.forget([var(dst, "svalue"), var(dst, "uvalue")])

    def _neg(self, st, pc, insn, spec, ch, depth) -> None:
        dst = f"r{insn.dst}"
        C.check_init(ch, st, pc, insn.dst)
        if not C.check_number(ch, st, pc, insn.dst, "pointer-arith", "negation of a pointer"):
            return
        if spec.width == 64:
            s, u = views(st, dst)
            set_number(st, dst, M.alu("neg", s, None, 64, True), M.alu("neg", u, None, 64, False))
        else:
            lu, ls = _low32(st, dst)
            r = M.alu("neg", lu, None, 32, False).meet(M.to_unsigned(M.alu("neg", ls, None, 32, True), 32))
            set_number(st, dst, r, r)

    def _mov(self, st, pc, insn, spec, ch, depth) -> None:
        dst = f"r{insn.dst}"
        if not spec.uses_src_reg:
            c = insn.imm & (MASK64 if spec.width == 64 else 0xFFFFFFFF)
            st.set_const(dst, c)
            return
        src = f"r{insn.src}"
        if spec.width == 64 and insn.src == insn.dst:
            return  # `r5 = r5`: a no-op (PREVAIL tests use it as filler), nothing is read
        C.check_init(ch, st, pc, insn.src)
        if spec.width == 64:
            st.copy_value(dst, src)
            return
        if st.type_of(src) != T.NUMBER:
            ch.fail(pc, "pointer-arith", f"32-bit copy of pointer {src} ({T.name(st.type_of(src))})",
                    f"`{src}.type` = {T.name(st.type_of(src))}")
            st.havoc(dst, T.NUMBER)
            st.num.set_interval(var(dst, "uvalue"), U32)
            sync(st, dst)
            return
        s, u = views(st, src)
        if u.leq(U32):
            st.copy_value(dst, src)
            return
        lu, _ = _low32(st, src)
        set_number(st, dst, lu, lu)

    def _movsx(self, st, pc, insn, spec, ch, depth) -> None:
        dst, src = f"r{insn.dst}", f"r{insn.src}"
        C.check_init(ch, st, pc, insn.src)
        if st.type_of(src) != T.NUMBER:
            ch.fail(pc, "pointer-arith", f"sign extension of pointer {src}",
                    f"`{src}.type` = {T.name(st.type_of(src))}")
            st.havoc(dst, T.NUMBER)
            return
        bits = spec.size * 8
        s, u = views(st, src)
        half = 1 << (bits - 1)
        if spec.width == 64 and s.leq(Interval(-half, half - 1)):
            st.copy_value(dst, src)
            st.num.forget([var(dst, "uvalue")])
            sync(st, dst)
            return
        rs = M.sign_extend(s, bits, spec.width, True).meet(M.sign_extend(u, bits, spec.width, True))
        if spec.width == 64:
            set_number(st, dst, rs, M.to_unsigned(rs, 64))
        else:
            r = M.to_unsigned(rs, 32)
            set_number(st, dst, r, r)

    def _end(self, st, pc, insn, spec, ch, depth) -> None:
        dst = f"r{insn.dst}"
        C.check_init(ch, st, pc, insn.dst)
        if not C.check_number(ch, st, pc, insn.dst, "pointer-arith", "byte swap of a pointer"):
            return
        bits = spec.size * 8
        s, u = views(st, dst)
        if spec.op == "le" and not self.options.big_endian or spec.op == "be" and self.options.big_endian:
            if bits == 64:
                return
            if u.hi < (1 << bits):
                return
            r = M.to_le(u, bits)
        else:
            r = M.bswap(u, bits)
        set_number(st, dst, M.to_signed(r, 64), r)
