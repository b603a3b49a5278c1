"""`bpfcheck bench run` side by side with the Linux kernel's JIT (`--kernel`): the kernel's rows,
the differential r0 check that makes its timing comparable, and the path without a kernel."""
from __future__ import annotations

import json

import pytest

from cfg.asm import assemble
from cfg.program import Program
from runtime import context, kernel
from runtime.vm import Machine
from verifier.bench import run, run_kernel
from verifier.cli import main

N = 300
ENGINE_FIELDS = {"workload", "key", "instructions", "seconds", "insns_per_second",
                 "ns_per_insn", "r0", "compile_seconds"}


def _need_kernel() -> None:
    ok, why = run_kernel.usable()
    if not ok:
        pytest.skip(why)


@pytest.fixture
def quick(monkeypatch):
    """Test-run calls of about 1 ms instead of 20 (the figures only need to be positive)."""
    monkeypatch.setattr(run_kernel, "TARGET_NS", 1_000_000)
    monkeypatch.setattr(run_kernel, "SYSCALL_CALLS", 5)


def _interp_r0(name: str, text: str, packet: bytes | None) -> int:
    data = packet if packet is not None else bytes(64)
    return Machine(Program(assemble(text, "ubpf"), type="xdp")).run(context.xdp(data)).r0


@pytest.mark.kernel
def test_kernel_rows_time_every_workload_and_give_the_interpreters_r0(quick, capsys) -> None:
    _need_kernel()
    assert main(["bench", "run", "--engine", "jit", "--kernel", "--n", str(N), "--repeat", "1",
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    kernel_rows = [r for r in rows if r["engine"] == "kernel" and r["workload"] != "per call"]
    jit_rows = [r for r in rows if r["engine"] == "jit" and r["workload"] != "per call"]
    assert len(kernel_rows) == 4
    assert all(ENGINE_FIELDS <= set(r) for r in kernel_rows + jit_rows)
    expected = [_interp_r0(*w) for w in run.workloads(N)]
    assert [r["r0"] for r in kernel_rows] == expected == [r["r0"] for r in jit_rows]
    assert kernel_rows[0]["r0"] == N * (N + 1) // 2
    assert any(r0 >> 32 for r0 in expected)   # the high half of r0 is compared too
    assert [r["instructions"] for r in kernel_rows] == [r["instructions"] for r in jit_rows]
    for r in kernel_rows:
        assert r["ns_per_insn"] > 0 and r["repeat"] >= 1 and r["overhead_ns_per_run"] >= 0
        assert r["ns_per_insn_net"] <= r["ns_per_insn"]
    per_call = [r for r in rows if r["engine"] == "kernel" and r["workload"] == "per call"]
    assert len(per_call) == 1 and per_call[0]["us_per_syscall"] > 0
    ratios = {r["workload"]: r for r in rows if r["engine"] == "jit/kernel"}
    assert sorted(ratios) == sorted(r["key"] for r in kernel_rows)
    for r in kernel_rows:
        jit = next(j for j in jit_rows if j["key"] == r["key"])
        assert ratios[r["key"]]["ratio"] == pytest.approx(jit["ns_per_insn"] / r["ns_per_insn"])


@pytest.mark.kernel
def test_a_kernel_r0_other_than_the_interpreters_is_refused(quick, monkeypatch, capsys):
    _need_kernel()
    real = run_kernel.kernel_r0
    monkeypatch.setattr(run_kernel, "kernel_r0", lambda *a: real(*a) ^ (1 << 40))
    assert main(["bench", "run", "--engine", "kernel", "--n", "50", "--repeat", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bpfcheck: error:") and "not our interpreter's" in err


@pytest.mark.kernel
def test_kernel_r0_reads_both_halves() -> None:
    _need_kernel()
    insns = assemble("lddw %r0, 0x123456789abcdef0\nexit", "ubpf")
    assert run_kernel.kernel_r0(insns, bytes(64), "halves") == 0x123456789abcdef0


@pytest.mark.kernel
def test_a_loop_count_beyond_the_kernel_verifier_is_a_clear_error(capsys) -> None:
    _need_kernel()
    assert main(["bench", "run", "--engine", "kernel", "--kernel-n", "400000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bpfcheck: error:") and "--kernel-n" in err


def test_without_a_kernel_one_line_says_why_and_the_other_engines_run(monkeypatch, capsys):
    monkeypatch.setattr(kernel, "available", lambda: (False, "simulated: no bpf syscall"))
    assert main(["bench", "run", "--engine", "interp", "--kernel", "--n", "50",
                 "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln for ln in lines if "simulated" in ln] == [
        "kernel     not measured: simulated: no bpf syscall"]
    assert not [ln for ln in lines if ln.startswith("kernel") and "simulated" not in ln]
    assert len([ln for ln in lines if ln.startswith("interp")]) == 5


def test_without_a_kernel_json_carries_the_reason(monkeypatch, capsys) -> None:
    monkeypatch.setattr(kernel, "available", lambda: (False, "simulated"))
    assert main(["bench", "run", "--engine", "interp", "--kernel", "--n", "50", "--repeat", "1",
                 "--format", "json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [r for r in rows if r["engine"] == "kernel"] == [
        {"engine": "kernel", "workload": None, "unavailable": "simulated"}]
    assert "simulated" in captured.err


def test_only_the_kernel_without_a_kernel_is_an_error(monkeypatch, capsys) -> None:
    monkeypatch.setattr(kernel, "available", lambda: (False, "simulated"))
    assert main(["bench", "run", "--engine", "kernel"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bpfcheck: error:") and "simulated" in err


def test_a_disabled_kernel_jit_makes_the_kernel_unusable(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(kernel, "available", lambda: (True, ""))
    knob = tmp_path / "bpf_jit_enable"
    monkeypatch.setattr(kernel, "JIT_ENABLE", str(knob))
    knob.write_text("0\n")
    ok, why = run_kernel.usable()
    assert not ok and "disabled" in why
    knob.write_text("1\n")
    assert run_kernel.usable() == (True, "")
    knob.unlink()
    ok, why = run_kernel.usable()
    assert not ok and "cannot read" in why


def test_ratios_pair_the_jit_and_kernel_rows_of_each_workload() -> None:
    rows = [{"engine": "jit", "key": "sum", "ns_per_insn": 0.3, "seconds": 3e-6,
             "instructions": 10_000},
            {"engine": "kernel", "key": "sum", "ns_per_insn": 0.2, "ns_per_insn_net": 0.1,
             "overhead_ns_per_run": 1000},
            {"engine": "kernel", "key": "stack", "ns_per_insn": 0.2, "ns_per_insn_net": 0.2,
             "overhead_ns_per_run": 0}]
    (ratio,) = run_kernel.ratios(rows, {"sum": 2e-6})
    assert ratio["workload"] == "sum"
    assert ratio["ratio"] == pytest.approx(1.5)
    assert ratio["ratio_net"] == pytest.approx(1.0)   # (3 us - 2 us) / 10,000 = 0.1 ns


def test_the_fnv_workload_hashes_the_packet_up_to_4096_bytes() -> None:
    # bounded so that the kernel verifier accepts it; the same program runs on every engine
    fnv = next(text for name, text, _ in run.workloads(10) if name.startswith("fnv"))
    insns = assemble(fnv, "ubpf")
    packet = bytes(range(256)) * 20   # 5,120 bytes: the 4,096-byte bound stops the loop
    result = Machine(Program(insns, type="xdp")).run(context.xdp(packet))
    h = 0xcbf29ce484222325
    for byte in packet[:4096]:
        h = ((h ^ byte) * 0x100000001b3) & (2**64 - 1)
    assert result.r0 == h
