"""Checks every platform's part of the corpus manifest must pass (Linux and Windows)."""
from __future__ import annotations

import re
import struct
from pathlib import Path

import yaml

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
EM_BPF = 247
BUG_RE = re.compile(r"/\*\s*BUG:\s*([a-z-]+)\s*\*/")


def manifest(platform: str) -> list[dict]:
    """The manifest's program entries of one platform."""
    with (CORPUS / "manifest.yaml").open() as fh:
        return [p for p in yaml.safe_load(fh)["programs"] if p["platform"] == platform]


def entry_id(entry: dict) -> str:
    return f'{entry["object"]}:{entry["function"]}'


def source_defines_the_program(entry: dict) -> None:
    src = CORPUS / entry["source"]
    assert src.is_file(), src
    text = src.read_text()
    pattern = rf'^SEC\("{re.escape(entry["section"])}"\)\nint {entry["function"]}\('
    assert re.search(pattern, text, re.M), f"{src.name} lacks {entry['section']}/{entry['function']}"


def reject_line_holds_its_bug_marker(entry: dict) -> None:
    lines = (CORPUS / entry["source"]).read_text().splitlines()
    assert 1 <= entry["line"] <= len(lines)
    marker = BUG_RE.search(lines[entry["line"] - 1])
    assert marker is not None, f"{entry['source']}:{entry['line']} has no BUG marker"
    assert marker.group(1) == entry["kind"]


def every_bug_marker_has_an_entry(programs: list[dict], src_dir: str) -> None:
    """Every `BUG:` marker under corpus/<src_dir> is an unsafe entry's line, and back."""
    listed = {(p["source"], p["line"], p["kind"]) for p in programs if p["verdict"] == "reject"}
    found = set()
    for src in sorted((CORPUS / src_dir).glob("*.[ch]")):
        for no, line in enumerate(src.read_text().splitlines(), 1):
            if "BUG:" in line:
                marker = BUG_RE.search(line)
                assert marker is not None, f"{src.name}:{no}: malformed BUG marker"
                found.add((f"{src_dir}/{src.name}", no, marker.group(1)))
    assert found == listed


def every_source_is_in_the_manifest(programs: list[dict], src_dir: str, build_dir: str) -> None:
    objects = {p["object"] for p in programs}
    sources = {f"{src_dir}/{p.name}" for p in (CORPUS / src_dir).glob("*.c")}
    assert sources == {p["source"] for p in programs}
    assert {f"{build_dir}/{Path(s).stem}.o" for s in sources} == objects


def object_is_a_bpf_elf(obj: str) -> None:
    head = (CORPUS / obj).read_bytes()[:20]
    assert head[:4] == b"\x7fELF"
    assert head[4] == 2 and head[5] == 1, "ELF64, little-endian"
    assert struct.unpack_from("<H", head, 18)[0] == EM_BPF
