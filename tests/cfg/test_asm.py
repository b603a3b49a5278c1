"""cfg.asm: both syntaxes round-trip, llvm syntax agrees with LLVM 19 both ways, errors name
the line."""
from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _isa_strategies import KEYS, SMALL_IMM, every_entry, make_insn, programs
from _llvm import llvm_assemble, llvm_disassemble, llvm_objdump, needs_llvm
from cfg import isa
from cfg.asm import assemble, disassemble, format_insn, parse_program
from cfg.errors import AsmError
from cfg.isa import Insn, encode

SYNTAXES = ["llvm", "ubpf"]


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("labels", [False, True])
@settings(max_examples=60)
@given(insns=programs())
def test_assemble_disassemble_round_trip(syntax, labels, insns):
    text = "\n".join(disassemble(insns, syntax, labels=labels))
    assert assemble(text, syntax) == insns


@pytest.mark.parametrize("syntax", SYNTAXES)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 1 << 32))
def test_every_table_entry_round_trips(syntax, seed):
    insns = every_entry(random.Random(seed), 3)
    texts = disassemble(insns, syntax)
    assert len(texts) == len(insns)
    for insn, text in zip(insns, texts):
        assert assemble(text, syntax) == [insn], text


def test_labels_name_jump_targets():
    insns = assemble("r0 = 0\nif r1 == 0 goto +1\nr0 = 1\nexit")
    assert disassemble(insns, labels=True) == [
        "r0 = 0x0", "if r1 == 0x0 goto L3", "r0 = 0x1", "L3: exit"]
    prog, labels = parse_program("start:\nr0 = 0\nr1 = 1 ll\nout: exit\ngoto start")
    assert labels == {"start": 0, "out": 3}
    assert prog[-1].off == -5


def test_local_calls_and_code_addresses_with_labels():
    text = "call f\nr1 = code_addr(f)\nexit\nf:\nr0 = 1\nexit"
    insns = assemble(text)
    assert (insns[0].src, insns[0].imm) == (isa.CALL_LOCAL, 3)
    assert (insns[1].src, insns[1].imm) == (isa.LDDW_CODE, 2)  # from pc 1 to pc 4
    assert assemble("\n".join(disassemble(insns))) == insns
    assert disassemble(insns, labels=True)[0] == "call L4"


# --- llvm syntax against LLVM 19 -------------------------------------------------------------
def _llvm_expressible(insn: Insn) -> bool:
    """What LLVM's assembler can spell without labels (documented in docs/asm.md)."""
    k = insn.spec.kind
    if k == "lddw" and insn.src != isa.LDDW_IMM64 or k == "call" and insn.src:
        return False
    if k == "ldind" and insn.imm:
        return False
    return not (k == "ja" and insn.spec.width == 32 and not -0x8000 <= insn.imm <= 0x7FFF)


@needs_llvm
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 1 << 32))
def test_our_text_assembles_with_llvm_mc_to_the_same_bytes(seed):
    plain = [make_insn(key, lambda: 1, lambda: 0, lambda: 0, lambda: 0) for key in KEYS]
    insns = [i for i in every_entry(random.Random(seed), 12) + plain if _llvm_expressible(i)]
    assert {i.spec for i in insns} >= {s for s in isa.SPECS.values() if s.kind != "call"}
    text = "\n".join(disassemble(insns))
    assert llvm_assemble(text) == encode(insns)


@needs_llvm
def test_local_calls_in_labelled_text_assemble_with_llvm_mc():
    body = [Insn(0xB7, 0, imm=1), Insn(0x95)]
    insns = [Insn(0x85, 0, isa.CALL_LOCAL, 0, 2), Insn(0x05, off=2)] + body + [
        Insn(0x85, 0, isa.CALL_LOCAL, 0, -5), Insn(0x95)]
    text = "\n".join(disassemble(insns, labels=True))
    assert llvm_assemble(text) == encode(insns)


@needs_llvm
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 1 << 32))
def test_we_read_what_llvm_objdump_prints(seed):
    insns = [i for i in every_entry(random.Random(seed), 12) if _lossless_in_objdump(i)]
    data = encode(insns)
    lines = llvm_disassemble(data)
    assert len(lines) == len(insns)
    for insn, line in zip(insns, lines):
        assert assemble(line) == [insn], line
    assert encode(assemble("\n".join(lines))) == data


