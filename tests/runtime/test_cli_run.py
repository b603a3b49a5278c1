"""`bpfcheck run` on .data tests and object files, and `bpfcheck bench run`."""
from __future__ import annotations

import json
import pathlib

import pytest

from verifier.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def test_data_pass_and_json(capsys) -> None:
    assert main(["run", str(DATA / "loop_sum_1_to_100.data")]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["run", str(DATA / "loop_sum_1_to_100.data"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"r0": 5050, "error": None, "passed": True}


def test_data_expected_error_passes(capsys) -> None:
    assert main(["run", str(DATA / "err_null_read.data"), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] and out["r0"] is None and "invalid read" in out["error"]


def test_data_wrong_result_fails(tmp_path, capsys) -> None:
    f = tmp_path / "wrong.data"
    f.write_text("-- asm\nmov %r0, 1\nexit\n-- result\n0x2\n")
    assert main(["run", str(f)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_data_bad_input_is_a_one_line_error(tmp_path, capsys) -> None:
    f = tmp_path / "bad.data"
    f.write_text("-- asm\nfrobnicate %r0\n-- result\n0x0\n")
    assert main(["run", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bpfcheck: error:") and len(err.strip().splitlines()) == 1


def _packet(tmp_path: pathlib.Path, proto: bytes) -> str:
    p = tmp_path / "pkt.bin"
    p.write_bytes(bytes(12) + proto + bytes(50))
    return str(p)


@pytest.mark.skipif(not (ROOT / "corpus/build/xdp_eth_drop.o").exists(), reason="no corpus")
def test_object_on_a_packet(tmp_path, capsys) -> None:
    obj = str(ROOT / "corpus/build/xdp_eth_drop.o")
    assert main(["run", obj, "--packet", _packet(tmp_path, b"\x08\x00"), "--format",
                 "json", "--repeat", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["r0"] == 2  # XDP_PASS
    assert main(["run", obj, "--packet", _packet(tmp_path, b"\x12\x34")]) == 0
    assert "r0 = 1" in capsys.readouterr().out  # XDP_DROP


@pytest.mark.skipif(not (ROOT / "corpus/build/socket_legacy_stats.o").exists(),
                    reason="no corpus")
def test_object_maps_in_and_changed_maps_out(tmp_path, capsys) -> None:
    obj = str(ROOT / "corpus/build/socket_legacy_stats.o")
    maps = tmp_path / "maps.json"
    maps.write_text(json.dumps({"pkt_types": {"03000000": "0a00000000000000"}}))
    assert main(["run", obj, "--packet", _packet(tmp_path, b"\x08\x00"), "--maps", str(maps),
                 "--repeat", "2", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # the frame is for this host (pkt_type 0): counted twice; the loaded entry is kept
    assert out["maps"]["pkt_types"] == {"00000000": "0200000000000000",
                                        "03000000": "0a00000000000000"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"no_such_map": {}}')
    assert main(["run", obj, "--maps", str(bad)]) == 2


def test_unknown_engine_is_an_error(capsys) -> None:
    assert main(["run", str(DATA / "loop_sum_1_to_100.data"), "--engine", "nope"]) == 2


def test_bench_run_reports_every_workload(capsys) -> None:
    assert main(["bench", "run", "--n", "200", "--repeat", "1", "--engine", "interp",
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    workloads = [r for r in rows if r["workload"] != "per call"]
    assert len(workloads) == 4 and all(r["insns_per_second"] > 0 for r in workloads)
    assert workloads[0]["r0"] == 200 * 201 // 2
    per_call = [r for r in rows if r["workload"] == "per call"]
    assert len(per_call) == 1 and per_call[0]["us_per_call"] > 0


@pytest.mark.skipif(not (ROOT / "corpus/build/xdp_eth_drop.o").exists(), reason="no corpus")
def test_trace_prints_each_executed_instruction(tmp_path, capsys) -> None:
    obj = str(ROOT / "corpus/build/xdp_eth_drop.o")
    assert main(["run", obj, "--packet", _packet(tmp_path, b"\x08\x00"), "--trace"]) == 0
    out = capsys.readouterr().out
    steps = int(out.split(" instructions")[0].split()[-1])
    traced = [ln for ln in out.splitlines() if " r0=" in ln]
    assert len(traced) == steps and traced[0].split(":")[0].strip() == "0"
    assert "XDP_PASS" in out


def test_native_engine_refuses_a_program_the_verifier_rejects(tmp_path, capsys):
    packet = tmp_path / "p.bin"
    packet.write_bytes(bytes(64))
    code = main(["run", str(ROOT / "corpus/build/bad_xdp_no_bounds.o"), "--packet", str(packet),
                 "--engine", "jit"])
    err = capsys.readouterr().err
    assert code == 2
    assert "fails verification" in err and "--unverified" in err


def test_default_engine_runs_a_verified_program_like_the_interpreter(tmp_path, capsys):
    packet = tmp_path / "p.bin"
    packet.write_bytes(bytes.fromhex("020202020202020202020202080045000020000100004011000000000000"
                                     "0000000000010035000800000000"))
    outs = []
    for engine in ([], ["--engine", "interp"], ["--engine", "pyjit"]):
        assert main(["run", str(ROOT / "corpus/build/xdp_udp_redirect.o"), "--packet", str(packet),
                     "--format", "json", *engine]) == 0
        out = json.loads(capsys.readouterr().out)
        outs.append((out["r0"], out["error"], out["packet"], out["maps"]))
    assert outs[0] == outs[1] == outs[2]
