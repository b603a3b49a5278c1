"""A hypothesis strategy for random eBPF programs of realistic shape, and the comparison of our
verdict with the Linux kernel verifier's on them.

`programs()` draws XDP programs as llvm-syntax text (then assembled by `cfg.asm`) from snippets:
ALU chains (64 and 32 bit), branches that skip code, bounded loops, packet reads behind a bounds
check (sometimes off by one, sometimes missing: unsafe), variable packet offsets, stack spills and
fills (sometimes of an unwritten slot), map lookups with and without a NULL check and in- or
out-of-bounds value accesses, and helper calls. Registers keep fixed roles so the programs look
like compiled ones: r6 = ctx, r7 = data, r8 = data_end, r9 an accumulator.

`compare(program)` loads it into the kernel (as root, XDP) and returns a `Verdict` pair with a
reason on each side; `summarize` groups disagreements by reason.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import strategies as st

from cfg.program import MapDef, Program

MAP = MapDef("m", 2, 4, 16, 4)          # BPF_MAP_TYPE_ARRAY, u32 key, 16-byte value
ALU = ("+=", "-=", "*=", "&=", "|=", "^=", "<<=", ">>=", "s>>=", "/=", "%=")
CMP = ("==", "!=", ">", ">=", "<", "<=", "s>", "s>=", "s<", "s<=", "&")
SIZES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


class _Labels:
    def __init__(self) -> None:
        self.n = 0

    def new(self) -> str:
        self.n += 1
        return f"L{self.n}"


@st.composite
def _alu_chain(draw, lab: _Labels) -> list[str]:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(ALU))
        w = draw(st.sampled_from(("r", "r", "w")))
        if draw(st.booleans()):
            k = draw(st.sampled_from((0, 1, 2, 3, 7, 8, 14, 31, 32, 63, 255, -1, 0x7fffffff)))
            if op in ("<<=", ">>=", "s>>="):
                k &= 31 if w == "w" else 63
            out.append(f"{w}9 {op} {k}")
        else:
            src = draw(st.sampled_from(("4", "5")))
            out.insert(0, f"r{src} = {draw(st.integers(-5, 300))}")
            out.append(f"{w}9 {op} {w}{src}")
    return out


@st.composite
def _alu_v4(draw, lab: _Labels) -> list[str]:
    """Signed division, sign extension, byte swaps, negation, atomics, 32-bit branches."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        out.append(draw(st.sampled_from((
            "r9 s/= 3", "r9 s%= 7", "w9 s/= -2", "r4 = 9\nr9 s%= r4", "r9 = (s8)r9",
            "r9 = (s16)r9", "w9 = (s8)w9", "r9 = bswap16 r9", "r9 = be32 r9", "r9 = le16 r9",
            "r9 = -r9", "w9 = -w9", "r9 s>>= 60", "w9 <<= 31",
            "*(u64 *)(r10 - 16) = r9\nlock *(u64 *)(r10 - 16) += r9\n"
            "r9 = *(u64 *)(r10 - 16)"))))
    skip = lab.new()
    op = draw(st.sampled_from(CMP))
    out += [f"if w9 {op} {draw(st.sampled_from((0, 1, 5, -1, 200)))} goto {skip}",
            "r9 &= 0xff", f"{skip}:"]
    return out


@st.composite
def _packet_refined(draw, lab: _Labels) -> list[str]:
    """A packet byte bounded by a branch (not a mask) used as an offset."""
    skip = lab.new()
    k = draw(st.sampled_from((8, 20, 40, 60)))
    cmp = draw(st.sampled_from((f"if r5 > {k} goto", f"if w5 > {k} goto", f"if r5 s> {k} goto",
                                f"if r5 >= {k} goto", f"if r5 s>= {k} goto")))
    width = draw(st.sampled_from(("u8", "u8", "u16")))
    return ["r4 = r7", "r4 += 2", f"if r4 > r8 goto {skip}", f"r5 = *({width} *)(r7 + 0)",
            f"{cmp} {skip}", "r4 = r7", "r4 += r5", "r3 = r4", "r3 += 4",
            f"if r3 > r8 goto {skip}", "r5 = *(u32 *)(r4 + 0)", "r9 += r5", f"{skip}:"]


