"""Hypothesis strategies drawing valid instructions from every entry of `cfg.isa.SPECS`."""
from __future__ import annotations

import random

from hypothesis import strategies as st

from cfg import isa
from cfg.isa import SPECS, Insn

KEYS = sorted(SPECS)
REG = st.integers(0, isa.MAX_REG)
S16 = st.integers(-0x8000, 0x7FFF)
S32 = st.integers(-0x80000000, 0x7FFFFFFF)
SMALL_IMM = st.one_of(S32, st.integers(-70000, 70000), st.sampled_from([0, 1, -1, 0x7FFFFFFF]))
SMALL_OFF = st.one_of(S16, st.integers(-20, 20))


def make_insn(key: tuple[int, int], reg, off, imm, form) -> Insn:
    """A valid instruction of one table entry; reg/off/imm/form are zero-argument pickers."""
    opcode, variant = key
    spec = SPECS[key]
    k = spec.kind
    dst = src = o = i = n = 0
    if k in ("alu", "mov", "movsx", "neg", "end", "bswap", "ldx", "ldxsx", "st", "stx",
             "atomic", "lddw", "jcond", "callx"):
        dst = reg()
    if spec.uses_src_reg:
        src = reg()
    if k in ("alu", "mov", "jcond") and not spec.uses_src_reg or k in ("st", "ldabs", "ldind"):
        i = imm()
    if k == "alu" and spec.op in ("sdiv", "smod") or k == "movsx":
        o = variant
    if k in ("end", "bswap", "atomic"):
        i = variant
    if k in ("ldx", "ldxsx", "st", "stx", "atomic", "jcond", "may_goto"):
        o = off()
    if k == "ja":
        if spec.width == 32:
            i = imm()
        else:
            o = off()
    if k == "call":
        src = variant
        i = imm()
    if k == "lddw":
        src = form()
        i = imm()
        if src in (isa.LDDW_IMM64, isa.LDDW_MAP_VALUE, isa.LDDW_MAP_IDX_VALUE):
            n = imm()
    return Insn(opcode, dst, src, o, i, n)


@st.composite
def insn_of(draw, key: tuple[int, int], off=SMALL_OFF, imm=SMALL_IMM) -> Insn:
    """A valid instruction of one table entry, operands drawn by hypothesis."""
    return make_insn(key, lambda: draw(REG), lambda: draw(off), lambda: draw(imm),
                     lambda: draw(st.sampled_from(isa.LDDW_FORMS)))


def random_insn(key: tuple[int, int], rnd: random.Random) -> Insn:
    """A valid instruction of one table entry from a seeded generator (for big batches)."""
    def imm() -> int:
        return rnd.choice([rnd.randint(-(1 << 31), (1 << 31) - 1), rnd.randint(-300, 300), 0])

    def off() -> int:
        return rnd.choice([rnd.randint(-0x8000, 0x7FFF), rnd.randint(-20, 20)])

    return make_insn(key, lambda: rnd.randint(0, isa.MAX_REG), off, imm,
                     lambda: rnd.choice(isa.LDDW_FORMS))


def every_entry(rnd: random.Random, per_key: int) -> list[Insn]:
    """`per_key` random instructions of every table entry."""
    return [random_insn(key, rnd) for key in KEYS for _ in range(per_key)]


def any_insn(**kw) -> st.SearchStrategy[Insn]:
    """Any valid instruction."""
    return st.sampled_from(KEYS).flatmap(lambda key: insn_of(key, **kw))


def programs(max_size: int = 30, **kw) -> st.SearchStrategy[list[Insn]]:
    return st.lists(any_insn(**kw), min_size=1, max_size=max_size)
