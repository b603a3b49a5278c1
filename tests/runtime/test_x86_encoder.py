"""The x86-64 encoder against GNU objdump's disassembler (an independent decoder)."""
import re
import shutil
import subprocess

import pytest

from runtime.jit import x86_encoder as x
from runtime.jit.x86_encoder import Assembler, Label

NAMES64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
           "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
NAMES32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
           "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"]
NAMES16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
           "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"]
NAMES8 = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
          "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"]
EBPF_REGS = [x.RAX, x.RDI, x.RSI, x.RDX, x.RCX, x.R8, x.RBX, x.R13, x.R14, x.R15, x.RBP,
             x.R9, x.R10, x.R11, x.R12]


def _cases():
    """(emit function, expected intel-syntax text) for many forms and registers."""
    cases = []
    for r in EBPF_REGS:
        for s in (x.RAX, x.RCX, x.RSI, x.R11, x.R13, x.RBP):
            cases.append((lambda a, r=r, s=s: a.alu_rr(x.OP_ADD, r, s), f"add {NAMES64[r]},{NAMES64[s]}"))
            cases.append((lambda a, r=r, s=s: a.alu_rr(x.OP_XOR, r, s, False), f"xor {NAMES32[r]},{NAMES32[s]}"))
            cases.append((lambda a, r=r, s=s: a.mov_rr(r, s), f"mov {NAMES64[r]},{NAMES64[s]}"))
            cases.append((lambda a, r=r, s=s: a.imul_rr(r, s), f"imul {NAMES64[r]},{NAMES64[s]}"))
            cases.append((lambda a, r=r, s=s: a.load(r, s, 16, 4), f"mov {NAMES32[r]},DWORD PTR [{NAMES64[s]}+0x10]"))
            cases.append((lambda a, r=r, s=s: a.load(r, s, -8, 8), f"mov {NAMES64[r]},QWORD PTR [{NAMES64[s]}-0x8]"))
            cases.append((lambda a, r=r, s=s: a.load(r, s, 2, 1), f"movzx {NAMES32[r]},BYTE PTR [{NAMES64[s]}+0x2]"))
            cases.append((lambda a, r=r, s=s: a.load(r, s, 2, 2, True), f"movsx {NAMES64[r]},WORD PTR [{NAMES64[s]}+0x2]"))
            cases.append((lambda a, r=r, s=s: a.load(r, s, 4, 4, True), f"movsxd {NAMES64[r]},DWORD PTR [{NAMES64[s]}+0x4]"))
            cases.append((lambda a, r=r, s=s: a.store(r, -4, s, 1), f"mov BYTE PTR [{NAMES64[r]}-0x4],{NAMES8[s]}"))
            cases.append((lambda a, r=r, s=s: a.store(r, 6, s, 2), f"mov WORD PTR [{NAMES64[r]}+0x6],{NAMES16[s]}"))
            cases.append((lambda a, r=r, s=s: a.movsx_rr(r, s, 8), f"movsx {NAMES64[r]},{NAMES8[s]}"))
            cases.append((lambda a, r=r, s=s: a.movzx_rr(r, s, 16), f"movzx {NAMES32[r]},{NAMES16[s]}"))
            cases.append((lambda a, r=r, s=s: a.lock_xadd(r, 8, s, True), f"lock xadd QWORD PTR [{NAMES64[r]}+0x8],{NAMES64[s]}"))
            cases.append((lambda a, r=r, s=s: a.lock_cmpxchg(r, 8, s, False), f"lock cmpxchg DWORD PTR [{NAMES64[r]}+0x8],{NAMES32[s]}"))
        cases.append((lambda a, r=r: a.alu_ri(x.OP_SUB, r, 1000), f"sub {NAMES64[r]},0x3e8"))
        cases.append((lambda a, r=r: a.alu_ri(x.OP_CMP, r, -1, False), f"cmp {NAMES32[r]},0xffffffff"))
        cases.append((lambda a, r=r: a.mov_ri(r, -2), f"mov {NAMES64[r]},0xfffffffffffffffe"))
        cases.append((lambda a, r=r: a.mov_ri(r, 0x123456789), f"movabs {NAMES64[r]},0x123456789"))
        cases.append((lambda a, r=r: a.mov_ri(r, 7, False), f"mov {NAMES32[r]},0x7"))
        cases.append((lambda a, r=r: a.shift_ri(7, r, 3), f"sar {NAMES64[r]},0x3"))
        cases.append((lambda a, r=r: a.shift_cl(4, r, False), f"shl {NAMES32[r]},cl"))
        cases.append((lambda a, r=r: a.bswap(r), f"bswap {NAMES64[r]}"))
        cases.append((lambda a, r=r: a.ror16_8(r), f"ror {NAMES16[r]},0x8"))
        cases.append((lambda a, r=r: a.unary(3, r, False), f"neg {NAMES32[r]}"))
        cases.append((lambda a, r=r: a.store_imm(r, -8, -5, 8), f"mov QWORD PTR [{NAMES64[r]}-0x8],0xfffffffffffffffb"))
        cases.append((lambda a, r=r: a.push(r), f"push {NAMES64[r]}"))
        cases.append((lambda a, r=r: a.call_reg(r), f"call {NAMES64[r]}"))
    return cases


@pytest.mark.skipif(shutil.which("objdump") is None, reason="GNU objdump (binutils) not installed")
def test_encodings_match_objdump(tmp_path):
    cases = _cases()
    blobs = []
    for emit, _ in cases:
        a = Assembler()
        emit(a)
        blobs.append(bytes(a.code))
    path = tmp_path / "code.bin"
    path.write_bytes(b"".join(blobs))
    out = subprocess.run(["objdump", "-D", "-b", "binary", "-mi386:x86-64", "-M", "intel",
                          str(path)], capture_output=True, text=True, check=True).stdout
    lines = [ln.split("\t") for ln in out.splitlines() if re.match(r"^\s+[0-9a-f]+:\t", ln)]
    texts = {int(parts[0].strip().rstrip(":"), 16): re.sub(r"\s+", " ", parts[2].strip())
             for parts in lines if len(parts) >= 3}
    offset = 0
    for (emit, expected), blob in zip(cases, blobs):
        got = texts.get(offset, "").replace(" ,", ",")
        assert got == expected, f"at {offset:#x}: {blob.hex()} is {got!r}, wanted {expected!r}"
        offset += len(blob)


def test_forward_and_backward_labels_are_patched():
    a = Assembler()
    top, end = Label(), Label()
    a.bind(top)
    a.jmp(end)          # forward: patched at bind
    a.jcc(x.CC_NE, top)  # backward: known at emission
    a.bind(end)
    code = bytes(a.code)
    assert code[0] == 0xE9 and int.from_bytes(code[1:5], "little", signed=True) == 6
    assert code[5:7] == b"\x0f\x85" and int.from_bytes(code[7:11], "little", signed=True) == -11