@st.composite
def _packet_read(draw, lab: _Labels) -> list[str]:
    size = draw(st.sampled_from((1, 2, 4, 8)))
    off = draw(st.integers(0, 60))
    end = off + size
    mode = draw(st.sampled_from(("checked", "checked", "checked", "off_by_one", "unchecked")))
    skip = lab.new()
    out = []
    if mode != "unchecked":
        limit = end - 1 if mode == "off_by_one" else end
        out += ["r4 = r7", f"r4 += {limit}", f"if r4 > r8 goto {skip}"]
    out += [f"r5 = *({SIZES[size]} *)(r7 + {off})", "r9 += r5"]
    if draw(st.booleans()):
        out.append(f"*({SIZES[size]} *)(r7 + {off}) = r9")
    return out + [f"{skip}:"]


@st.composite
def _packet_variable(draw, lab: _Labels) -> list[str]:
    skip = lab.new()
    mask = draw(st.sampled_from((0x0f, 0x3f, 0xff)))
    masked = draw(st.integers(0, 5)) > 0
    return ["r4 = r7", "r4 += 1", f"if r4 > r8 goto {skip}", "r5 = *(u8 *)(r7 + 0)"] + \
        ([f"r5 &= {mask}"] if masked else []) + \
        ["r4 = r7", "r4 += r5", "r3 = r4", "r3 += 4", f"if r3 > r8 goto {skip}",
         "r5 = *(u32 *)(r4 + 0)", "r9 ^= r5", f"{skip}:"]


@st.composite
def _stack(draw, lab: _Labels) -> list[str]:
    slot = draw(st.sampled_from((8, 16, 24, 32, 64, 504, 512)))
    size = draw(st.sampled_from((1, 2, 4, 8)))
    out = []
    if draw(st.integers(0, 4)) > 0:
        out.append(f"*({SIZES[size]} *)(r10 - {slot}) = r9")
    rslot = slot if draw(st.integers(0, 4)) > 0 else draw(st.sampled_from((40, 48, 520)))
    out.append(f"r5 = *({SIZES[size]} *)(r10 - {rslot})")
    out.append("r9 += r5")
    return out


@st.composite
def _map_lookup(draw, lab: _Labels) -> list[str]:
    skip = lab.new()
    key = draw(st.sampled_from(("0", "1", "3", "r9")))
    null_check = draw(st.integers(0, 5)) > 0
    off = draw(st.sampled_from((0, 4, 8, 12, 12, 16)))
    size = draw(st.sampled_from((1, 4, 4, 8)))
    out = [f"*(u32 *)(r10 - 4) = {'w9' if key == 'r9' else key}" if key == "r9" else
           f"*(u32 *)(r10 - 4) = {key}",
           "r2 = r10", "r2 += -4", "r1 = map_by_idx(0) ll", "call 1"]
    if key == "r9":
        out[0] = "*(u32 *)(r10 - 4) = r9"
    if null_check:
        out.append(f"if r0 == 0 goto {skip}")
    out += [f"r5 = *({SIZES[size]} *)(r0 + {off})", "r9 += r5"]
    if draw(st.booleans()):
        out.append(f"*({SIZES[size]} *)(r0 + {off}) = r9")
    return out + [f"{skip}:"]


@st.composite
def _helper(draw, lab: _Labels) -> list[str]:
    h = draw(st.sampled_from((5, 7, 8)))          # ktime_get_ns, get_prandom_u32, smp_processor_id
    return [f"call {h}", "r9 += r0"]


@st.composite
def _loop(draw, lab: _Labels) -> list[str]:
    head = lab.new()
    n = draw(st.integers(1, 8))
    body = draw(_alu_chain(lab))
    return ["r3 = 0", f"{head}:"] + body + ["r3 += 1", f"if r3 < {n} goto {head}"]


