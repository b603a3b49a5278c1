"""The x86-64 encoder against LLVM 19's assembler (llvm-mc), an independent encoder.

Every form is emitted by our encoder and its intended Intel-syntax text is assembled by llvm-mc;
the bytes must be equal, which says both that we encode that instruction and that we pick the
encoding LLVM picks (the shortest: imm8, disp8, no displacement, accumulator forms). Jumps are
checked the same way on whole programs with labels: llvm-mc relaxes its jumps too.
"""
import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from runtime.jit import x86_encoder as x
from runtime.jit.x86_encoder import Assembler, Label

pytestmark = pytest.mark.skipif(shutil.which("llvm-mc-19") is None,
                                reason="llvm-mc-19 missing: `make setup` installs llvm-19")

NAMES64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
           "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
NAMES32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
           "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"]
NAMES16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
           "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"]
NAMES8 = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
          "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"]
NAMES = {8: NAMES8, 16: NAMES16, 32: NAMES32, 64: NAMES64}
PTR = {1: "byte", 2: "word", 4: "dword", 8: "qword"}
ALU = {x.OP_ADD: "add", x.OP_OR: "or", x.OP_AND: "and", x.OP_SUB: "sub", x.OP_XOR: "xor",
       x.OP_CMP: "cmp"}
UNARY = {2: "not", 3: "neg", 6: "div", 7: "idiv"}
SHIFT = {4: "shl", 5: "shr", 7: "sar", 1: "ror"}
CC = {x.CC_B: "jb", x.CC_AE: "jae", x.CC_E: "je", x.CC_NE: "jne", x.CC_BE: "jbe",
      x.CC_A: "ja", x.CC_L: "jl", x.CC_GE: "jge", x.CC_LE: "jle", x.CC_G: "jg"}
INT32_EDGES = [0, 1, -1, 127, -128, 128, -129, 255, 256, 0x7FFFFFFF, -0x80000000]


def reg(r, w=True):
    return NAMES64[r] if w else NAMES32[r]


def mem(base, disp):
    if disp == 0:
        return f"[{NAMES64[base]}]"
    return f"[{NAMES64[base]} {'-' if disp < 0 else '+'} {abs(disp)}]"


