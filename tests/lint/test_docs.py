"""docs/ci.md stays true: its YAML parses, the workflow uploads SARIF, and every bpfcheck
command line it shows is accepted by the real argument parser."""
from __future__ import annotations

import re
import shlex

import yaml

from lint_helpers import ROOT
from verifier.cli import build_parser

DOC = (ROOT / "docs" / "ci.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, re.S)


def _commands() -> list[list[str]]:
    cmds = []
    for block in _blocks("yaml") + _blocks("sh"):
        for line in block.splitlines():
            line = line.strip().lstrip("-").strip()
            line = re.sub(r"^(run|script):\s*", "", line)
            if line.startswith("bpfcheck ") or line.startswith("`bpfcheck "):
                line = line.split("#")[0].split(">")[0].strip().strip("`")
                cmds.append(shlex.split(line)[1:])
    return cmds


def test_yaml_blocks_parse():
    blocks = [yaml.safe_load(b) for b in _blocks("yaml")]
    workflow = next(b for b in blocks if isinstance(b, dict) and "jobs" in b)
    assert workflow["permissions"]["security-events"] == "write"
    steps = workflow["jobs"]["verify"]["steps"]
    upload = next(s for s in steps if "upload-sarif" in s.get("uses", ""))
    assert upload["if"] == "always()" and upload["with"]["sarif_file"] == "bpfcheck.sarif"
    assert any("--format sarif" in s.get("run", "") for s in steps)
    gitlab = next(b for b in blocks if isinstance(b, dict) and "bpfcheck" in b)
    assert gitlab["bpfcheck"]["artifacts"]["reports"]["junit"] == "bpfcheck.xml"


def test_every_command_shown_is_accepted():
    cmds = _commands()
    assert len(cmds) >= 8
    parser = build_parser()
    for argv in cmds:
        args = parser.parse_args(argv)
        assert args.handler is not None, argv
    assert {c[0] for c in cmds} >= {"verify", "compare"}


def test_rules_table_lists_every_kind():
    from verifier.errors import ERROR_KINDS
    from verifier.lint.formats import LINT_RULES
    for k in ERROR_KINDS.values():
        assert f"| {k.code} | {k.kind} |" in DOC
    for kind, (code, _t, _h) in LINT_RULES.items():
        if kind != "other":
            assert f"| {code} | {kind} |" in DOC
