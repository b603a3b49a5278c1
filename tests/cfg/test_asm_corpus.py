"""Every code section of the corpus objects (real clang output) goes through our disassembler
into llvm-mc-19 and through llvm-objdump-19 into our assembler, and comes back byte for byte."""
from __future__ import annotations

import glob
import os
import re
import subprocess

import pytest

from _llvm import needs_llvm
from cfg.asm import assemble, disassemble
from cfg.isa import decode, encode

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OBJECTS = sorted(glob.glob(os.path.join(ROOT, "corpus", "**", "*.o"), recursive=True))


def code_sections(path: str) -> dict[str, bytes]:
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        return {s.name: s.data() for s in elf.iter_sections()
                if s["sh_flags"] & 0x4 and s["sh_size"]}  # SHF_EXECINSTR


@pytest.fixture(scope="module")
def sections() -> list[tuple[str, str, bytes]]:
    found = [(p, name, data) for p in OBJECTS for name, data in code_sections(p).items()]
    assert len(found) >= 50, "the corpus objects are committed under corpus/"
    return found


@needs_llvm
def test_our_disassembly_of_the_corpus_assembles_with_llvm_mc(sections, tmp_path):
    src, obj = tmp_path / "all.s", tmp_path / "all.o"
    with open(src, "w") as out:
        for k, (_, _, data) in enumerate(sections):
            text = "\n".join(disassemble(decode(data), labels=True))
            out.write(f'.section s{k},"ax"\n')
            out.write(re.sub(r"\bL(\d+)\b", rf"S{k}_L\1", text) + "\n")
    subprocess.run(["llvm-mc-19", "-triple", "bpf", "-mcpu=v4", "-filetype=obj", str(src),
                    "-o", str(obj)], check=True)
    back = code_sections(str(obj))
    for k, (path, name, data) in enumerate(sections):
        assert back[f"s{k}"] == data, f"{path} {name}"


@needs_llvm
@pytest.mark.parametrize("flags", [("-d",), ("-dr", "--no-show-raw-insn")])
def test_llvm_objdump_listings_of_the_corpus_assemble_with_ours(sections, flags):
    listing = subprocess.run(["llvm-objdump-19", *flags, "--mcpu=v4", *OBJECTS], check=True,
                             capture_output=True, text=True).stdout
    parts = re.split(r"^(\S+\.o):\s+file format .*$", listing, flags=re.M)
    by_file = dict(zip(parts[1::2], parts[2::2]))
    checked = 0
    for path, name, data in sections:
        text = by_file[path].split(f"Disassembly of section {name}:\n", 1)[1]
        text = text.split("Disassembly of section ", 1)[0]
        assert encode(assemble(text)) == data, f"{path} {name}"
        checked += len(data) // 8
    assert checked > 10000
