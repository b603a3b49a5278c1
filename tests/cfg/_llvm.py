"""LLVM 19 as the reference: assemble text with llvm-mc-19, disassemble bytes with
llvm-objdump-19, one process per batch so that hundreds of instructions cost one call."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import pytest

TOOLS = ("llvm-mc-19", "llvm-objdump-19", "llvm-objcopy-19")
MISSING = [t for t in TOOLS if shutil.which(t) is None]
needs_llvm = pytest.mark.skipif(bool(MISSING), reason=f"LLVM 19 tools missing: {MISSING}")


def _run(args: list[str]) -> str:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode:
        raise AssertionError(f"{' '.join(args)} failed:\n{proc.stderr[:4000]}")
    return proc.stdout


def llvm_assemble(text: str) -> bytes:
    """The .text bytes llvm-mc-19 -mcpu=v4 makes of `text`."""
    with tempfile.TemporaryDirectory() as tmp:
        src, obj, out = (os.path.join(tmp, n) for n in ("a.s", "a.o", "a.bin"))
        with open(src, "w") as f:
            f.write(text + "\n")
        _run(["llvm-mc-19", "-triple", "bpf", "-mcpu=v4", "-filetype=obj", src, "-o", obj])
        _run(["llvm-objcopy-19", "-O", "binary", "--only-section=.text", obj, out])
        with open(out, "rb") as f:
            return f.read()


def bytes_object(data: bytes, path: str) -> None:
    """Write an ELF object whose .text holds exactly `data` (via llvm-mc `.byte`)."""
    src = path + ".s"
    with open(src, "w") as f:
        for i in range(0, len(data), 8):
            f.write(".byte " + ",".join(str(b) for b in data[i:i + 8]) + "\n")
    _run(["llvm-mc-19", "-triple", "bpf", "-mcpu=v4", "-filetype=obj", src, "-o", path])


def llvm_objdump(data: bytes, raw: bool = False) -> str:
    """llvm-objdump-19 -d --mcpu=v4 of `data`, the whole listing."""
    with tempfile.TemporaryDirectory() as tmp:
        obj = os.path.join(tmp, "a.o")
        bytes_object(data, obj)
        args = ["llvm-objdump-19", "-d", "--mcpu=v4", obj]
        if not raw:
            args.insert(2, "--no-show-raw-insn")
        return _run(args)


def llvm_disassemble(data: bytes) -> list[str]:
    """The instruction texts llvm-objdump-19 prints for `data` (annotations kept)."""
    out = []
    for line in llvm_objdump(data).splitlines():
        m = re.match(r"^\s*\d+:\t(.*)$", line)
        if m:
            out.append(m.group(1))
    return out