def _lossless_in_objdump(insn: Insn) -> bool:
    """llvm-objdump prints local and kfunc calls as helper calls, drops a map-value lddw's
    offset and an indirect packet load's imm: those need the raw-byte column."""
    k = insn.spec.kind
    return not (k == "call" and insn.src or k == "lddw" and insn.next_imm and insn.src
                or k == "ldind" and insn.imm)


@needs_llvm
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 1 << 32))
def test_whole_objdump_listing_with_raw_bytes_assembles_to_the_same_bytes(seed):
    insns = every_entry(random.Random(seed), 8)
    data = encode(insns)
    assert assemble(llvm_objdump(data, raw=True)) == insns


CLANG_SRC = """
__attribute__((noinline)) int sq(int x) { return x * x; }
int f(int *p, int n) {
    int s = 0;
    for (int i = 0; i < n && i < 64; i++) s += sq(p[i]) >> 1;
    return s ^ 0x12345678abcdLL > 7;
}
"""


@needs_llvm
@pytest.mark.skipif(shutil.which("clang-19") is None, reason="clang-19 missing")
def test_objdump_listing_of_a_clang_object(tmp_path):
    src, obj, text = tmp_path / "a.c", tmp_path / "a.o", tmp_path / "a.bin"
    src.write_text(CLANG_SRC)
    subprocess.run(["clang-19", "-target", "bpf", "-mcpu=v4", "-O2", "-c", str(src), "-o",
                    str(obj)], check=True)
    subprocess.run(["llvm-objcopy-19", "-O", "binary", "--only-section=.text", str(obj),
                    str(text)], check=True)
    def objdump(*flags: str) -> str:
        return subprocess.run(["llvm-objdump-19", *flags, "--mcpu=v4", str(obj)], check=True,
                              capture_output=True, text=True).stdout

    listing = objdump("-d")
    assert "call" in listing and "goto" in listing
    assert encode(assemble(listing)) == text.read_bytes()  # raw bytes keep the local call
    # without raw bytes, the R_BPF_64_32 relocation line marks the bpf-to-bpf call
    assert encode(assemble(objdump("-dr", "--no-show-raw-insn"))) == text.read_bytes()
    plain = assemble(objdump("-d", "--no-show-raw-insn"))
    assert [i.src for i in plain if i.opcode == 0x85] == [0]  # ... which plain text loses


