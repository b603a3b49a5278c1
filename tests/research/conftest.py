"""Shared pieces of the research harness tests: a small slice of the corpus."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus" / "build"
SLICE = ["xdp_eth_drop.o", "xdp_vlan_filter.o", "bad_xdp_off_by_one.o", "tc_ingress_mark.o",
         "socket_udp_only.o", "bad_stack_read_uninit.o", "xdp_ipv4_options.o",
         "tc_v4_bswap.o"]
LONG = "xdp_v4_long_jump.o"  # the biggest program of the corpus (seconds per analysis)


@pytest.fixture
def corpus_slice() -> list[str]:
    return [str(CORPUS / n) for n in SLICE]


def comparable(df):
    """What must agree between two runs: verdict, error count and kinds, instructions."""
    cols = ["key", "status", "verdict", "errors", "error_kinds", "instructions"]
    out = df[cols].copy()
    out["errors"] = out["errors"].astype(int)
    out["instructions"] = out["instructions"].astype(int)
    return out.sort_values("key").reset_index(drop=True)
