"""The pseudo-C ("llvm") assembly syntax: what `llvm-objdump-19 -d --mcpu=v4` prints.

`parse(text)` reads one instruction (labels and comments already removed) and also takes the
kernel verifier log's and PREVAIL's spellings where they differ (`goto pc+3`,
`(r2 +4)`, `call bpf_map_lookup_elem#1`, `atomic64_fetch_add(...)`); `format(insn)` prints
exactly what llvm-objdump-19 prints for every instruction it can express. Forms LLVM cannot
express (local and kfunc calls, pseudo lddw) use our own spelling, documented in docs/asm.md.
"""
from __future__ import annotations

import re
from typing import Callable

from cfg import isa
from cfg.asmtext import NUM, IDENT_RE, Pending, format_pseudo, hexs, imm32, is_number, off16, \
    parse_int, parse_pseudo, reg_number, rel
from cfg.errors import AsmError
from cfg.isa import Insn

ALU_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "or": "|", "and": "&",
              "lsh": "<<", "rsh": ">>", "mod": "%", "xor": "^", "arsh": "s>>", "sdiv": "s/",
              "smod": "s%"}
SYMBOL_ALU = {v: k for k, v in ALU_SYMBOL.items()}
JMP_SYMBOL = {"jeq": "==", "jgt": ">", "jge": ">=", "jset": "&", "jne": "!=", "jsgt": "s>",
              "jsge": "s>=", "jlt": "<", "jle": "<=", "jslt": "s<", "jsle": "s<="}
SYMBOL_JMP = {v: k for k, v in JMP_SYMBOL.items()}
ATOMIC_SYMBOL = {"add": "+", "or": "|", "and": "&", "xor": "^"}
SYMBOL_ATOMIC = {v: k for k, v in ATOMIC_SYMBOL.items()}
_ALU_CODE = {name: code for code, name in isa.ALU_OP_NAMES.items()}
_JMP_CODE = {name: code for code, name in isa.JMP_OP_NAMES.items()}
_ATOMIC_CODE = {name: code for code, name in isa.ATOMIC_OP_NAMES.items()}

_REG = r"([rw])(\d+)"
_ADDR = rf"\(?\s*r(\d+)\s*(?:([+-])\s*({NUM}))?\s*\)?"
_MEM = rf"\*\s*\(\s*([us])(8|16|32|64)\s*\*\s*\)\s*\(\s*r(\d+)\s*(?:([+-])\s*({NUM}))?\s*\)"


def _reg(prefix: str, num: str) -> int:
    return reg_number(prefix + num)


def _mem_off(sign: str | None, num: str | None) -> int:
    if num is None:
        return 0
    value = parse_int(num)
    return off16(-value if sign == "-" else value, "memory offset")