# --- examples of every spelling --------------------------------------------------------------
@pytest.mark.parametrize("llvm,ubpf", [
    ("r1 += r2", "add %r1, %r2"), ("w1 -= 5", "sub32 %r1, 5"), ("r1 s/= r2", "sdiv %r1, %r2"),
    ("r1 s%= 5", "smod %r1, 5"), ("w3 s%= w4", "smod32 %r3, %r4"),
    ("r1 = (s8)r2", "movsx864 %r1, %r2"), ("w1 = (s16)w2", "movsx1632 %r1, %r2"),
    ("r1 = (s32)r2", "movsx3264 %r1, %r2"), ("r1 = be16 r1", "be16 %r1"),
    ("r1 = le32 r1", "le32 %r1"), ("r1 = bswap64 r1", "swap64 %r1"),
    ("r0 = *(u32 *)(r1 + 4)", "ldxw %r0, [%r1+4]"), ("r0 = *(s8 *)(r1 - 2)", "ldxbsx %r0, [%r1-2]"),
    ("*(u64 *)(r10 - 8) = r1", "stxdw [%r10-8], %r1"), ("*(u16 *)(r1 + 0) = 7", "sth [%r1+0], 7"),
    ("lock *(u64 *)(r10 - 8) += r1", "lock add [%r10-8], %r1"),
    ("lock *(u32 *)(r1 + 0) ^= w2", "lock xor32 [%r1+0], %r2"),
    ("r2 = atomic_fetch_or((u64 *)(r1 + 0), r2)", "lock fetch or [%r1+0], %r2"),
    ("w2 = atomic_fetch_and((u32 *)(r1 + 0), w2)", "lock fetch and32 [%r1+0], %r2"),
    ("r2 = xchg_64(r1 + 0, r2)", "lock xchg [%r1+0], %r2"),
    ("w2 = xchg32_32(r1 + 0, w2)", "lock xchg32 [%r1+0], %r2"),
    ("r0 = cmpxchg_64(r1 + 8, r0, r2)", "lock cmpxchg [%r1+8], %r2"),
    ("w0 = cmpxchg32_32(r1 + 8, w0, w2)", "lock cmpxchg32 [%r1+8], %r2"),
    ("r1 = 0x1234 ll", "lddw %r1, 0x1234"), ("r1 = -1 ll", "lddw %r1, 0xffffffffffffffff"),
    ("r0 = *(u8 *)skb[3]", "ldabsb 3"), ("r0 = *(u16 *)skb[r1]", "ldindh %r1, 0"),
    ("goto +3", "ja +3"), ("gotol -3", "ja32 -3"), ("if r1 s> 5 goto +3", "jsgt %r1, 5, +3"),
    ("if w1 & w2 goto -2", "jset32 %r1, %r2, -2"), ("may_goto +2", "may_goto +2"),
    ("call 1", "call 1"), ("call pc+4", "call local +4"), ("call kfunc(9)", "call runtime 9"),
    ("callx r5", "callx %r5"), ("exit", "exit"), ("w1 = -w1", "neg32 %r1"),
    ("r1 = map_by_fd(3)", "lddw %r1, map_by_fd(3)"),
    ("r1 = map_val(map_by_fd(3)) + 8", "lddw %r1, map_val(map_by_fd(3))+8"),
    ("r2 = map_by_idx(0)", "lddw %r2, map_by_idx(0)"),
    ("r2 = map_val(map_by_idx(1)) - 4", "lddw %r2, map_val(map_by_idx(1)) - 4"),
    ("r3 = var_addr(77)", "lddw %r3, var_addr(77)"),
    ("r3 = code_addr(+2)", "lddw %r3, code_addr(+2)"),
    ("call bpf_map_lookup_elem", "call bpf_map_lookup_elem"), ("call 12", "call bpf_tail_call"),
])
def test_both_syntaxes_agree(llvm, ubpf):
    insns = assemble(llvm, "llvm")
    assert insns == assemble(ubpf, "ubpf")
    assert assemble(format_insn(insns[0], syntax="ubpf"), "ubpf") == insns


@pytest.mark.parametrize("kernel,llvm", [
    ("if r1 > 0x5 goto pc+3", "if r1 > 5 goto +3"), ("goto pc-2", "goto -2"),
    ("r1 = *(u32 *)(r2 +4)", "r1 = *(u32 *)(r2 + 4)"), ("*(u64 *)(r10 -8) = r1",
                                                         "*(u64 *)(r10 - 8) = r1"),
    ("call bpf_map_lookup_elem#1", "call 1"), ("12: (b7) r0 = 0", "r0 = 0"),
    ("r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)", "r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)"),
    ("r0 = atomic64_cmpxchg((u64 *)(r1 +8), r0, r2)", "r0 = cmpxchg_64(r1 + 8, r0, r2)"),
    ("w2 = atomic_xchg((u32 *)(r1 +0), w2)", "w2 = xchg32_32(r1 + 0, w2)"),
    ("ld_pseudo r1, 1, 3", "r1 = map_by_fd(3)"), ("r1 = 0x100000000", "r1 = 0x100000000 ll"),
    ("r1 = map_by_fd(3) ll", "r1 = map_by_fd(3)"), ("w0 = *(u8 *)(r1 + 0x0)", "r0 = *(u8 *)(r1 + 0)"),
    ("r1 = map_fd(3)", "r1 = map_by_fd(3)"), ("r1 = map_value(3) + 8", "r1 = map_val(map_by_fd(3)) + 8"),
    ("r1 = map_idx_value(1) + 0", "r1 = map_val(map_by_idx(1)) + 0"), ("r1 = func(-3)", "r1 = code_addr(-3)"),
    ("r0 = 5 ; comment", "r0 = 5 // other"), ("r0 = 5 # hash", "r0 = 0x5"),
    ("goto +0x3 <foo+0x20>", "goto +3"),
])
def test_kernel_log_and_objdump_spellings(kernel, llvm):
    assert assemble(kernel) == assemble(llvm)


