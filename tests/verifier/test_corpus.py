"""The corpus gets exactly the verdicts of corpus/manifest.yaml: each unsafe program is rejected
for the listed kind at the listed C line, and no safe program is rejected."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cfg.elf import load_programs
from verifier.analyze import Options, analyze

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
MANIFEST = CORPUS / "manifest.yaml"
ENTRIES = yaml.safe_load(MANIFEST.read_text())["programs"] if MANIFEST.exists() else []


def _program(entry):
    progs = load_programs(str(CORPUS / entry["object"]), entry.get("section"),
                          entry.get("function"))
    assert len(progs) == 1
    return progs[0]


def test_manifest_is_not_empty():
    assert len(ENTRIES) >= 40


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"{e['object']}:{e.get('function')}"
                                                 for e in ENTRIES])
def test_verdict(entry):
    report = analyze(_program(entry), Options(termination=True),
                     platform=entry.get("platform", "linux"))
    if entry["verdict"] == "accept":
        assert report.ok, "\n".join(f"{e} | {e.detail}" for e in report.errors)
        return
    assert not report.ok, "unsafe program accepted"
    first = report.errors[0]
    listed = [(e.kind, e.source.line if e.source else None) for e in report.errors]
    assert (entry["kind"], entry["line"]) in listed, listed
    assert first.kind == entry["kind"], listed
    assert first.source is not None and first.source.line == entry["line"], listed
