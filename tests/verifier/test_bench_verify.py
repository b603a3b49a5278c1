"""`bench verify` measures every program of the objects it is given, for each domain."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from verifier.bench.verify import objects, run_bench

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def test_objects_finds_the_built_corpus():
    found = objects([str(CORPUS)])
    assert found and all(p.endswith(".o") for p in found)
    assert objects([str(CORPUS / "build" / "xdp_eth_drop.o")]) == [
        str(CORPUS / "build" / "xdp_eth_drop.o")]


def test_bench_json_has_time_memory_and_verdict_per_domain(capsys):
    obj = str(CORPUS / "build" / "xdp_eth_drop.o")
    args = argparse.Namespace(paths=[obj], domains="zone,interval", termination=False,
                              no_memory=False, format="json")
    assert run_bench(args) == 0
    data = json.loads(capsys.readouterr().out)
    [row] = data["programs"]
    assert row["instructions"] > 0
    for d in ("zone", "interval"):
        assert row[d]["ms"] > 0 and row[d]["peak_kib"] > 0
    assert row["zone"]["ok"] is True