def test_names_of_maps_and_helpers():
    text = "r1 = map_by_fd(b)\nr2 = map_val(map_by_idx(a)) + 4\ncall bpf_trace_printk\nexit"
    insns = assemble(text, maps=["a", "b"])
    assert [(i.src, i.imm, i.next_imm) for i in insns[:2]] == [(1, 1, 0), (6, 0, 4)]
    assert (insns[2].src, insns[2].imm) == (0, 6)  # trace_printk is helper 6
    assert assemble("call f\nexit", helpers={"f": 99})[0].imm == 99
    # a label wins over a helper of the same name
    local = assemble("call bpf_tail_call\nexit\nbpf_tail_call: exit")
    assert (local[0].src, local[0].imm) == (isa.CALL_LOCAL, 1)


def test_bpf_conformance_spellings():
    text = ("mov r2, 1\nlddw r1, map_by_fd(m)\nstxw [r10-4], r2\nldxdw %r0, [%r1]\n"
            "jne %r0, 15, 2\ncall local 1\nlock fetch add [r10-8], r1\nldabsw %r0, %r0, 4\n"
            "exit")
    insns = assemble(text, "ubpf", maps=["m"])
    assert insns[4].off == 2 and insns[5].src == isa.CALL_LOCAL
    assert (insns[6].imm, insns[7].opcode) == (isa.ATOMIC_ADD | isa.ATOMIC_FETCH, 0x20)
    assert assemble("\n".join(disassemble(insns, "ubpf")), "ubpf") == insns


def test_ubpf_conveniences():
    text = "mov %r0, 0\njeq %r1, 0, exit\nadd %r0, 1\nja +0\nexit"
    insns = assemble(text, "ubpf")
    assert insns[1].off == 2  # `exit` names the first exit
    assert assemble("call helper 5", "ubpf") == assemble("call 5", "ubpf")
    assert assemble("call %r3", "ubpf") == assemble("callx %r3", "ubpf")
    assert assemble("ldxsh %r1, [%r2]", "ubpf") == assemble("ldxhsx %r1, [%r2+0]", "ubpf")
    assert assemble("mov32 %r0, 0xffffffff", "ubpf")[0].imm == -1


@settings(max_examples=50)
@given(st.sampled_from(["mov32", "add32", "sub32", "or32", "and32", "xor32", "mul32", "div32",
                        "mod32", "lsh32", "rsh32", "arsh32", "sdiv32", "smod32"]),
       st.integers(-(1 << 63), (1 << 64) - 1))
def test_wide_constant_of_a_32_bit_op_keeps_its_low_32_bits(mnemonic, value):
    # bpf_conformance writes `mov32 %r1, 0x876543210` (lock_cmpxchg32); a 32-bit op reads only
    # the low 32 bits of its operand, so the constant means the same reduced mod 2**32
    (insn,) = assemble(f"{mnemonic} %r1, {value}", "ubpf")
    assert insn.imm % (1 << 32) == value % (1 << 32)
    assert assemble(f"{mnemonic} %r1, {value % (1 << 32)}", "ubpf") == [insn]
    wide = (1 << 32) + (value % (1 << 32))
    with pytest.raises(AsmError, match="out of 32-bit range"):
        assemble(f"{mnemonic[:-2]} %r1, {wide}", "ubpf")  # the 64-bit op would change meaning


@settings(max_examples=50)
@given(st.sampled_from(["mov", "add", "and", "xor", "jeq", "jgt", "jsle", "jset"]),
       st.integers(0, (1 << 64) - 1))
def test_64_bit_constant_of_a_64_bit_op_is_kept_when_its_imm_extends_to_it(mnemonic, value):
    # a 64-bit op sign-extends its imm: 0xffffffffffffffff is -1; other wide values would
    # change meaning, so they stay refused
    text = f"{mnemonic} %r1, {value:#x}" + (", +0" if mnemonic.startswith("j") else "")
    if value < (1 << 32) or value >= (1 << 64) - (1 << 31):
        (insn,) = assemble(text, "ubpf")
        extended = insn.imm % (1 << 64)
        assert extended == value or value < (1 << 32) and insn.imm % (1 << 32) == value
    else:
        with pytest.raises(AsmError, match="out of 32-bit range"):
            assemble(text, "ubpf")


