"""Every case of tests/yaml/*.yaml passes (errors at the expected pcs, post entailed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from verifier.yamltest import load_cases, run_case

YAML_DIR = Path(__file__).resolve().parents[1] / "yaml"
CASES = [(p, i, c) for p in sorted(YAML_DIR.glob("*.yaml")) for i, c in enumerate(load_cases(p))]


def test_there_are_many_cases():
    assert len(CASES) >= 100
    names = [(p.name, c.get("test-case")) for p, _, c in CASES]
    assert len(set(names)) == len(names), "duplicate test-case names"


@pytest.mark.parametrize("path,index,case", CASES,
                         ids=[f"{p.stem}:{c.get('test-case')}" for p, _, c in CASES])
def test_case(path, index, case):
    result = run_case(case, str(path))
    assert result.passed, result.reason
