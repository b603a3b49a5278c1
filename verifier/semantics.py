"""Transfer functions: one per instruction kind of `cfg.isa.SPECS`, plus edge refinement.

Numbers keep two views in the numeric domain: `svalue` (signed 64-bit) and `uvalue`
(unsigned 64-bit), related (`svalue = uvalue`) whenever the value is known to lie in
[0, 2^63). Results that may wrap are computed with `domains.machine` on intervals; additions
and subtractions that cannot wrap are assigned as linear expressions, which keeps the zone's
relations (`r2.packet_offset = r1.packet_offset + 14`). Assertions are checked (or assumed)
through `verifier.checks` before each instruction's effect.
"""
from __future__ import annotations

from domains import machine as M
from domains.bounds import Interval
from domains.linear import LinearExpression as E
from domains.linear import eq, le, lt, ne
from verifier import checks as C
from verifier import types as T
from verifier.options import Options
from verifier.stack import cell_name
from verifier.state import META_OFFSET, PACKET_SIZE, State, var

MASK64 = (1 << 64) - 1
S64 = M.full_range(64, True)
U64 = M.full_range(64, False)
U32 = M.full_range(32, False)
HALF64 = 1 << 63
SIGNED_OPS = {"jsgt", "jsge", "jslt", "jsle"}
MAX_PACKET = 65535
META_MIN = -4098
ALU_OP = {"div": "udiv", "mod": "umod"}
HELPER_TAIL_CALL = 12
WRITES_DST = {"alu", "neg", "mov", "movsx", "end", "bswap", "ldx", "ldxsx", "lddw"}


def s64(x: int) -> int:
    """The signed 64-bit reading of x."""
    x &= MASK64
    return x - (1 << 64) if x >> 63 else x


def _width_range(size: int, signed: bool) -> tuple[Interval, Interval]:
    """(signed view, unsigned view) of a value loaded from `size` bytes, zero/sign extended."""
    bits = size * 8
    if bits >= 64:
        return S64, U64
    if signed:
        s = M.full_range(bits, True)
        return s, M.to_unsigned(s, 64)
    u = M.full_range(bits, False)
    return u, u


def meet_var(st: State, x: str, iv: Interval) -> None:
    """Constrain x to iv (in place)."""
    if iv.is_bottom():
        st.set_bottom()
        return
    if isinstance(iv.lo, int):
        st.num.add_constraint(le(iv.lo, x))
    if isinstance(iv.hi, int):
        st.num.add_constraint(le(x, iv.hi))


def views(st: State, r: str) -> tuple[Interval, Interval]:
    """The signed and unsigned ranges of a number, each reduced by the other."""
    s = st.num.interval(var(r, "svalue")).meet(S64)
    u = st.num.interval(var(r, "uvalue")).meet(U64)
    s2 = s.meet(M.to_signed(u, 64))
    u2 = u.meet(M.to_unsigned(s, 64))
    return s2, u2


def sync(st: State, r: str) -> None:
    """Reduce the two views of a number into each other; relate them when in [0, 2^63)."""
    s, u = views(st, r)
    if s.is_bottom() or u.is_bottom():
        st.set_bottom()
        return
    sv, uv = var(r, "svalue"), var(r, "uvalue")
    meet_var(st, sv, s)
    meet_var(st, uv, u)
    if u.hi < HALF64:
        st.num.add_constraint(eq(sv, uv))


def set_number(st: State, r: str, s: Interval, u: Interval) -> None:
    """r becomes a number whose views lie in s and u."""
    s = s.meet(S64).meet(M.to_signed(u.meet(U64), 64))
    u = u.meet(U64).meet(M.to_unsigned(s, 64))
    st.havoc(r, T.NUMBER)
    if s.is_bottom() or u.is_bottom():
        st.set_bottom()
        return
    if s != S64:
        st.num.set_interval(var(r, "svalue"), s)
    if u != U64:
        st.num.set_interval(var(r, "uvalue"), u)
    if u.hi < HALF64:
        st.num.add_constraint(eq(var(r, "svalue"), var(r, "uvalue")))


