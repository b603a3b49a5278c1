"""Random programs (verifier.randprog): they assemble, the verifier handles them, accepted ones
never leave their invariants when run, both verdicts occur, and the kernel comparison groups
disagreements by reason."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime import context as C
from runtime import kernel
from verifier.analyze import Options, analyze
from verifier.difftest import Input, Monitor
from verifier.inputs import packets
from verifier.randprog import Verdict, build, compare, program_text, programs, summarize

SAFE_TEXT = """r6 = r1
r7 = *(u32 *)(r6 + 0)
r8 = *(u32 *)(r6 + 4)
r9 = 0
r4 = r7
r4 += 14
if r4 > r8 goto L1
r9 = *(u8 *)(r7 + 13)
L1:
r0 = 2
exit"""
UNSAFE_TEXT = SAFE_TEXT.replace("r4 += 14", "r4 += 13")


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs(), st.lists(packets(max_len=128), min_size=3, max_size=3))
def test_random_programs_accepted_stay_inside_invariants(program, pkts):
    report = analyze(program, Options(termination=True))
    if not report.ok:
        return
    mon = Monitor(report)
    for p in pkts:
        mon.run(Input(C.xdp(p)))
    assert not mon.escapes, "\n".join(map(str, mon.escapes))


def test_both_verdicts_occur():
    from hypothesis import find
    ok = find(programs(), lambda p: analyze(p, Options(termination=True)).ok,
              settings=settings(max_examples=200, database=None, deadline=None))
    bad = find(programs(), lambda p: not analyze(p, Options(termination=True)).ok,
               settings=settings(max_examples=200, database=None, deadline=None))
    assert analyze(ok).ok and not analyze(bad).ok


@settings(max_examples=30, deadline=None)
@given(program_text())
def test_generated_text_assembles_with_unique_labels(text):
    labels = [ln for ln in text.splitlines() if ln.endswith(":")]
    assert len(labels) == len(set(labels))
    program = build(text)
    assert program.insns and program.type == "xdp" and len(program.maps) == 1


def test_our_verdicts_on_known_programs():
    assert analyze(build(SAFE_TEXT)).ok
    errs = analyze(build(UNSAFE_TEXT)).errors
    assert [e.kind for e in errs] == ["packet-bounds"]


def test_summarize_groups_disagreements_by_reason():
    vs = [Verdict(True, "", True, ""), Verdict(False, "packet-bounds", False, "x"),
          Verdict(False, "uninit-stack", True, ""), Verdict(False, "uninit-stack", True, ""),
          Verdict(True, "", False, "R1 invalid mem access 'scalar'"),
          Verdict(True, "", None, "no root")]
    out = summarize(vs)
    assert out["both accept"]["total"] == 1 and out["both reject"]["total"] == 1
    assert out["we reject, kernel accepts"]["ours: uninit-stack"] == 2
    assert out["we accept, kernel rejects"]["kernel: R1 invalid mem access 'scalar'"] == 1
    assert "kernel unavailable" in out


_KERNEL_OK, _KERNEL_WHY = kernel.available()


@pytest.mark.kernel
@pytest.mark.skipif(not _KERNEL_OK, reason=f"kernel BPF loading unavailable: {_KERNEL_WHY}")
def test_kernel_agrees_on_known_programs():
    assert compare(build(SAFE_TEXT)).category == "both accept"
    v = compare(build(UNSAFE_TEXT))
    assert v.category == "both reject", v
    assert "packet" in v.kernel_reason


@pytest.mark.kernel
@pytest.mark.skipif(not _KERNEL_OK, reason=f"kernel BPF loading unavailable: {_KERNEL_WHY}")
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_never_accept_what_the_kernel_rejects_for_memory_safety(program):
    """We may be stricter than the root kernel, never laxer on memory accesses."""
    v = compare(program)
    if v.category == "we accept, kernel rejects":
        assert "invalid access" not in v.kernel_reason and "invalid mem" not in \
            v.kernel_reason, v
