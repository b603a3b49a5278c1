"""The harness: tasks in their own worker processes, limits, streamed results, resume after a
killed worker or a killed run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.research.conftest import CORPUS, LONG, ROOT, comparable
from verifier.research import store as S
from verifier.research.harness import run_harness
from verifier.research.tasks import Task, execute, make_tasks

DOMAINS = ["interval", "zone", "tnum-interval"]


def test_every_program_domain_and_repeat_is_recorded(tmp_path, corpus_slice):
    out = tmp_path / "r.parquet"
    df = run_harness(corpus_slice[:3], DOMAINS, repeat=2, output=str(out), workers=2)
    tasks = make_tasks(corpus_slice[:3], DOMAINS, 2)
    assert sorted(df["key"]) == sorted(t.key for t in tasks)
    assert set(df["status"]) == {"ok"}
    assert (df["time_ms"] > 0).all() and (df["peak_kib"] > 0).all()
    assert (df["iterations"] > 0).all() and (df["constraints"] >= 0).all()
    assert not os.path.exists(str(out) + ".journal.jsonl")   # folded into the Parquet file
    again = S.load(str(out))
    assert comparable(again).equals(comparable(df))
    # the two repeats agree on everything but time
    a, b = df[df["repeat"] == 0], df[df["repeat"] == 1]
    assert list(a.sort_values(["object", "domain"])["verdict"]) == \
        list(b.sort_values(["object", "domain"])["verdict"])
    # zone proves the eth parser, intervals do not
    v = df[(df["object"] == "xdp_eth_drop.o") & (df["repeat"] == 0)].set_index("domain")["verdict"]
    assert v["zone"] == "accept" and v["interval"] == "reject"


def test_time_limit_is_per_task():
    big = str(CORPUS / LONG)
    [t] = make_tasks([big], ["zone"], time_limit=0.3)
    row = execute(t)
    assert row["status"] == "timeout" and "0.3 s" in row["reason"] and row["verdict"] is None
    ok = execute(make_tasks([str(CORPUS / "xdp_eth_drop.o")], ["zone"])[0])
    assert ok["status"] == "ok" and ok["verdict"] == "accept"


def test_memory_limit_is_per_task(monkeypatch):
    """A worker may grow by `memory_mb`; one that wants more is recorded as a memory failure
    (the forked worker runs the patched function)."""
    from verifier.research import tasks as T

    def hungry(task):
        blocks = [bytearray(1 << 20) for _ in range(400)]  # 400 MiB
        return {**T._base_row(task), "status": "ok", "verdict": "accept", "errors": len(blocks)}

    monkeypatch.setattr(T, "run_task", hungry)
    t = Task(str(CORPUS / "xdp_eth_drop.o"), "xdp_eth_drop", "xdp", "zone", memory_mb=100)
    row = execute(t)
    assert row["status"] == "memory" and "100 MiB" in row["reason"]
    roomy = Task(str(CORPUS / "xdp_eth_drop.o"), "xdp_eth_drop", "xdp", "zone", memory_mb=1024)
    assert execute(roomy)["status"] == "ok"


def test_a_bad_task_is_a_row_not_a_crash(tmp_path):
    t = Task(str(tmp_path / "missing.o"), "f", "xdp", "zone")
    row = execute(t)
    assert row["status"] == "error" and "missing.o" in row["reason"]


def _children() -> set[int]:
    """Our forked children running the same program as we do (not helpers such as Dask's)."""
    me = os.getpid()
    with open("/proc/self/cmdline", "rb") as f:
        mine = f.read()
    out = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) != me:
                        continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read() == mine:
                        out.add(int(pid))
            except (OSError, ValueError, IndexError):
                pass
    return out


def test_killing_a_worker_loses_nothing_and_resume_reruns_it(tmp_path, corpus_slice):
    out = str(tmp_path / "r.csv")
    objs = [str(CORPUS / LONG)] + corpus_slice[:3]
    killed = []
    before = _children()

    def killer():
        deadline = time.time() + 20
        while time.time() < deadline and not killed:
            for pid in _children() - before:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    th = threading.Thread(target=killer)
    th.start()
    df = run_harness(objs, ["zone"], output=out, workers=1)
    th.join()
    assert killed
    crashed = df[df["status"] == "crashed"]
    assert len(crashed) == 1 and "signal 9" in crashed["reason"].iloc[0]
    assert (df["status"] == "ok").sum() == len(df) - 1          # the others went on
    before = df.set_index("key")
    df2 = run_harness(objs, ["zone"], output=out, workers=1, resume=True)
    assert df2.attrs["ran"] == 1 and set(df2["status"]) == {"ok"}
    after = df2.set_index("key")
    for key in before.index[before["status"] == "ok"]:           # finished rows untouched
        assert after.loc[key, "time_ms"] == before.loc[key, "time_ms"]


def test_killing_the_run_loses_no_finished_result_and_resume_completes(tmp_path, corpus_slice):
    """SIGKILL the whole `bench verify` process group mid-run, then --resume."""
    for ext in ("parquet",):  # (the CSV store is killed mid-run in the test above)
        out = str(tmp_path / f"r.{ext}")
        cmd = [sys.executable, "-m", "verifier", "bench", "verify", *corpus_slice, str(CORPUS / LONG),
               "--domains", "zone", "-j", "1", "-o", out, "--quiet"]
        proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and len(S.load(out)) < 2:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        partial = S.load(out)
        n = len(partial)
        assert 2 <= n < len(corpus_slice) + 1
        assert os.path.exists(out + ".journal.jsonl")            # rows were streaming
        res = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        full = S.load(out)
        assert len(full) == len(corpus_slice) + 1 and full["key"].is_unique
        assert set(full["status"]) == {"ok"}
        kept = full.set_index("key").loc[partial["key"], "time_ms"]
        assert list(kept) == list(partial["time_ms"])            # finished rows not redone
        assert f"{len(corpus_slice) + 1 - n} task(s) run" in res.stdout


def test_cli_errors_are_one_line(capsys):
    from verifier.cli import main
    obj = str(CORPUS / "xdp_eth_drop.o")
    assert main(["bench", "verify", obj, "--resume"]) == 2
    assert main(["bench", "verify", obj, "--domains", "nope"]) == 2
    assert main(["bench", "verify", "/nonexistent.o"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [e.startswith("bpfcheck: error: ") for e in err] == [True] * 3
    assert "--resume needs --output" in err[0] and "unknown abstract domain 'nope'" in err[1]


@pytest.mark.slow
def test_tnum_interval_is_never_less_precise_than_interval_on_the_corpus():
    df = run_harness([str(CORPUS)], ["interval", "tnum-interval"], workers=2)
    assert set(df["status"]) == {"ok"}
    df["program"] = df["object"] + ":" + df["function"]
    iv = df[df["domain"] == "interval"].set_index("program")
    tn = df[df["domain"] == "tnum-interval"].set_index("program")
    for prog in iv.index:
        if iv.loc[prog, "verdict"] == "accept":
            assert tn.loc[prog, "verdict"] == "accept", prog
        assert tn.loc[prog, "errors"] <= iv.loc[prog, "errors"], prog