def _low32(st: State, r: str) -> tuple[Interval, Interval]:
    """(unsigned, signed) 32-bit views of the low half of a number."""
    s, u = views(st, r)
    lu = M.truncate(u, 32, False).meet(M.truncate(s, 32, False))
    ls = M.truncate(u, 32, True).meet(M.truncate(s, 32, True))
    lu = lu.meet(M.to_unsigned(ls, 32))
    ls = ls.meet(M.to_signed(lu, 32))
    return lu, ls


class Semantics:
    """The transfer functions of one program on one platform and program type."""

    def __init__(self, program, platform, ptype, options: Options) -> None:
        self.program = program
        self.platform = platform
        self.ptype = ptype
        self.options = options
        self.maps = list(program.maps)
        self.inner: dict[int, int] = {}
        for i, m in enumerate(program.maps):
            if m.inner is not None:
                self.inner[i] = len(self.maps)
                self.maps.append(m.inner)
        self.readonly = frozenset(i for i, m in enumerate(self.maps) if getattr(m, "readonly", False))
        context = getattr(ptype, "context", None)
        self.context = context
        self.packet_access = bool(getattr(ptype, "packet_access", False))
        self.return_range = getattr(ptype, "return_range", None)
        self.has_meta = bool(context is not None and any(
            getattr(f, "kind", "") == "packet_meta" for f in getattr(context, "fields", ())))
        self.dispatch = {
            "alu": self._alu, "neg": self._neg, "mov": self._mov, "movsx": self._movsx,
            "end": self._end, "bswap": self._end, "ldx": self._load, "ldxsx": self._load,
            "st": self._store, "stx": self._store, "atomic": self._atomic, "lddw": self._lddw,
            "ldabs": self._ldabs, "ldind": self._ldabs, "ja": self._nop, "may_goto": self._nop,
            "jcond": self._jcond, "call": self._call, "callx": self._callx, "exit": self._exit,
        }

    def map_kind(self, mp) -> str:
        """The map's type name on this platform (`prog_array`, `array_of_maps`, ...)."""
        names = getattr(self.platform, "map_types", None) or {}
        return names.get(mp.type) or getattr(mp, "type_name", "")

    # ---- entry state --------------------------------------------------------------------
    def entry_state(self, domain) -> State:
        """r1 = ctx, r10 = top of the stack, packet bounds."""
        st = State.top(domain)
        st.havoc("r1", T.CTX)
        st.num.assign("r1.ctx_offset", 0)
        st.havoc("r10", T.STACK)
        st.num.assign("r10.stack_offset", self.options.stack_top)
        self.bound_globals(st)
        return st

    def bound_globals(self, st: State) -> None:
        st.num.add_constraint(le(0, PACKET_SIZE))
        st.num.add_constraint(le(PACKET_SIZE, MAX_PACKET))
        if self.has_meta:
            st.num.add_constraint(le(META_OFFSET, 0))
            st.num.add_constraint(le(META_MIN, META_OFFSET))
        else:
            st.num.assign(META_OFFSET, 0)

    def region(self, depth: int) -> C.Region:
        top = self.options.stack_top
        size = self.options.stack_size
        return C.Region(top - size * (depth + 1), top, self.context, self.packet_access,
                        top - size * depth, self.readonly)

    # ---- instructions -------------------------------------------------------------------
    def transfer(self, st: State, pc: int, insn, ch: C.Checker, depth: int = 0) -> None:
        """Check then apply one instruction to `st` in place."""
        if st.is_bottom():
            return
        spec = insn.spec
        if insn.dst == 10 and spec.kind in WRITES_DST or spec.kind == "atomic" and \
                insn.src == 10 and (spec.op.startswith("fetch") or spec.op == "xchg"):
            ch.fail(pc, "invalid-memory", "r10, the frame pointer, is read-only")
            return  # assumed not to happen: r10 keeps its value
        self.dispatch[spec.kind](st, pc, insn, spec, ch, depth)

    def _nop(self, st, pc, insn, spec, ch, depth) -> None:
        return

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
        if md == T.NUMBER and ms == T.NUMBER:
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
        if width == 64:
            a_s, a_u = views(st, dst)
            if srcr is None:
                b_s, b_u = Interval.const(imm), Interval.const(imm & MASK64)
            else:
                b_s, b_u = views(st, srcr)
            if op in ("add", "sub"):
                sign = 1 if op == "add" else -1
                sv, uv = var(dst, "svalue"), var(dst, "uvalue")
                es = E.var(sv) + (E.var(var(srcr, "svalue")) * sign if srcr else sign * imm)
                eu = E.var(uv) + (E.var(var(srcr, "uvalue")) * sign if srcr else sign * imm)
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
            ru = M.alu(op, a_u, b_u, 64, False)
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
                eu = E.var(uv) + (E.var(var(srcr, "uvalue")) * sign if srcr else sign * imm)
                st.num.assign(uv, eu)
                st.num.assign(sv, uv)
                self._only_number(st, dst)
                return
        ru = M.alu(op, a_u, b_u, 32, False)
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
                st.num.assign(var(dst, f), E.var(var(srcr, f)) + E.var(var(dst, "svalue")))
            for f in ("shared_region_size", "stack_numeric_size"):
                if f in T.fields(ms):
                    st.num.assign(var(dst, f), var(srcr, f))
            st.num.forget([var(dst, "svalue"), var(dst, "uvalue")])
            st.types[dst] = ms
        elif op == "sub" and md & T.POINTERS and ms & T.POINTERS:
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
            st.num.assign(x, E.var(x) + (E.var(var(srcr, "svalue")) * sign if srcr else sign * imm))
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

    # ---- memory -------------------------------------------------------------------------
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
                elif len(over) == 1 and over[0][0] == o and not signed:
                    a, b = over[0]
                    _, cu = views(st, cell_name(a, b))
                    r = M.truncate(cu, size * 8, False)
                    set_number(st, dst, r, r)
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
            s, u = views(st, srcr)
            if u.hi < (1 << (size * 8)):
                st.copy_value(name, srcr)
            else:
                r = M.truncate(u, size * 8, False).meet(M.truncate(s, size * 8, False))
                set_number(st, name, r, r)
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

    def _jcond(self, st, pc, insn, spec, ch, depth) -> None:
        C.check_init(ch, st, pc, insn.dst)
        ml = st.type_of(f"r{insn.dst}")
        if spec.uses_src_reg:
            C.check_init(ch, st, pc, insn.src)
            mr = st.type_of(f"r{insn.src}")
            zero = mr == T.NUMBER and st.interval(f"r{insn.src}", "svalue").singleton() == 0
        else:
            mr = T.NUMBER
            zero = insn.imm == 0
        if ml == T.NUMBER and mr == T.NUMBER or self.options.privileged:
            return
        lp, rp = ml & ~T.NUMBER, mr & ~T.NUMBER
        if spec.width == 32 and (lp or rp):
            who = insn.dst if lp else insn.src
            ch.fail(pc, "pointer-compare", f"32-bit comparison of pointer r{who} "
                    f"({T.name(st.type_of(f'r{who}'))})")
            return
        if lp and rp:
            if ml != mr or not T.is_single(ml) or ml & ~T.POINTERS:
                ch.fail(pc, "pointer-compare", f"comparison of pointers of different regions "
                        f"({T.name(ml)} and {T.name(mr)})")
            return
        if (lp and mr == T.NUMBER or rp and ml == T.NUMBER) and not zero:
            who = insn.dst if lp else insn.src
            ch.fail(pc, "pointer-compare", f"comparison of pointer r{who} "
                    f"({T.name(st.type_of(f'r{who}'))}) with a number other than NULL")
        elif (lp or rp) and zero and spec.op in ("jsgt", "jsge", "jslt", "jsle"):
            who = insn.dst if lp else insn.src
            ch.fail(pc, "pointer-compare", f"signed comparison of pointer r{who} "
                    f"({T.name(st.type_of(f'r{who}'))}) with NULL")

    # ---- calls --------------------------------------------------------------------------
    def _callx(self, st, pc, insn, spec, ch, depth) -> None:
        C.check_init(ch, st, pc, insn.dst)
        if st.type_of(f"r{insn.dst}") != T.FUNC:
            ch.fail(pc, "invalid-call", f"callx through r{insn.dst}, which is "
                    f"{T.name(st.type_of(f'r{insn.dst}'))}, not a function")

    def _call(self, st, pc, insn, spec, ch, depth) -> None:
        if spec.op == "local":
            return  # handled by the call and return edges of the inlined graph
        if spec.op == "kfunc":
            ch.fail(pc, "invalid-call", f"call to kfunc (BTF id {insn.imm}) is not supported")
            self._clobber(st)
            st.havoc("r0", T.NUMBER)
            return
        helpers = getattr(self.platform, "helpers", {})
        own = getattr(self.ptype, "own_helper", None)
        proto = (own(insn.imm) if own is not None else None) or helpers.get(insn.imm)
        if proto is None:
            ch.fail(pc, "unknown-helper", f"call to unknown helper {insn.imm}")
            self._clobber(st)
            st.havoc("r0", T.NUMBER)
            return
        may_call = getattr(self.ptype, "may_call", None)
        is_own = own is not None and own(insn.imm) is not None
        if not is_own and may_call is not None and not may_call(insn.imm):
            ch.fail(pc, "unknown-helper", f"helper {proto.name} ({insn.imm}) is not available to "
                    f"{getattr(self.ptype, 'name', 'this')} programs")
        from verifier.helpers import call_helper
        call_helper(self, st, pc, proto, ch, depth)

    def _clobber(self, st: State) -> None:
        for r in range(1, 6):
            st.remove(f"r{r}")

    def invalidate_packet(self, st: State) -> None:
        """Packet pointers die after a helper that may move the packet."""
        for v, m in list(st.types.items()):
            if m & T.PACKET:
                rest = m & ~T.PACKET
                st.num.forget([var(v, "packet_offset")])
                if rest:
                    st.types[v] = rest
                elif v.startswith("s["):
                    o, _, rest_ = v[2:-1].partition("...")
                    a = int(o)
                    b = int(rest_) + 1 if rest_ else a + 1
                    st.stack.remove_cell(a)
                    st.stack.mark_ptr(a, b)
                    st.remove(v)
                else:
                    st.remove(v)
        st.num.forget([PACKET_SIZE, META_OFFSET])
        self.bound_globals(st)

    def _exit(self, st, pc, insn, spec, ch, depth) -> None:
        if pc in self.options.unchecked_exits:
            return
        if depth == 0:
            C.check_exit(ch, st, pc, self.return_range, self.options.privileged)
        else:
            C.check_init(ch, st, pc, 0, "the function's return value")

    # ---- call frames --------------------------------------------------------------------
    def enter_call(self, st: State, caller_depth: int) -> None:
        """Call edge: save r6-r9, fresh frame (r10 512 bytes lower), r0 undefined."""
        d = caller_depth + 1
        for i in range(6, 10):
            r = f"r{i}"
            st.copy_value(f"f{d}.{r}", r)
            st.remove(r)
        st.remove("r0")
        x = "r10.stack_offset"
        st.num.assign(x, E.var(x) - self.options.stack_size)

    def leave_call(self, st: State, callee_depth: int) -> None:
        """Return edge: drop the callee's frame, restore r6-r9 and r10, clobber r1-r5."""
        d = callee_depth
        size = self.options.stack_size
        top = self.options.stack_top
        lo, hi = top - size * (d + 1), top - size * d
        for a, b in st.stack.overlapping(lo, hi):
            st.stack.remove_cell(a)
            st.remove(cell_name(a, b))
        st.stack.havoc(lo, hi)
        for i in range(6, 10):
            r = f"r{i}"
            st.copy_value(r, f"f{d}.{r}")
            st.remove(f"f{d}.{r}")
        self._clobber(st)
        x = "r10.stack_offset"
        st.num.assign(x, E.var(x) + size)

    # ---- branches -----------------------------------------------------------------------
    def assume(self, st: State, cond) -> None:
        """Refine `st` in place with an edge condition (cfg.graph.Condition); may make it bottom."""
        if cond is None or st.is_bottom():
            return
        from verifier.branches import refine
        refine(self, st, cond)
