"""Start-up: `bpfcheck --version` and `bpfcheck verify --help` import nothing heavy."""
from __future__ import annotations

import subprocess
import sys

from lint_helpers import ROOT

HEAVY = ("z3", "graphviz", "networkx", "elftools", "sarif_om", "tqdm", "yaml", "hypothesis")

PROBE = """
import sys
from verifier.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})
print('HEAVY', heavy, file=sys.stderr)
"""


def _probe(argv):
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    line = [x for x in out.stderr.splitlines() if x.startswith("HEAVY")][-1]
    return out.stdout, line


def test_version_is_light():
    out, heavy = _probe(["--version"])
    assert out.startswith("bpfcheck ") and heavy == "HEAVY []"


def test_verify_help_is_light():
    out, heavy = _probe(["verify", "--help"])
    assert "--format" in out and "--baseline" in out and "--jobs" in out
    assert heavy == "HEAVY []"


def test_warm_cache_run_imports_no_analysis(tmp_path):
    # a warm rerun answers from the cache without parsing ELF or loading the verifier
    from lint_helpers import BUILD, bpfcheck
    bpfcheck("verify", BUILD / "xdp_eth_drop.o", "--cache-dir", tmp_path / "c")
    out, heavy = _probe(["verify", str(BUILD / "xdp_eth_drop.o"), "--cache-dir",
                         str(tmp_path / "c")])
    assert "(cached)" in out and heavy == "HEAVY []"