def llvm_encode(lines: list[str]) -> list[bytes]:
    """The encoding llvm-mc gives each line of Intel-syntax text."""
    out = subprocess.run(["llvm-mc-19", "-triple=x86_64", "-x86-asm-syntax=intel",
                          "-show-encoding"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True).stdout
    encodings = [line.split("encoding: [", 1)[1].rstrip("]") for line in out.splitlines()
                 if "encoding: [" in line]
    assert len(encodings) == len(lines), out
    return [bytes(int(b, 16) for b in enc.split(",")) for enc in encodings]


def llvm_assemble(text: str, tmp_path) -> bytes:
    """The .text bytes of a whole program assembled (and its jumps relaxed) by llvm-mc."""
    src, obj, raw = tmp_path / "p.s", tmp_path / "p.o", tmp_path / "p.bin"
    src.write_text(".intel_syntax noprefix\n" + text + "\n")
    subprocess.run(["llvm-mc-19", "-triple=x86_64", "-filetype=obj", "-o", str(obj), str(src)],
                   check=True, capture_output=True)
    subprocess.run(["llvm-objcopy-19", "-O", "binary", "--only-section=.text", str(obj),
                    str(raw)], check=True, capture_output=True)
    return raw.read_bytes()


def check_against_llvm(cases):
    """cases: (emit(assembler), intended text) pairs."""
    ours = []
    for emit, _text in cases:
        a = Assembler()
        emit(a)
        ours.append(a.link(0))
    for (_, text), got, want in zip(cases, ours, llvm_encode([t for _, t in cases])):
        assert got == want, f"{text}: ours {got.hex(' ')}, llvm {want.hex(' ')}"


# --- strategies: one case is (emit, text) ------------------------------------------------------
regs = st.integers(0, 15)
widths = st.booleans()
int32 = st.one_of(st.sampled_from(INT32_EDGES), st.integers(-0x80000000, 0x7FFFFFFF))
disps = int32
alu_ops = st.sampled_from(sorted(ALU))


@st.composite
def alu_case(draw):
    op, d, s, imm, w = draw(alu_ops), draw(regs), draw(regs), draw(int32), draw(widths)
    return draw(st.sampled_from([
        (lambda a: a.alu_rr(op, d, s, w), f"{ALU[op]} {reg(d, w)}, {reg(s, w)}"),
        (lambda a: a.alu_ri(op, d, imm, w), f"{ALU[op]} {reg(d, w)}, {imm}"),
        (lambda a: a.test_rr(d, s, w), f"test {reg(d, w)}, {reg(s, w)}"),
        (lambda a: a.test_ri(d, imm, w), f"test {reg(d, w)}, {imm}"),
        (lambda a: a.test_ri8(d, imm & 0xFF), f"test {NAMES8[d]}, {imm & 0xFF}"),
        (lambda a: a.imul_rr(d, s, w), f"imul {reg(d, w)}, {reg(s, w)}"),
        (lambda a: a.imul_ri(d, imm, w), f"imul {reg(d, w)}, {reg(d, w)}, {imm}"),
        (lambda a: a.mov_rr(d, s, w), f"mov {reg(d, w)}, {reg(s, w)}"),
        (lambda a: a.zero(d), f"xor {NAMES32[d]}, {NAMES32[d]}"),
    ]))


def mov_text(dst, value, w):
    """The shortest move of `value` into dst: what mov_ri promises."""
    if not w or 0 <= value <= 0xFFFFFFFF:
        return f"mov {NAMES32[dst]}, {value & 0xFFFFFFFF}"
    if -0x80000000 <= value < 0:
        return f"mov {NAMES64[dst]}, {value}"
    return f"movabs {NAMES64[dst]}, {value}"


imm64 = st.one_of(
    st.sampled_from([0, 1, -1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, -0x80000000,
                     -0x80000001, -(1 << 63), (1 << 63) - 1]),
    st.integers(-(1 << 63), (1 << 63) - 1))


@st.composite
def mov_case(draw):
    d, value, w = draw(regs), draw(imm64), draw(widths)
    return draw(st.sampled_from([
        (lambda a: a.mov_ri(d, value, w), mov_text(d, value, w)),
        (lambda a: a.mov_ri64(d, value), f"movabs {NAMES64[d]}, {value}"),
    ]))


@st.composite
def unary_case(draw):
    d, s, w = draw(regs), draw(regs), draw(widths)
    digit, shift = draw(st.sampled_from(sorted(UNARY))), draw(st.sampled_from(sorted(SHIFT)))
    bits = draw(st.sampled_from([8, 16]))
    count = draw(st.integers(1, 63 if w else 31))
    return draw(st.sampled_from([
        (lambda a: a.unary(digit, d, w), f"{UNARY[digit]} {reg(d, w)}"),
        (lambda a: a.shift_ri(shift, d, count, w), f"{SHIFT[shift]} {reg(d, w)}, {count}"),
        (lambda a: a.shift_cl(shift, d, w), f"{SHIFT[shift]} {reg(d, w)}, cl"),
        (lambda a: a.ror16_8(d), f"ror {NAMES16[d]}, 8"),
        (lambda a: a.bswap(d, w), f"bswap {reg(d, w)}"),
        (lambda a: a.movzx_rr(d, s, bits), f"movzx {NAMES32[d]}, {NAMES[bits][s]}"),
        (lambda a: a.movsx_rr(d, s, bits, w), f"movsx {reg(d, w)}, {NAMES[bits][s]}"),
        (lambda a: a.movsx_rr(d, s, 32), f"movsxd {NAMES64[d]}, {NAMES32[s]}"),
        (lambda a: a.push(d), f"push {NAMES64[d]}"),
        (lambda a: a.pop(d), f"pop {NAMES64[d]}"),
        (lambda a: a.call_reg(d), f"call {NAMES64[d]}"),
        (lambda a: a.jmp_reg(d), f"jmp {NAMES64[d]}"),
        (lambda a: a.cqo(), "cqo"),
        (lambda a: a.cdq(), "cdq"),
        (lambda a: a.ret(), "ret"),
    ]))


def load_text(dst, base, disp, size, signed):
    m = f"{PTR[size]} ptr {mem(base, disp)}"
    if size == 8:
        return f"mov {NAMES64[dst]}, {m}"
    if size == 4:
        return f"movsxd {NAMES64[dst]}, {m}" if signed else f"mov {NAMES32[dst]}, {m}"
    return f"movsx {NAMES64[dst]}, {m}" if signed else f"movzx {NAMES32[dst]}, {m}"


def store_imm_value(imm, size):
    return imm & 0xFF if size == 1 else imm & 0xFFFF if size == 2 else imm


@st.composite
def memory_case(draw):
    r, base, disp, w = draw(regs), draw(regs), draw(disps), draw(widths)
    size, imm = draw(st.sampled_from([1, 2, 4, 8])), draw(int32)
    signed = draw(st.booleans()) and size != 8
    op = draw(st.sampled_from([x.OP_ADD, x.OP_OR, x.OP_AND, x.OP_XOR]))
    m, wide = mem(base, disp), PTR[8 if w else 4]
    return draw(st.sampled_from([
        (lambda a: a.load(r, base, disp, size, signed), load_text(r, base, disp, size, signed)),
        (lambda a: a.store(base, disp, r, size),
         f"mov {PTR[size]} ptr {m}, {NAMES[size * 8][r]}"),
        (lambda a: a.store_imm(base, disp, imm, size),
         f"mov {PTR[size]} ptr {m}, {store_imm_value(imm, size)}"),
        (lambda a: a.lea(r, base, disp), f"lea {NAMES64[r]}, {m}"),
        (lambda a: a.lock_alu_mem(op, base, disp, r, w),
         f"lock {ALU[op]} {wide} ptr {m}, {reg(r, w)}"),
        (lambda a: a.lock_xadd(base, disp, r, w), f"lock xadd {wide} ptr {m}, {reg(r, w)}"),
        (lambda a: a.xchg_mem(base, disp, r, w), f"xchg {wide} ptr {m}, {reg(r, w)}"),
        (lambda a: a.lock_cmpxchg(base, disp, r, w), f"lock cmpxchg {wide} ptr {m}, {reg(r, w)}"),
    ]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(alu_case(), mov_case(), unary_case(), memory_case()),
                min_size=1, max_size=60))
def test_every_form_encodes_as_llvm_does(cases):
    check_against_llvm(cases)


@pytest.mark.parametrize("disp", [0, 1, -1, 127, -128, 128, -129, 0x7FFFFFFF, -0x80000000])
@pytest.mark.parametrize("base", range(16))
def test_displacement_edges_on_every_base(base, disp):
    # rsp/r12 need a SIB byte, rbp/r13 a displacement even when it is 0
    check_against_llvm([
        (lambda a: a.load(x.RAX, base, disp, 8), load_text(x.RAX, base, disp, 8, False)),
        (lambda a: a.store(base, disp, x.R11, 1), f"mov byte ptr {mem(base, disp)}, r11b"),
        (lambda a: a.store_imm(base, disp, -1, 8), f"mov qword ptr {mem(base, disp)}, -1")])


@pytest.mark.parametrize("imm", INT32_EDGES)
def test_immediate_edges_on_rax_and_r8(imm):
    cases = []
    for r in (x.RAX, x.RCX, x.R8):
        for w in (True, False):
            cases += [(lambda a, r=r, w=w: a.alu_ri(x.OP_CMP, r, imm, w),
                       f"cmp {reg(r, w)}, {imm}"),
                      (lambda a, r=r, w=w: a.imul_ri(r, imm, w),
                       f"imul {reg(r, w)}, {reg(r, w)}, {imm}"),
                      (lambda a, r=r, w=w: a.mov_ri(r, imm, w), mov_text(r, imm, w))]
    check_against_llvm(cases)


# --- labels and branch relaxation ----------------------------------------------------------------
# A program is a list of items: ("label", k), ("jmp", k), ("jcc", cc, k), ("pad", n) where a pad
# of n bytes is n // 5 `mov ecx, imm32` and n % 5 `cdq`.

def pad_parts(n):
    return [5] * (n // 5) + [1] * (n % 5)


def emit_program(items):
    a, labels = Assembler(), {}
    label = lambda k: labels.setdefault(k, Label())  # noqa: E731
    for item in items:
        if item[0] == "label":
            a.bind(label(item[1]))
        elif item[0] == "jmp":
            a.jmp(label(item[1]))
        elif item[0] == "jcc":
            a.jcc(item[1], label(item[2]))
        elif item[0] == "call":
            a.call(label(item[1]))
        else:
            for part in pad_parts(item[1]):
                a.mov_ri(x.RCX, 0x11223344, False) if part == 5 else a.cdq()
    return a, labels


def empty_jumps(items):
    """Indexes of the `jmp`s that need no bytes: their label follows, and nothing but labels
    and other such jumps lies between (decided right to left)."""
    empty, bound_here = set(), set()
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        if item[0] == "label":
            bound_here.add(item[1])
        elif item[0] == "jmp" and item[1] in bound_here:
            empty.add(i)
        else:
            bound_here = set()
    return empty


def llvm_text(items):
    lines, empty = [], empty_jumps(items)
    for i, item in enumerate(items):
        if item[0] == "label":
            lines.append(f"L{item[1]}:")
        elif item[0] == "jmp" and i not in empty:
            lines.append(f"jmp L{item[1]}")
        elif item[0] == "jcc":
            lines.append(f"{CC[item[1]]} L{item[2]}")
        elif item[0] == "call":
            lines.append(f"call L{item[1]}")
        elif item[0] == "pad":
            lines += ["mov ecx, 287454020" if p == 5 else "cdq" for p in pad_parts(item[1])]
    return "\n".join(lines)


def check_program(items, tmp_path):
    a, labels = emit_program(items)
    ours = a.link(0)
    assert ours == llvm_assemble(llvm_text(items), tmp_path), llvm_text(items)
    return ours, labels


@pytest.mark.parametrize("kind", ["jmp", "jcc"])
@pytest.mark.parametrize("pad", [126, 127, 128, 129])
def test_forward_jump_at_the_rel8_limit(kind, pad, tmp_path):
    jump = ("jmp", 0) if kind == "jmp" else ("jcc", x.CC_NE, 0)
    ours, _ = check_program([jump, ("pad", pad), ("label", 0), ("pad", 1)], tmp_path)
    # short while the distance past the 2-byte jump fits in 127
    assert len(ours) == pad + 1 + (2 if pad <= 127 else 5 if kind == "jmp" else 6)


@pytest.mark.parametrize("kind", ["jmp", "jcc"])
@pytest.mark.parametrize("pad", [125, 126, 127])
def test_backward_jump_at_the_rel8_limit(kind, pad, tmp_path):
    jump = ("jmp", 0) if kind == "jmp" else ("jcc", x.CC_L, 0)
    ours, _ = check_program([("pad", 1), ("label", 0), ("pad", pad), jump], tmp_path)
    # back to the label: -(pad + 2) must be >= -128
    assert len(ours) == 1 + pad + (2 if pad <= 126 else 5 if kind == "jmp" else 6)


def test_a_jump_that_grows_pushes_another_past_the_limit(tmp_path):
    # jcc A spans 125 bytes and jcc B; once B is long (its target is 200 bytes on), A's
    # distance is 125 + 6 = 131 and A must be long too
    items = [("jcc", x.CC_E, "A"), ("pad", 120), ("jcc", x.CC_NE, "B"), ("pad", 5),
             ("label", "A"), ("pad", 200), ("label", "B")]
    ours, labels = check_program(items, tmp_path)
    assert ours[:2] == b"\x0f\x84" and ours[126:128] == b"\x0f\x85"
    assert labels["A"].position == 6 + 120 + 6 + 5


def test_jmp_to_what_follows_takes_no_bytes_and_jmp_to_itself_two():
    a, labels = emit_program([("jmp", 0), ("jmp", 1), ("label", 0), ("label", 1), ("pad", 1)])
    assert a.link(0) == b"\x99" and labels[0].position == labels[1].position == 0
    a, _ = emit_program([("pad", 1), ("label", 0), ("jmp", 0)])
    assert a.link(0) == b"\x99\xeb\xfe"


def test_label_addresses_follow_the_layout():
    a, entry = Assembler(), Label()
    a.jcc(x.CC_E, entry)
    a.mov_label_address(x.RAX, entry)
    a.bind(entry)
    a.ret()
    code = a.link(0x1000)
    assert code[:2] == b"\x74\x0a"   # 2-byte jcc over the 10-byte movabs
    assert int.from_bytes(code[4:12], "little") == 0x1000 + 12


def test_unbound_label_is_an_error():
    a = Assembler()
    a.jmp(Label())
    with pytest.raises(ValueError):
        a.link(0)


@st.composite
def programs(draw):
    n_labels = draw(st.integers(1, 6))
    items = []
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["jmp", "jcc", "pad", "pad", "call"]))
        k = draw(st.integers(0, n_labels - 1))
        if kind == "jmp":
            items.append(("jmp", k))
        elif kind == "jcc":
            items.append(("jcc", draw(st.sampled_from(sorted(CC))), k))
        elif kind == "call":
            items.append(("call", k))
        else:
            items.append(("pad", draw(st.one_of(st.integers(1, 8), st.integers(100, 140)))))
    for k in range(n_labels):
        items.insert(draw(st.integers(0, len(items))), ("label", k))
    return items


@settings(max_examples=60, deadline=None)
@given(programs())
def test_relaxed_programs_match_llvm(tmp_path_factory, items):
    check_program(items, tmp_path_factory.mktemp("p"))
