"""The YAML runner's PREVAIL-compatibility rules fail a case when they should (the passing
side is pinned by tests/yaml/compat_*.yaml)."""
from __future__ import annotations

import pytest

from verifier.yamltest import ANY_PC, _message_pcs, _pcs_match, _stack_top, run_case


def _case(code: str, **kw) -> dict:
    return {"test-case": "t", "pre": kw.pop("pre", []), "code": {"<start>": code}, **kw}


@pytest.mark.parametrize("message,pc", [
    ("3: Invalid type", 3), ("0/7: illegal recursion", 7), ("12 (counter): Loop counter", 12),
    ("too many call stack frames", ANY_PC)])
def test_message_pcs(message, pc):
    assert _message_pcs([message]) == {pc}


def test_dead_edges_and_observations_are_not_errors():
    assert _message_pcs(["2:5: Code becomes unreachable (assume r1 > 3)",
                         "exit: observation entailed failed at post"]) == set()


def test_any_pc_needs_some_error():
    assert _pcs_match({4}, {ANY_PC})
    assert not _pcs_match(set(), {ANY_PC})
    assert not _pcs_match({4}, {ANY_PC, 5})


@pytest.mark.parametrize("pre,top", [
    (["r2.type=stack", "r2.stack_offset=504"], 512),
    (["s[600...607].type=number"], 1024),
    (["r10.stack_offset=1536", "r2.stack_offset=8"], 1536),
    (["r1.type=number"], 4096)])
def test_stack_top(pre, top):
    assert _stack_top(pre, 4096) == top


def test_bottom_post_fails_when_the_exit_is_reachable():
    result = run_case(_case("r0 = 1\nexit\n", post=["_|_"]))
    assert not result.passed and "_|_" in result.reason


def test_pc_less_message_fails_without_errors():
    result = run_case(_case("r0 = 1\nexit\n", messages=["too many call stack frames"]))
    assert not result.passed


def test_rejection_before_analysis_counts_as_an_error():
    code = {"<start>": "call <start>\nexit\n"}
    assert run_case({"test-case": "t", "code": code, "messages": ["0: illegal recursion"]}).passed
    assert not run_case({"test-case": "t", "code": code}).passed


def test_observation_mismatch_fails():
    case = _case("r0 = 1\nexit\n", observe=[{"at": "exit", "point": "post", "mode": "consistent",
                                              "constraints": ["r0.svalue=2"]}])
    assert not run_case(case).passed
    case["messages"] = ["exit: observation consistent failed at post"]
    assert run_case(case).passed


def test_maybe_null_pointer_in_pre_needs_a_null_check():
    pre = ["r3.type=shared", "r3.shared_offset=0", "r3.shared_region_size=8",
           "r3.svalue=[0, 2147418112]"]
    result = run_case(_case("r0 = *(u32 *)(r3 + 0)\n", pre=pre))
    assert not result.passed and result.errors and result.errors[0]["pc"] == 0
