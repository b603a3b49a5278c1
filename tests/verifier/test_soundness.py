"""Soundness: every value the interpreter computes lies in the verifier's invariant.

Random straight-line and branching ALU programs start from helper-made unknowns (`call 7`,
prandom), so the verifier reasons about ranges while the interpreter, run with several seeds,
produces concrete values; each concrete register must satisfy the verifier's exit invariant.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfg.asm import assemble
from cfg.program import Program
from verifier.analyze import analyze

runtime_vm = pytest.importorskip("runtime.vm")

REGS = (6, 7, 8, 9)
BIN = ["+=", "-=", "*=", "/=", "%=", "|=", "&=", "^=", "<<=", ">>=", "s>>=", "s/=", "s%="]


@st.composite
def alu_line(draw):
    d = draw(st.sampled_from(REGS))
    w = draw(st.sampled_from(["r", "w"]))
    kind = draw(st.sampled_from(["bin_imm", "bin_reg", "mov", "neg", "movsx", "swap", "mask"]))
    if kind == "bin_imm":
        op = draw(st.sampled_from(BIN))
        imm = draw(st.one_of(st.integers(-5, 70), st.sampled_from([255, 0xFFFF, -1, 1 << 31 - 1])))
        if op in ("<<=", ">>=", "s>>="):
            imm = abs(imm) % (64 if w == "r" else 32)
        return f"{w}{d} {op} {imm}"
    if kind == "bin_reg":
        op = draw(st.sampled_from(BIN))
        s = draw(st.sampled_from(REGS))
        return f"{w}{d} {op} {w}{s}"
    if kind == "mov":
        s = draw(st.sampled_from(REGS))
        return f"{w}{d} = {w}{s}"
    if kind == "neg":
        return f"{w}{d} = -{w}{d}"
    if kind == "movsx":
        s = draw(st.sampled_from(REGS))
        bits = draw(st.sampled_from([8, 16, 32] if w == "r" else [8, 16]))
        return f"{w}{d} = (s{bits}){w}{s}"
    if kind == "swap":
        form = draw(st.sampled_from(["be16", "be32", "be64", "le16", "le32", "bswap16", "bswap32"]))
        return f"r{d} = {form} r{d}"
    mask = draw(st.sampled_from([0xFF, 0xF, 0x3FF, 0xFFFF]))
    return f"r{d} &= {mask}"


@st.composite
def programs(draw):
    lines = []
    for r in REGS:
        lines += ["call 7", f"r{r} = r0"]
        if draw(st.booleans()):
            lines.append(f"r{r} &= {draw(st.sampled_from([0xFF, 0xFFFF, 0x7]))}")
    body = draw(st.lists(alu_line(), min_size=1, max_size=10))
    for n in range(draw(st.integers(0, 3))):
        r = draw(st.sampled_from(REGS))
        op = draw(st.sampled_from([">", "<", "s>", "s<", "==", "!=", ">=", "<=", "s>=", "s<=",
                                   "&"]))
        w = draw(st.sampled_from(["r", "w"]))
        if draw(st.booleans()):
            rhs = f"{w}{draw(st.sampled_from(REGS))}"
        else:
            rhs = str(draw(st.one_of(st.integers(-300, 300), st.sampled_from([-1, 1 << 31]))))
            if rhs == str(1 << 31):
                rhs = "2147483647"
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + [f"if {w}{r} {op} {rhs} goto L{n}"] + body[cut:] + [f"L{n}:"]
    return "\n".join(lines + body + ["r0 = 0", "exit"]) + "\n"


def _contains(state, reg: int, value: int) -> bool:
    u = state.num.interval(f"r{reg}.uvalue")
    s = state.num.interval(f"r{reg}.svalue")
    signed = value - (1 << 64) if value >> 63 else value
    return u.contains(value) and s.contains(signed)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_concrete_values_lie_in_the_invariant(text):
    prog = Program(assemble(text), type="xdp")
    report = analyze(prog)
    assert report.ok, report.errors
    final = report.exit_state
    assert final is not None
    for seed in range(4):
        trace_prog = Program(assemble(text.replace("r0 = 0\nexit", "exit")), type="xdp")
        for reg in REGS:
            probe = text.replace("r0 = 0\nexit", f"r0 = r{reg}\nexit")
            res = runtime_vm.run(Program(assemble(probe), type="xdp"), packet=bytes(64),
                                 seed=seed)
            assert res.error is None, res.error
            assert _contains(final, reg, res.r0), (reg, res.r0, str(final))
        del trace_prog


SIZES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


@st.composite
def stack_programs(draw):
    """Stores of unknowns and constants of every width into 32 zeroed stack bytes, then loads
    (zero- and sign-extending) at any offset: the byte-level stack reasoning must stay sound."""
    lines = ["r1 = 0"] + [f"*(u64 *)(r10 - {8 * i})" + " = r1" for i in range(1, 5)]
    for r in REGS:
        lines += ["call 7", f"r{r} = r0"]
    for _ in range(draw(st.integers(1, 8))):
        size = draw(st.sampled_from(list(SIZES)))
        off = -draw(st.integers(size, 32))
        if draw(st.booleans()):
            if draw(st.booleans()):
                lines.append(f"*({SIZES[size]} *)(r10 {off}) = r{draw(st.sampled_from(REGS))}")
            else:
                lines.append(f"*({SIZES[size]} *)(r10 {off}) = {draw(st.integers(-300, 300))}")
        else:
            kind = draw(st.sampled_from(["u", "s"])) if size < 8 else "u"
            lines.append(f"r{draw(st.sampled_from(REGS))} = *({kind}{size * 8} *)(r10 {off})")
    return "\n".join(lines + ["r0 = 0", "exit"]) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack_programs())
def test_stack_values_lie_in_the_invariant(text):
    report = analyze(Program(assemble(text), type="xdp"))
    assert report.ok, report.errors
    final = report.exit_state
    for seed in range(3):
        for reg in REGS:
            probe = text.replace("r0 = 0\nexit", f"r0 = r{reg}\nexit")
            res = runtime_vm.run(Program(assemble(probe), type="xdp"), packet=bytes(64),
                                 seed=seed)
            assert res.error is None, res.error
            assert _contains(final, reg, res.r0), (reg, res.r0, str(final))


@st.composite
def memory_programs(draw):
    """XDP programs mixing packet bounds checks and reads, stack stores and loads, masked
    variable offsets and map lookups with optional NULL checks."""
    lines = ["r2 = *(u32 *)(r1 + 0)", "r3 = *(u32 *)(r1 + 4)", "r6 = r1", "r7 = r2", "r8 = 0",
             "*(u64 *)(r10 - 8) = r8"]
    for _ in range(draw(st.integers(1, 8))):
        k = draw(st.integers(0, 5))
        size = draw(st.sampled_from(list(SIZES)))
        if k == 0:
            op = draw(st.sampled_from([">", ">=", "<", "<="]))
            lines += ["r4 = r2", f"r4 += {draw(st.integers(0, 40))}",
                      f"if r4 {op} r3 goto +{draw(st.integers(1, 3))}"]
        elif k == 1:
            off = draw(st.integers(-2, 40))
            lines.append(f"r5 = *({SIZES[size]} *)(r2 {'+' if off >= 0 else '-'} {abs(off)})")
        elif k == 2:
            lines.append(f"*({SIZES[size]} *)(r10 -{draw(st.integers(1, 40))}) = "
                         f"{draw(st.integers(-5, 5))}")
        elif k == 3:
            lines.append(f"r5 = *({SIZES[size]} *)(r10 -{draw(st.integers(1, 40))})")
        elif k == 4:
            lines += [draw(st.sampled_from(["r5 = *(u8 *)(r2 + 0)", "r5 = 3"])),
                      f"r5 &= {draw(st.sampled_from([7, 15, 63, 255]))}", "r9 = r2", "r9 += r5",
                      f"r5 = *({SIZES[size]} *)(r9 + {draw(st.integers(0, 8))})"]
        else:
            lines += ["*(u32 *)(r10 - 12) = 0", "r2 = r10", "r2 += -12", "r1 = map_idx(0) ll",
                      "call 1", f"if r0 == 0 goto +{draw(st.integers(1, 2))}",
                      f"r5 = *({SIZES[size]} *)(r0 + {draw(st.integers(0, 8))})", "r1 = r6",
                      "r2 = r7"]
    return "\n".join(lines + ["r0 = 2", "exit"]) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(memory_programs(), st.lists(st.integers(0, 64), min_size=3, max_size=3))
def test_accepted_programs_never_fault(text, lengths):
    from cfg.program import MapDef
    try:
        insns = assemble(text)
    except Exception:
        return  # a jump past the end: not a program
    prog = Program(insns, type="xdp", maps=(MapDef("a", 2, 4, 16, 4),))
    try:
        report = analyze(prog)
    except Exception as exc:  # malformed control flow is a clear error, not a verdict
        from cfg.errors import BpfcheckError
        assert isinstance(exc, BpfcheckError)
        return
    if not report.ok:
        return
    for n in lengths + [0, 14]:
        res = runtime_vm.run(prog, packet=bytes((7 * i) & 0xFF for i in range(n)), seed=n)
        assert res.error is None, (res.error, n)
