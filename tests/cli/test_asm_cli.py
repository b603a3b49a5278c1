"""`bpfcheck asm` and `bpfcheck disasm`: bytes out, llvm-objdump's layout, one-line errors."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from cfg.asm import assemble
from cfg.isa import decode, encode
from verifier.cli import main

PROGRAM = """\
r0 = 0
loop: r0 += 1          // count
if r0 < 10 goto loop
r1 = 0x123456789 ll
*(u64 *)(r10 - 8) = r1
exit
"""


def test_asm_writes_the_bytes(tmp_path):
    src, out = tmp_path / "p.s", tmp_path / "p.bin"
    src.write_text(PROGRAM)
    assert main(["asm", str(src), "-o", str(out)]) == 0
    assert out.read_bytes() == encode(assemble(PROGRAM))


def test_asm_ubpf_syntax_and_data_files(tmp_path):
    src, data, out1, out2 = (tmp_path / n for n in ("p.asm", "t.data", "a.bin", "b.bin"))
    src.write_text("mov %r0, 1\nadd32 %r0, 2\nexit\n")
    data.write_text("# test\n-- asm\nmov %r0, 1\nadd32 %r0, 2\nexit\n-- result\n0x3\n")
    assert main(["asm", str(src), "--syntax", "ubpf", "-o", str(out1)]) == 0
    assert main(["asm", str(data), "-o", str(out2)]) == 0
    assert out1.read_bytes() == out2.read_bytes() == encode(assemble("r0 = 1\nw0 += 2\nexit"))


@pytest.mark.parametrize("text,needle", [
    ("r0 = 0\nr0 = frob\n", "line 2: expected a register or immediate"),
    ("goto nowhere\n", "line 1: unknown label 'nowhere'"),
    ("r12 = 1\n", "line 1: bad register 'r12'"),
])
def test_asm_errors_are_one_line_naming_file_and_line(tmp_path, capsys, text, needle):
    src = tmp_path / "bad.s"
    src.write_text(text)
    assert main(["asm", str(src), "-o", str(tmp_path / "x.bin")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"bpfcheck: error: {src}: ") and needle in err
    assert not (tmp_path / "x.bin").exists()


def test_asm_missing_file(tmp_path, capsys):
    assert main(["asm", str(tmp_path / "none.s"), "-o", str(tmp_path / "x")]) == 2
    assert "none.s" in capsys.readouterr().err


def test_disasm_prints_objdump_layout(tmp_path, capsys):
    raw = tmp_path / "p.bin"
    insns = assemble(PROGRAM)
    raw.write_bytes(encode(insns))
    assert main(["disasm", str(raw)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(insns)
    pcs = []
    for line, insn in zip(lines, insns):
        m = re.fullmatch(r" *(\d+):\t((?:[0-9a-f]{2} )*[0-9a-f]{2})\t(.+)", line)
        assert m, line
        assert len(m.group(0).split(":")[0]) == 8  # pc right-aligned in 8 columns
        pcs.append(int(m.group(1)))
        assert bytes.fromhex(m.group(2)) == encode([insn])
        assert assemble(m.group(3)) == [insn]
    assert pcs == [0, 1, 2, 3, 5, 6]
    # the whole listing assembles back
    assert assemble("\n".join(lines)) == insns


def test_disasm_ubpf_with_labels(tmp_path, capsys):
    raw = tmp_path / "p.bin"
    insns = assemble(PROGRAM)
    raw.write_bytes(encode(insns))
    assert main(["disasm", str(raw), "--syntax", "ubpf", "--labels"]) == 0
    out = capsys.readouterr().out
    assert "L1:\n" in out and "jlt %r0, 10, L1" in out
    texts = [line.split("\t")[-1] for line in out.splitlines()]
    assert assemble("\n".join(texts), "ubpf") == insns


@pytest.mark.skipif(shutil.which("llvm-objdump-19") is None, reason="llvm-objdump-19 missing")
def test_disasm_matches_llvm_objdump_for_llvm_forms(tmp_path, capsys):
    raw, src, obj = tmp_path / "p.bin", tmp_path / "p.s", tmp_path / "p.o"
    src.write_text(PROGRAM)
    subprocess.run(["llvm-mc-19", "-triple", "bpf", "-mcpu=v4", "-filetype=obj", str(src),
                    "-o", str(obj)], check=True)
    raw.write_bytes(encode(assemble(PROGRAM)))
    assert main(["disasm", str(raw)]) == 0
    ours = capsys.readouterr().out.splitlines()
    theirs = subprocess.run(["llvm-objdump-19", "-d", "--mcpu=v4", str(obj)], check=True,
                            capture_output=True, text=True).stdout
    theirs = [re.sub(r"(goto [+-]0x[0-9a-f]+) <[^>]*>$", r"\1", line)
              for line in theirs.splitlines() if re.match(r"^ *\d+:\t", line)]
    assert ours == theirs


@pytest.mark.parametrize("data,needle", [
    (b"\x95" + bytes(6), "length 7 is not a multiple of 8"),
    (bytes.fromhex("b700000000000000ff00000000000000"), "instruction 1: unknown opcode 0xff"),
    (bytes.fromhex("1801000000000000"), "instruction 0: lddw cut in half"),
])
def test_disasm_bad_bytes(tmp_path, capsys, data, needle):
    raw = tmp_path / "bad.bin"
    raw.write_bytes(data)
    assert main(["disasm", str(raw)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{raw}: " in err and needle in err


def test_disasm_section_needs_an_object(tmp_path, capsys):
    raw = tmp_path / "p.bin"
    raw.write_bytes(encode(assemble("exit")))
    assert main(["disasm", str(raw), "--section", "xdp"]) == 2
    assert "need an ELF object" in capsys.readouterr().err


C_SOURCE = """\
struct ctx { unsigned a, b; };
static __attribute__((noinline)) int twice(int x) { return x * 2; }
__attribute__((section("xdp"))) int prog(struct ctx *c) {
    int r = twice(c->a);
    return r > 3 ? 2 : 1;
}
__attribute__((section("tc"))) int other(struct ctx *c) { return c->b; }
char LICENSE[] __attribute__((section("license"))) = "GPL";
"""


@pytest.mark.skipif(shutil.which("clang-19") is None, reason="clang-19 missing")
def test_disasm_elf_object_with_source_lines(tmp_path, capsys):
    src, obj = tmp_path / "p.c", tmp_path / "p.o"
    src.write_text(C_SOURCE)
    subprocess.run(["clang-19", "-target", "bpf", "-O2", "-g", "-c", str(src), "-o", str(obj)],
                   check=True)
    assert main(["disasm", str(obj), "--section", "xdp"]) == 0
    out = capsys.readouterr().out
    assert "Disassembly of section xdp" in out and "tc" not in out.split("\n", 1)[1]
    assert "<prog>:" in out and "<twice>:" in out
    assert "; int r = twice(c->a);" in out
    listing = [line for line in out.splitlines() if re.match(r"^ *\d+:\t", line)]
    insns = assemble("\n".join(listing))  # raw bytes keep the local call
    assert any(i.opcode == 0x85 and i.src == 1 for i in insns)
    assert decode(encode(insns)) == insns
    assert main(["disasm", str(obj), "--section", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
