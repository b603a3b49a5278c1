"""`bpfcheck cfg`: formats, inputs, errors, and block boundaries checked against llvm-objdump."""
from __future__ import annotations

import glob
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cfg.isa import CLS_JMP, JMP_EXIT, JMP_JA, Insn
from verifier.cli import main

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted(glob.glob(str(ROOT / "corpus/build/*.o")))
PARSER = str(ROOT / "corpus/build/xdp_ipv4_option_walk.o")
OBJDUMP = shutil.which("llvm-objdump-19") or shutil.which("llvm-objdump")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def objdump_leaders(path: str) -> dict[str, tuple[dict[int, int], set[int], set[int]]]:
    """Per section: {slot: insn count}, jump targets, and jump/exit slots, from llvm-objdump."""
    text = subprocess.run([OBJDUMP, "-d", path], capture_output=True, text=True,
                          check=True).stdout
    out: dict[str, tuple[dict[int, int], set[int], set[int]]] = {}
    section = None
    for line in text.splitlines():
        m = re.match(r"Disassembly of section (.*):", line)
        if m:
            section = m.group(1)
            out[section] = ({}, set(), set())
            continue
        m = re.match(r"\s*(\d+):\t[0-9a-f ]+\t(.*)$", line)
        if not m or section is None:
            continue
        slot, asm = int(m.group(1)), m.group(2)
        slots, targets, enders = out[section]
        slots[slot] = 1
        j = re.search(r"\b(goto|gotol|may_goto) ([+-]0x[0-9a-f]+|[+-]\d+)", asm)
        if j:
            targets.add(slot + 1 + int(j.group(2), 0))
            enders.add(slot)
        elif asm.strip() == "exit":
            enders.add(slot)
    return out


@pytest.mark.skipif(OBJDUMP is None, reason="llvm-objdump not installed")
@pytest.mark.parametrize("path", CORPUS)
def test_json_blocks_agree_with_objdump_leaders(capsys, path):
    code, out, _ = run(capsys, "cfg", path, "--format", "json")
    assert code == 0
    data = json.loads(out)
    listing = objdump_leaders(path)
    assert data["functions"]
    if path == PARSER:
        assert listing["xdp"][1] and listing["xdp"][2]   # the parser has jumps
    for fn in data["functions"]:
        slots, targets, enders = listing[fn["symbol_section"]]
        lo = fn["symbol_pc"]
        hi = lo + fn["end"] - fn["start"]
        firsts = {b["first_pc"] - fn["start"] + lo for b in fn["blocks"]}
        lasts = {b["last_pc"] - fn["start"] + lo for b in fn["blocks"]}
        assert {t for t in targets if lo <= t < hi} <= firsts
        assert {e for e in enders if lo <= e < hi} <= lasts
        assert lo in firsts
        ids = {b["id"] for b in fn["blocks"]}
        assert all(e["from"] in ids and e["kind"] in
                   ("fallthrough", "taken", "jump", "call", "return") for e in fn["edges"])


def test_dot_to_stdout_and_file(capsys, tmp_path):
    code, out, _ = run(capsys, "cfg", PARSER)
    assert code == 0 and out.startswith("digraph") and "subgraph cluster_" in out
    code, _, _ = run(capsys, "cfg", PARSER, "-o", str(tmp_path / "g.dot"))
    assert code == 0 and (tmp_path / "g.dot").read_text() == out


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` not installed")
def test_svg_and_png(capsys, tmp_path):
    assert run(capsys, "cfg", PARSER, "-o", str(tmp_path / "g.svg"))[0] == 0
    svg = (tmp_path / "g.svg").read_text()
    assert "<svg" in svg and "xdp_ipv4_option_walk.c:" in svg
    assert run(capsys, "cfg", PARSER, "-o", str(tmp_path / "g.png"), "--inline")[0] == 0
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def test_section_and_function_selection(capsys):
    path = str(ROOT / "corpus/build/multi_section_counters.o")
    code, out, _ = run(capsys, "cfg", path, "--format", "json")
    assert {f["section"] for f in json.loads(out)["functions"]} == {"xdp", "tc", "socket"}
    code, out, _ = run(capsys, "cfg", path, "--section", "tc", "--format", "json")
    assert code == 0 and {f["section"] for f in json.loads(out)["functions"]} == {"tc"}
    code, _, err = run(capsys, "cfg", path, "--section", "nope")
    assert code == 2 and err.startswith("bpfcheck: error:") and err.count("\n") == 1
    code, out, _ = run(capsys, "cfg", path)        # every program in one drawing
    assert code == 0 and out.count("subgraph cluster_") == 3


def test_text_and_raw_inputs(capsys, tmp_path):
    src = tmp_path / "p.s"
    src.write_text("r0 = 0\nif r1 > 5 goto +1\nr0 = 1\nexit\n")
    code, out, _ = run(capsys, "cfg", str(src), "--format", "json")
    fn = json.loads(out)["functions"][0]
    assert code == 0 and [b["first_pc"] for b in fn["blocks"]] == [0, 2, 3]
    raw = tmp_path / "p.bin"
    raw.write_bytes(bytes([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]))
    code, out, _ = run(capsys, "cfg", str(raw), "--format", "json")
    assert code == 0 and json.loads(out)["functions"][0]["blocks"] == \
        [{"id": 0, "first_pc": 0, "last_pc": 1}]


def test_malformed_programs_are_one_line_errors(capsys, tmp_path):
    from cfg.isa import encode

    bad = tmp_path / "bad.bin"
    bad.write_bytes(encode([Insn(CLS_JMP | JMP_JA, off=5), Insn(CLS_JMP | JMP_EXIT)]))
    code, out, err = run(capsys, "cfg", str(bad))
    assert code == 2 and out == "" and "pc 0: jump to pc 6 outside the program" in err
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"\x7fELF" + b"\x00" * 20)
    code, _, err = run(capsys, "cfg", str(junk))
    assert code == 2 and err.startswith("bpfcheck: error:")
    code, _, err = run(capsys, "cfg", str(tmp_path / "missing.o"))
    assert code == 2 and err.startswith("bpfcheck: error:")
    code, _, err = run(capsys, "cfg", PARSER, "-o", str(tmp_path / "g.gif"))
    assert code == 2 and "format" in err


def test_invariants_and_errors_drawn(capsys):
    path = str(ROOT / "corpus/build/bad_xdp_off_by_one.o")
    code, out, _ = run(capsys, "cfg", path, "--invariants")
    assert code == 0
    assert 'BGCOLOR="#ffb3b3"' in out and "packet-bounds" in out and 'color="red3"' in out
    assert "packet_size" in out          # invariants are written in the blocks
    code, plain, _ = run(capsys, "cfg", path)
    assert "packet_size" not in plain and "BGCOLOR" not in plain
