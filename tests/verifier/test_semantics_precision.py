"""The precise transfer functions stay sound: every concrete value the interpreter computes lies
in the verifier's exit invariant, for random programs built around the precision cases
(atomics on known stack numbers, byte-wise stack composition)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfg.asm import assemble
from cfg.program import Program
from verifier.analyze import analyze

runtime_vm = pytest.importorskip("runtime.vm")

REGS = (6, 7, 8, 9)
WIDTH = {4: "u32", 8: "u64"}
ATOMIC_OPS = ("+=", "|=", "&=", "^=", "x=", "cx=")


def _contains(state, reg: int, value: int) -> bool:
    """The concrete 64-bit value lies in both views of register `reg` in `state`."""
    u = state.num.interval(f"r{reg}.uvalue")
    s = state.num.interval(f"r{reg}.svalue")
    signed = value - (1 << 64) if value >> 63 else value
    return u.contains(value) and s.contains(signed)


def _check(text: str, seeds: int = 3) -> None:
    """The program verifies and every register of REGS at exit holds a value in the invariant."""
    report = analyze(Program(assemble(text), type="xdp"))
    assert report.ok, report.errors
    final = report.exit_state
    assert final is not None
    for seed in range(seeds):
        for reg in REGS:
            probe = text.replace("r0 = 0\nexit", f"r0 = r{reg}\nexit")
            res = runtime_vm.run(Program(assemble(probe), type="xdp"), packet=bytes(64), seed=seed)
            assert res.error is None, res.error
            assert _contains(final, reg, res.r0), (reg, res.r0, text)


@st.composite
def atomic_programs(draw):
    """Zeroed stack, unknowns and constants stored at aligned cells, atomics of every kind and
    width on them (the fetched value kept), loads of every width."""
    lines = ["r1 = 0"] + [f"*(u64 *)(r10 - {8 * i}) = r1" for i in range(1, 5)]
    for r in REGS:
        lines += ["call 7", f"r{r} = r0"]
        if draw(st.booleans()):
            lines.append(f"r{r} &= {draw(st.sampled_from([0xFF, 0xFFFF, 0x7]))}")
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.integers(0, 3))
        size = draw(st.sampled_from([4, 8]))
        off = -size * draw(st.integers(1, 32 // size))
        reg = draw(st.sampled_from(REGS))
        if kind == 0:
            value = draw(st.one_of(st.integers(-300, 300), st.sampled_from([-1, 0x7FFFFFFF])))
            lines.append(f"*({WIDTH[size]} *)(r10 {off}) = {value}")
        elif kind == 1:
            lines.append(f"*({WIDTH[size]} *)(r10 {off}) = r{reg}")
        elif kind == 2:
            op = draw(st.sampled_from(ATOMIC_OPS))
            src = reg
            if op == "cx=":
                lines.append(f"r0 = r{draw(st.sampled_from(REGS))}")
                fetch = ""
            else:
                fetch = " fetch" if draw(st.booleans()) else ""
            lines.append(f"lock *({WIDTH[size]} *)(r10 {off}) {op} r{src}{fetch}")
            if op == "cx=":
                lines.append(f"r{draw(st.sampled_from(REGS))} = r0")
        else:
            lines.append(f"r{reg} = *({WIDTH[size]} *)(r10 {off})")
    return "\n".join(lines + ["r0 = 0", "exit"]) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(atomic_programs())
def test_atomics_on_stack_numbers_are_sound(text):
    _check(text)


@pytest.mark.parametrize("op,old,operand,new,fetched", [
    ("+=", 5, 9, 14, 5), ("|=", 5, 9, 13, 5), ("&=", 5, 12, 4, 5), ("^=", 5, 12, 9, 5),
    ("x=", 5, 12, 12, 5),
])
def test_atomic_result_is_the_concrete_one(op, old, operand, new, fetched):
    text = (f"r6 = {old}\n*(u64 *)(r10 - 8) = r6\nr7 = {operand}\n"
            f"lock *(u64 *)(r10 - 8) {op} r7 fetch\nr8 = *(u64 *)(r10 - 8)\nr9 = 0\n"
            "r0 = 0\nexit\n")
    if op == "x=":
        text = text.replace(" fetch", "")
    report = analyze(Program(assemble(text), type="xdp"))
    st_ = report.exit_state
    assert st_.num.interval("r8.svalue").singleton() == new
    assert st_.num.interval("r7.svalue").singleton() == fetched
    _check(text, seeds=1)


def test_a_load_past_a_narrow_cell_is_not_the_cell():
    """Regression: a u32 load at a u16 cell also reads the two unknown bytes after it."""
    text = ("call 7\nr6 = r0\n*(u64 *)(r10 - 8) = r6\n*(u16 *)(r10 - 8) = 5\n"
            "r7 = *(u32 *)(r10 - 8)\nr8 = *(u16 *)(r10 - 8)\nr9 = *(u8 *)(r10 - 7)\n"
            "r0 = 0\nexit\n")
    final = analyze(Program(assemble(text), type="xdp")).exit_state
    assert final.num.interval("r7.uvalue").contains(5 + (1 << 16))
    assert final.num.interval("r8.uvalue").singleton() == 5
    assert final.num.interval("r9.uvalue").singleton() == 0
    _check(text)


@st.composite
def byte_programs(draw):
    """Stores of unknowns and constants of every width into 16 zeroed stack bytes (so cells
    overlap often), then loads of every width and signedness at any offset."""
    sizes = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
    lines = ["r1 = 0", "*(u64 *)(r10 - 8) = r1", "*(u64 *)(r10 - 16) = r1"]
    for r in REGS:
        lines += ["call 7", f"r{r} = r0"]
    for _ in range(draw(st.integers(1, 10))):
        size = draw(st.sampled_from(list(sizes)))
        off = -draw(st.integers(size, 16))
        if draw(st.booleans()):
            value = draw(st.one_of(st.sampled_from([f"r{r}" for r in REGS]),
                                   st.integers(-300, 300).map(str)))
            lines.append(f"*({sizes[size]} *)(r10 {off}) = {value}")
        else:
            kind = draw(st.sampled_from(["u", "s"])) if size < 8 else "u"
            lines.append(f"r{draw(st.sampled_from(REGS))} = *({kind}{size * 8} *)(r10 {off})")
    return "\n".join(lines + ["r0 = 0", "exit"]) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(byte_programs())
def test_byte_wise_stack_reads_are_sound(text):
    _check(text)


BOUND = st.integers(-(1 << 63), (1 << 63) - 1)


@settings(max_examples=300, deadline=None)
@given(BOUND, BOUND, st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1),
       st.integers(0, (1 << 64) - 1))
def test_view_reduction_keeps_every_value(a, b, c, d, x):
    """The signed and unsigned views reduce each other piecewise (a signed range across 0 is
    two unsigned pieces) without losing any value that lies in both."""
    from domains.bounds import Interval
    from verifier.sem_numbers import _hull_of, _signed_pieces, _unsigned_pieces
    s, u = Interval(min(a, b), max(a, b)), Interval(min(c, d), max(c, d))
    sx = x - (1 << 64) if x >> 63 else x
    u2 = _hull_of(_unsigned_pieces(s), u)
    s2 = _hull_of(_signed_pieces(u2), s)
    if sx in s and x in u:
        assert x in u2 and sx in s2
    assert u2.leq(u) and s2.leq(s)



@st.composite
def region_programs(draw):
    """Two values take their types (stack, context or number) together on each of a few
    paths; their difference is taken after the join."""
    lines = ["r8 = r1", "call 7", "r6 = r0", "r6 &= 3"]
    kinds = draw(st.lists(st.sampled_from(["stack", "ctx", "number"]), min_size=2, max_size=3))
    for i, kind in enumerate(kinds):
        d = draw(st.integers(0, 16))
        base = {"stack": [f"r1 = r10", f"r1 += -{draw(st.integers(17, 64))}"],
                "ctx": ["r1 = r8"], "number": [f"r1 = {draw(st.integers(-50, 50))}"]}[kind]
        body = base + ["r2 = r1", f"r2 += {d}", "goto <join>"]
        lines += [f"if r6 != {i} goto <p{i}>"] + body + [f"<p{i}>:"]
    lines += ["r1 = 0", "r2 = 0", "<join>:", "r7 = r2", "r7 -= r1", "r9 = r7"]
    return "\n".join(lines + ["r0 = 0", "exit"]) + "\n"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(region_programs())
def test_differences_within_one_region_are_sound(text):
    text = _labels_to_offsets(text)
    _check(text, seeds=4)


def _labels_to_offsets(text: str) -> str:
    """Our generator writes `<name>` labels; turn them into `goto +n` offsets."""
    lines = text.splitlines()
    pcs, out, pc = {}, [], 0
    for line in lines:
        if line.startswith("<") and line.endswith(">:"):
            pcs[line[1:-2]] = pc
        else:
            out.append(line)
            pc += 1
    fixed = []
    for i, line in enumerate(out):
        if "<" in line:
            name = line[line.index("<") + 1:line.index(">")]
            line = line[:line.index("<")] + f"{pcs[name] - i - 1:+d}"
        fixed.append(line)
    return "\n".join(fixed) + "\n"