@settings(max_examples=50)
@given(st.integers(-(1 << 63), (1 << 64) - 1))
def test_lddw_values(value):
    for syntax, text in (("llvm", f"r1 = {value} ll"), ("ubpf", f"lddw %r1, {value}")):
        (insn,) = assemble(text, syntax)
        assert insn.imm64 == value % (1 << 64)


@settings(max_examples=50)
@given(SMALL_IMM)
def test_mov_without_ll_picks_mov_or_lddw_by_meaning(value):
    (insn,) = assemble(f"r1 = {value}")
    assert insn.opcode == 0xB7 and insn.imm == value
    big = value + (1 << 40)
    (insn,) = assemble(f"r1 = {big}")
    assert insn.opcode == 0x18 and insn.imm64 == big % (1 << 64)


# --- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("syntax,text,line,needle", [
    ("llvm", "r0 = 0\nr0 = frob r1", 2, "cannot parse"),
    ("llvm", "r0 = 0\n\nr11 = 1", 3, "bad register 'r11'"),
    ("llvm", "r1 += 0x100000000", 1, "out of 32-bit range"),
    ("llvm", "r1 = *(u32 *)(r2 + 40000)", 1, "memory offset 40000 out of 16-bit range"),
    ("llvm", "goto nowhere", 1, "unknown label 'nowhere'"),
    ("llvm", "goto +40000", 1, "jump offset 40000 out of 16-bit range"),
    ("llvm", "a:\nexit\na: exit", 3, "label 'a' defined twice"),
    ("llvm", "r1 += w2", 1, "does not match"),
    ("llvm", "r1 = -r2", 1, "negation is in place"),
    ("llvm", "r1 = *(s64 *)(r2 + 0)", 1, "no sign-extending 64-bit load"),
    ("llvm", "r1 = map_by_fd(2) + 4", 1, "takes no offset"),
    ("llvm", "r1 = map_by_fd(counts)", 1, "unknown map 'counts' (maps: none declared)"),
    ("llvm", "r1 = frob(2)", 1, "unknown pseudo value"),
    ("llvm", "call no_such_function", 1, "unknown label 'no_such_function'"),
    ("llvm", "r1 = 0x10000000000000000 ll", 1, "out of 64-bit range"),
    ("llvm", "r1 = (s32)w2", 1, "registers of one width"),
    ("llvm", "w1 = (s32)w2", 1, "invalid instruction"),
    ("llvm", "r3 = atomic_fetch_add((u64 *)(r1 + 0), r2)", 1, "must write its result"),
    ("ubpf", "mov %r0, 1\nfrob %r1", 2, "unknown mnemonic 'frob'"),
    ("ubpf", "mov %r0, %r12", 1, "bad register '%r12'"),
    ("ubpf", "add %r0", 1, "add takes 2 operands"),
    ("ubpf", "ldxw %r0, %r1", 1, "bad memory operand"),
    ("ubpf", "ja nowhere", 1, "unknown label"),
    ("ubpf", "call frob 1", 1, "bad call"),
    ("ubpf", "stw [%r1+0], 0x1ffffffff", 1, "out of 32-bit range"),
    ("llvm", "r0 = 0", None, "unknown syntax"),
])
def test_errors_name_the_line(syntax, text, line, needle):
    kind = syntax if line is not None else "intel"
    with pytest.raises(AsmError) as e:
        assemble(text, kind)
    assert needle in str(e.value)
    assert e.value.line == line
    if line is not None:
        assert str(e.value).startswith(f"line {line}: ")


def test_formatting_an_invalid_instruction_is_a_decode_error():
    from cfg.errors import DecodeError
    with pytest.raises(DecodeError, match="unknown opcode 0xff"):
        format_insn(Insn(0xFF))
    with pytest.raises(DecodeError, match="instruction 2: invalid immediate"):
        disassemble([isa.lddw(0, 1), Insn(0xDB, 1, 2, 0, 0x02)], "ubpf")


def test_far_label_jump_is_out_of_range():
    text = "goto far\n" + "r0 = 1 ll\n" * 16400 + "far: exit"  # 32800 slots away
    with pytest.raises(AsmError, match="out of range") as e:
        assemble(text)
    assert e.value.line == 1
    assert assemble(text.replace("goto far", "gotol far"))[0].imm == 32800