def _size_code(bits: str) -> int:
    return isa.BYTES_SIZE[int(bits) // 8]


def _target(text: str, field: str = "off") -> tuple[int, str | None]:
    """A jump target: `+3`, `-0x2`, `pc+3` (kernel log) or a label name."""
    t = text.strip()
    if t.startswith("pc") and is_number(t[2:]):
        t = t[2:]
    if is_number(t):
        value = parse_int(t)
        return (off16(value, "jump offset") if field == "off" else imm32(value, "jump offset")), None
    if IDENT_RE.match(t):
        return 0, t
    raise AsmError(f"bad jump target {t!r}")


def _operand(text: str, width: int) -> tuple[bool, int]:
    """(is_reg, value) of a register-or-immediate operand of the given width."""
    t = text.strip()
    m = re.fullmatch(_REG, t)
    if m:
        if (m.group(1) == "w") != (width == 32):
            raise AsmError(f"register {t} does not match the {width}-bit operation")
        return True, _reg(*m.groups())
    return False, imm32(parse_int(t, "register or immediate"))


# --- one handler per form --------------------------------------------------------------------
def _exit(m: re.Match) -> Pending:
    return Pending(Insn(isa.CLS_JMP | isa.JMP_EXIT))


def _call(m: re.Match) -> Pending:
    t = m.group(1).strip()
    op = isa.CLS_JMP | isa.JMP_CALL
    km = re.fullmatch(rf"kfunc\s*\(?\s*({NUM})\s*\)?", t)
    if km:
        return Pending(Insn(op, src=isa.CALL_KFUNC, imm=imm32(parse_int(km.group(1)))))
    hm = re.fullmatch(r"[A-Za-z_]\w*#(\d+)", t)  # kernel log: call bpf_map_lookup_elem#1
    if hm:
        return Pending(Insn(op, imm=imm32(int(hm.group(1)))))
    if is_number(t):
        return Pending(Insn(op, imm=imm32(parse_int(t), "helper id")))
    if t.startswith("pc") and is_number(t[2:]):
        return Pending(Insn(op, src=isa.CALL_LOCAL, imm=imm32(parse_int(t[2:]), "call offset")))
    if IDENT_RE.match(t):
        return Pending(Insn(op, src=isa.CALL_LOCAL), t, "imm")
    raise AsmError(f"bad call target {t!r}")


def _callx(m: re.Match) -> Pending:
    return Pending(Insn(isa.CLS_JMP | isa.SRC_X | isa.JMP_CALL, dst=reg_number(m.group(1), "r")))


def _goto(m: re.Match) -> Pending:
    kind, text = m.group(1), m.group(2)
    if kind == "gotol":
        imm, label = _target(text, "imm")
        return Pending(Insn(isa.CLS_JMP32 | isa.JMP_JA, imm=imm), label, "imm")
    off, label = _target(text)
    code = isa.JMP_JA if kind == "goto" else isa.JMP_JCOND
    return Pending(Insn(isa.CLS_JMP | code, off=off), label)


def _if(m: re.Match) -> Pending:
    prefix, num, sym, right, target = m.groups()
    width = 32 if prefix == "w" else 64
    if width == 32 and re.fullmatch(r"r\d+", right.strip()):  # PREVAIL: `if w1 != r2 goto`
        right = "w" + right.strip()[1:]
    is_reg, value = _operand(right, width)
    cls = isa.CLS_JMP32 if width == 32 else isa.CLS_JMP
    opcode = cls | _JMP_CODE[SYMBOL_JMP[sym]] | (isa.SRC_X if is_reg else isa.SRC_K)
    off, label = _target(target)
    return Pending(Insn(opcode, _reg(prefix, num), value if is_reg else 0, off,
                        0 if is_reg else value), label)


def _atomic_insn(bits: str, base: str, sign, num, op: str, src: int) -> Insn:
    size = isa.SIZE_W if bits == "32" else isa.SIZE_DW
    if bits not in ("32", "64"):
        raise AsmError(f"atomic operations are 32 or 64 bits, not {bits}")
    return Insn(isa.CLS_STX | isa.MODE_ATOMIC | size, reg_number("r" + base), src,
                _mem_off(sign, num), _ATOMIC_CODE[op])


def _lock(m: re.Match) -> Pending:
    us, bits, base, sign, num, sym, sprefix, snum = m.groups()
    if us != "u":
        raise AsmError("atomic operations take a (u32 *) or (u64 *) address")
    return Pending(_atomic_insn(bits, base, sign, num, SYMBOL_ATOMIC[sym], _reg(sprefix, snum)))


def _lock_prevail(m: re.Match) -> Pending:
    # PREVAIL: `lock *(u32 *)(r2 + 4) += r1 fetch`, `... x= r1` (xchg), `... cx= r1` (cmpxchg)
    us, bits, base, sign, num, sym, sprefix, snum, fetch = m.groups()
    if us != "u":
        raise AsmError("atomic operations take a (u32 *) or (u64 *) address")
    op = {"x": "xchg", "cx": "cmpxchg"}.get(sym) or (
        ("fetch_" if fetch else "") + SYMBOL_ATOMIC[sym])
    return Pending(_atomic_insn(bits, base, sign, num, op, _reg(sprefix, snum)))


def _fetch(m: re.Match) -> Pending:
    dprefix, dnum, fn, bits, base, sign, num, sprefix, snum = m.groups()
    op = re.sub(r"^atomic(64)?_", "", fn)  # fetch_add ..., xchg or cmpxchg
    dst, src = _reg(dprefix, dnum), _reg(sprefix, snum)
    if op != "cmpxchg" and dst != src:
        raise AsmError(f"{fn} must write its result to its source register r{src}")
    if op == "cmpxchg" and dst != 0:
        raise AsmError("cmpxchg compares with and writes r0")
    return Pending(_atomic_insn(bits, base, sign, num, op, src))


def _xchg_llvm(m: re.Match) -> Pending:
    # r2 = xchg_64(r1 + 0, r2), w2 = xchg32_32(...), r0 = cmpxchg_64(r1 + 8, r0, r2)
    dprefix, dnum, fn, w32, bits, base, sign, num, sprefix, snum = m.groups()
    if (w32 is not None) != (bits == "32"):
        raise AsmError(f"unknown atomic form {fn}{w32 or ''}_{bits}")
    dst, src = _reg(dprefix, dnum), _reg(sprefix, snum)
    if fn == "xchg" and dst != src:
        raise AsmError(f"xchg must write its result to its source register r{src}")
    if fn == "cmpxchg" and dst != 0:
        raise AsmError("cmpxchg compares with and writes r0")
    return Pending(_atomic_insn(bits, base, sign, num, fn, src))


def _store(m: re.Match) -> Pending:
    us, bits, base, sign, num, value = m.groups()
    if us != "u":
        raise AsmError("stores take an unsigned (uN *) address")
    size = _size_code(bits)
    rm = re.fullmatch(_REG, value.strip())
    if rm:
        return Pending(Insn(isa.CLS_STX | isa.MODE_MEM | size, reg_number("r" + base),
                            _reg(*rm.groups()), _mem_off(sign, num)))
    return Pending(Insn(isa.CLS_ST | isa.MODE_MEM | size, reg_number("r" + base), 0,
                        _mem_off(sign, num), imm32(parse_int(value, "register or immediate"))))


def _load(m: re.Match) -> Pending:
    dprefix, dnum, us, bits, base, sign, num = m.groups()
    size = _size_code(bits)
    if us == "s":
        if bits == "64":
            raise AsmError("there is no sign-extending 64-bit load (use u64)")
        mode = isa.MODE_MEMSX
    else:
        mode = isa.MODE_MEM
    return Pending(Insn(isa.CLS_LDX | mode | size, _reg(dprefix, dnum), reg_number("r" + base),
                        _mem_off(sign, num)))


def _skb(m: re.Match) -> Pending:
    dprefix, dnum, bits, inside = m.groups()
    if _reg(dprefix, dnum) != 0:
        raise AsmError("packet loads (skb[...]) always write r0")
    if bits == "64":
        raise AsmError("packet loads are 8, 16 or 32 bits")
    size = _size_code(bits)
    im = re.fullmatch(rf"\s*r(\d+)\s*(?:([+-])\s*({NUM}))?\s*", inside)
    if im:
        value = parse_int(im.group(3)) if im.group(3) else 0
        value = -value if im.group(2) == "-" else value
        return Pending(Insn(isa.CLS_LD | isa.MODE_IND | size, 0, reg_number("r" + im.group(1)),
                            0, imm32(value)))
    return Pending(Insn(isa.CLS_LD | isa.MODE_ABS | size, imm=imm32(parse_int(inside))))


def _ld_pseudo(m: re.Match) -> Pending:
    dst, src, imm = reg_number(m.group(1), "r"), parse_int(m.group(2)), parse_int(m.group(3))
    if src not in isa.LDDW_FORMS or src == isa.LDDW_IMM64:
        raise AsmError(f"ld_pseudo source {src} is not a pseudo lddw form (1..6)")
    return Pending(Insn(isa.OPCODE_LDDW, dst, src, 0, imm32(imm)))


def _pseudo(m: re.Match) -> Pending:
    item = parse_pseudo(reg_number("r" + m.group(1)), m.group(2))
    if item is None:
        raise AsmError(f"unknown pseudo value {m.group(2).strip()!r}")
    return item


def _lddw(m: re.Match) -> Pending:
    return Pending(_lddw_value(reg_number("r" + m.group(1)), parse_int(m.group(2))))


def _lddw_value(dst: int, value: int) -> Insn:
    if not -(1 << 63) <= value < (1 << 64):
        raise AsmError(f"immediate {value} out of 64-bit range")
    return isa.lddw(dst, value)


def _neg(m: re.Match) -> Pending:
    dp, dn, sp, sn = m.groups()
    if (dp, dn) != (sp, sn):
        raise AsmError("negation is in place: write `r1 = -r1`")
    cls = isa.CLS_ALU if dp == "w" else isa.CLS_ALU64
    return Pending(Insn(cls | isa.ALU_NEG, _reg(dp, dn)))


def _endian(m: re.Match) -> Pending:
    dp, dn, kind, bits, sp, sn = m.groups()
    if dn != sn:
        raise AsmError(f"{kind}{bits} is in place: write `r{dn} = {kind}{bits} r{dn}`")
    opcode = {"le": isa.CLS_ALU | isa.SRC_K, "be": isa.CLS_ALU | isa.SRC_X,
              "bswap": isa.CLS_ALU64 | isa.SRC_K}[kind] | isa.ALU_END
    return Pending(Insn(opcode, _reg(dp, dn), imm=int(bits)))


def _movsx(m: re.Match) -> Pending:
    dp, dn, bits, sp, sn = m.groups()
    if dp != sp:
        raise AsmError("sign-extending move needs registers of one width")
    cls = isa.CLS_ALU if dp == "w" else isa.CLS_ALU64
    return Pending(Insn(cls | isa.SRC_X | isa.ALU_MOV, _reg(dp, dn), _reg(sp, sn), int(bits)))


def _mov(m: re.Match) -> Pending:
    dp, dn, right = m.groups()
    right = right.strip()
    width = 32 if dp == "w" else 64
    cls = isa.CLS_ALU if width == 32 else isa.CLS_ALU64
    if width == 64 and is_number(right):
        value = parse_int(right)
        # llvm-mc (and PREVAIL) wrap 2**31..2**32-1 into the imm (`r1 = 0xfffffffe` is -2);
        # a value that fits no imm32 becomes lddw
        if not -(1 << 31) <= value < (1 << 32):
            return Pending(_lddw_value(_reg(dp, dn), value))
    if width == 32 and re.fullmatch(r"r\d+", right):  # PREVAIL writes `w2 = r1` for mov32
        right = "w" + right[1:]
    is_reg, value = _operand(right, width)
    if is_reg:
        return Pending(Insn(cls | isa.SRC_X | isa.ALU_MOV, _reg(dp, dn), value))
    return Pending(Insn(cls | isa.SRC_K | isa.ALU_MOV, _reg(dp, dn), imm=value))


def _alu(m: re.Match) -> Pending:
    dp, dn, sym, right = m.groups()
    width = 32 if dp == "w" else 64
    op = SYMBOL_ALU[sym]
    signed = op in ("sdiv", "smod")
    code = _ALU_CODE[op[1:] if signed else op]
    if width == 32 and re.fullmatch(r"r\d+", right.strip()):  # PREVAIL: `w1 >>= r2`
        right = "w" + right.strip()[1:]
    is_reg, value = _operand(right, width)
    cls = isa.CLS_ALU if width == 32 else isa.CLS_ALU64
    opcode = cls | code | (isa.SRC_X if is_reg else isa.SRC_K)
    return Pending(Insn(opcode, _reg(dp, dn), value if is_reg else 0, int(signed),
                        0 if is_reg else value))


_SYMS = "|".join(re.escape(s) for s in sorted(SYMBOL_ALU, key=len, reverse=True))
_JSYMS = "|".join(re.escape(s) for s in sorted(SYMBOL_JMP, key=len, reverse=True))
_ASYMS = "|".join(re.escape(s) for s in SYMBOL_ATOMIC)
_FORMS: list[tuple[re.Pattern, Callable[[re.Match], Pending]]] = [
    (re.compile(p), h) for p, h in (
        (r"exit", _exit),
        (r"callx\s+(\S+)", _callx),
        (r"call\s+(.+)", _call),
        (r"(goto|gotol|may_goto)\s+(\S+)", _goto),
        (rf"if\s+{_REG}\s*({_JSYMS})\s*(\S+?)\s+goto\s+(\S+)", _if),
        (rf"lock\s+{_MEM}\s*({_ASYMS})=\s*{_REG}", _lock),
        (rf"lock\s+{_MEM}\s*({_ASYMS}|x|cx)=\s*{_REG}(\s+fetch)?", _lock_prevail),
        (rf"{_REG}\s*=\s*((?:atomic(?:64)?_)?(?:fetch_(?:add|or|and|xor)|xchg|cmpxchg))\s*\(\s*"
         rf"\(\s*u(32|64)\s*\*\s*\)\s*\(\s*r(\d+)\s*(?:([+-])\s*({NUM}))?\s*\)\s*,\s*"
         rf"(?:[rw]0\s*,\s*)?{_REG}\s*\)", _fetch),
        (rf"{_REG}\s*=\s*(xchg|cmpxchg)(32)?_(32|64)\s*\(\s*r(\d+)\s*(?:([+-])\s*({NUM}))?\s*,"
         rf"\s*(?:[rw]0\s*,\s*)?{_REG}\s*\)", _xchg_llvm),
        (rf"{_MEM}\s*=\s*(\S+)", _store),
        (rf"{_REG}\s*=\s*\*\s*\(\s*u(8|16|32|64)\s*\*\s*\)\s*skb\s*\[([^\]]*)\]", _skb),
        (rf"{_REG}\s*=\s*{_MEM}", _load),
        (rf"ld_pseudo\s+(r\d+)\s*,\s*({NUM})\s*,\s*({NUM})", _ld_pseudo),
        (r"r(\d+)\s*=\s*([a-z_]+\s*\(.*?|map_fd\s+\S+)(?:\s+ll)?", _pseudo),
        (rf"r(\d+)\s*=\s*({NUM})\s*ll", _lddw),
        (rf"{_REG}\s*=\s*-\s*{_REG}", _neg),
        (rf"{_REG}\s*=\s*(le|be|bswap)(16|32|64)\s+{_REG}", _endian),
        (rf"{_REG}\s*=\s*\(\s*s(8|16|32)\s*\)\s*{_REG}", _movsx),
        (rf"{_REG}\s*=\s*(\S+|-\s*\S+)", _mov),
        (rf"{_REG}\s*({_SYMS})=\s*(\S+|-\s*\S+)", _alu),
    )
]
_KERNEL_PREFIX = re.compile(r"^\(\s*[0-9a-fA-F]{2}\s*\)\s*")  # kernel log: "(b7) r0 = 0"


def parse(text: str) -> Pending:
    """One instruction in llvm syntax; AsmError (without a line number) when it is not one."""
    t = _KERNEL_PREFIX.sub("", text.strip())
    for pattern, handler in _FORMS:
        m = pattern.fullmatch(t)
        if m:
            return handler(m)
    raise AsmError(f"cannot parse {t!r}")


# --- printing --------------------------------------------------------------------------------
def _r(n: int, width: int = 64) -> str:
    return f"w{n}" if width == 32 else f"r{n}"


def _addr(base: int, off: int) -> str:
    return f"r{base} {'-' if off < 0 else '+'} 0x{abs(off):x}"


def format(insn: Insn, labels: dict[int, str] | None = None, pc: int = 0) -> str:
    """The instruction as llvm-objdump-19 prints it (`labels` maps target pc -> name)."""
    spec = insn.spec
    k = spec.kind
    w = spec.width

    def target(offset: int) -> str:
        if labels is not None and pc + 1 + offset in labels:
            return labels[pc + 1 + offset]
        return rel(offset)

    if k == "alu":
        right = _r(insn.src, w) if spec.uses_src_reg else hexs(insn.imm)
        return f"{_r(insn.dst, w)} {ALU_SYMBOL[spec.op]}= {right}"
    if k == "mov":
        right = _r(insn.src, w) if spec.uses_src_reg else hexs(insn.imm)
        return f"{_r(insn.dst, w)} = {right}"
    if k == "movsx":
        return f"{_r(insn.dst, w)} = (s{spec.size * 8}){_r(insn.src, w)}"
    if k == "neg":
        return f"{_r(insn.dst, w)} = -{_r(insn.dst, w)}"
    if k in ("end", "bswap"):
        return f"r{insn.dst} = {spec.op}{insn.imm} r{insn.dst}"
    if k in ("ldx", "ldxsx"):
        d = _r(insn.dst, 64 if spec.size == 8 or k == "ldxsx" else 32)
        us = "s" if k == "ldxsx" else "u"
        return f"{d} = *({us}{spec.size * 8} *)({_addr(insn.src, insn.off)})"
    if k == "st":
        return f"*(u{spec.size * 8} *)({_addr(insn.dst, insn.off)}) = {hexs(insn.imm)}"
    if k == "stx":
        s = _r(insn.src, 64 if spec.size == 8 else 32)
        return f"*(u{spec.size * 8} *)({_addr(insn.dst, insn.off)}) = {s}"
    if k == "atomic":
        bits = spec.size * 8
        s = _r(insn.src, bits)
        where = f"({_addr(insn.dst, insn.off)})"
        if spec.op in ATOMIC_SYMBOL:
            return f"lock *(u{bits} *){where} {ATOMIC_SYMBOL[spec.op]}= {s}"
        if spec.op.startswith("fetch_"):
            return f"{s} = atomic_{spec.op}((u{bits} *){where}, {s})"
        name = spec.op + ("32_32" if bits == 32 else "_64")
        if spec.op == "xchg":
            return f"{s} = {name}({_addr(insn.dst, insn.off)}, {s})"
        r0 = _r(0, bits)
        return f"{r0} = {name}({_addr(insn.dst, insn.off)}, {r0}, {s})"
    if k == "lddw":
        if insn.src == isa.LDDW_IMM64:
            value = insn.imm64
            return f"r{insn.dst} = {hexs(value - (1 << 64) if value >> 63 else value)} ll"
        return f"r{insn.dst} = {format_pseudo(insn, target(insn.imm))}"
    if k == "ldabs":
        return f"r0 = *(u{spec.size * 8} *)skb[{hexs(insn.imm)}]"
    if k == "ldind":
        extra = f" {'-' if insn.imm < 0 else '+'} 0x{abs(insn.imm):x}" if insn.imm else ""
        return f"r0 = *(u{spec.size * 8} *)skb[r{insn.src}{extra}]"
    if k == "jcond":
        right = _r(insn.src, w) if spec.uses_src_reg else hexs(insn.imm)
        return f"if {_r(insn.dst, w)} {JMP_SYMBOL[spec.op]} {right} goto {target(insn.off)}"
    if k == "ja":
        if w == 32:
            return f"gotol {target(insn.imm)}"
        return f"goto {target(insn.off)}"
    if k == "may_goto":
        return f"may_goto {target(insn.off)}"
    if k == "call":
        if insn.src == isa.CALL_HELPER:
            return f"call {hexs(insn.imm)}"
        if insn.src == isa.CALL_KFUNC:
            return f"call kfunc({insn.imm})"
        if labels is not None and pc + 1 + insn.imm in labels:
            return f"call {labels[pc + 1 + insn.imm]}"
        return f"call pc{'-' if insn.imm < 0 else '+'}{abs(insn.imm)}"
    if k == "callx":
        return f"callx r{insn.dst}"
    return "exit"