@st.composite
def _branch(draw, lab: _Labels, inner) -> list[str]:
    skip = lab.new()
    op = draw(st.sampled_from(CMP))
    k = draw(st.sampled_from((0, 1, 5, 64, 255, -1)))
    return [f"if r9 {op} {k} goto {skip}"] + draw(inner) + [f"{skip}:"]


@st.composite
def program_text(draw) -> str:
    """The llvm-syntax text of one random XDP program."""
    lab = _Labels()
    lines = ["r6 = r1", "r7 = *(u32 *)(r6 + 0)", "r8 = *(u32 *)(r6 + 4)", "r9 = 0"]
    snippet = st.one_of(_alu_chain(lab), _packet_read(lab), _packet_variable(lab), _stack(lab),
                        _map_lookup(lab), _helper(lab), _loop(lab), _alu_v4(lab),
                        _packet_refined(lab))
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.integers(0, 3)) == 0:
            lines += draw(_branch(lab, snippet))
        else:
            lines += draw(snippet)
    ret = draw(st.sampled_from(("r0 = 2", "r0 = 1", "r0 = r9", "r0 = 0")))
    lines += [ret, "exit"]
    return "\n".join(lines)


def build(text: str, name: str = "rand") -> Program:
    """Assemble a generated text into an XDP Program with its map."""
    from cfg.asm import assemble
    return Program(assemble(text, maps=[MAP.name]), name=name, section="xdp", type="xdp",
                   maps=(MAP,))


@st.composite
def programs(draw) -> Program:
    """A random XDP Program (see the module docstring); `program.name` is unique per text."""
    text = draw(program_text())
    p = build(text)
    object.__setattr__(p, "file", "")
    return p


def source_of(program: Program) -> str:
    """The llvm-syntax listing of a program (for reports)."""
    from cfg.asm import disassemble
    return "\n".join(disassemble(program.insns))


# ---- kernel comparison ------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """Our verdict and the kernel's on one program, each with a one-line reason."""

    ours: bool
    our_reason: str
    kernel: bool | None          # None: the kernel could not be asked
    kernel_reason: str

    @property
    def category(self) -> str:
        if self.kernel is None:
            return "kernel unavailable"
        if self.ours == self.kernel:
            return "both accept" if self.ours else "both reject"
        return "we accept, kernel rejects" if self.ours else "we reject, kernel accepts"


def kernel_verdict(program: Program) -> tuple[bool | None, str]:
    """(accepted, reason) from the live kernel, as XDP; (None, why) when unavailable."""
    from runtime import kernel
    ok, why = kernel.available()
    if not ok:
        return None, why
    try:
        with kernel.KernelMaps(program.maps) as maps:
            loaded = kernel.load(program, maps, "xdp")
            import os
            os.close(loaded.fd)
        return True, ""
    except kernel.KernelError as exc:
        lines = [ln for ln in (exc.log or "").splitlines() if ln.strip()]
        reason = next((ln for ln in reversed(lines) if not ln.startswith(("processed ",
                                                                          "verification time",
                                                                          "stack depth")))
                      , str(exc))
        return False, _normalise(reason)


def _normalise(reason: str) -> str:
    """A kernel log line with its numbers replaced, so that reasons group."""
    import re
    return re.sub(r"-?\b\d+\b", "N", reason.strip())[:120]


def compare(program: Program, report=None) -> Verdict:
    """Our verdict (zone domain, termination checked) next to the kernel's."""
    from verifier.analyze import Options, analyze
    if report is None:
        report = analyze(program, Options(termination=True))
    ours = report.ok
    reason = "" if ours else report.errors[0].kind
    k, kr = kernel_verdict(program)
    return Verdict(ours, reason, k, kr)


def summarize(verdicts: list[Verdict]) -> dict[str, Counter]:
    """Counts by category, and within each disagreement by (our reason, kernel reason)."""
    out: dict[str, Counter] = {}
    for v in verdicts:
        c = out.setdefault(v.category, Counter())
        if v.category.startswith("we accept"):
            c[f"kernel: {v.kernel_reason}"] += 1
        elif v.category.startswith("we reject"):
            c[f"ours: {v.our_reason}"] += 1
        else:
            c["total"] += 1
    return out
