"""The Dask executor on a real LocalCluster (scheduler + 2 worker processes on this machine):
the same tasks give the same results as a local run."""
from __future__ import annotations

import pytest

from tests.research.conftest import comparable
from verifier.research.harness import run_harness

DOMAINS = ["interval", "zone", "tnum-interval"]


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None,
                      silence_logs=50) as c:
        yield c


def test_dask_matches_local(tmp_path, corpus_slice, cluster):
    local = run_harness(corpus_slice, DOMAINS, output=str(tmp_path / "local.csv"), workers=2)
    remote = run_harness(corpus_slice, DOMAINS, output=str(tmp_path / "dask.parquet"),
                         executor="dask", scheduler=cluster.scheduler_address)
    assert len(remote) == len(local) >= len(corpus_slice) * len(DOMAINS)
    assert set(remote["status"]) == {"ok"}
    assert comparable(remote).equals(comparable(local))
    # the tasks really ran on the cluster's workers (their own forked processes)
    assert remote["worker"].nunique() == len(remote)
    import os
    assert not any(w.endswith(f":{os.getpid()}") for w in remote["worker"])


def test_dask_resume_and_cli(tmp_path, corpus_slice, cluster):
    from verifier.cli import main
    out = str(tmp_path / "r.csv")
    args = ["bench", "verify", *corpus_slice[:3], "--domains", "zone", "--executor", "dask",
            "--scheduler", cluster.scheduler_address, "-o", out, "--quiet"]
    assert main(args) == 0
    from verifier.research.store import load
    first = load(out)
    assert len(first) == 3 and set(first["status"]) == {"ok"}
    assert main(args + ["--resume"]) == 0
    assert load(out)["time_ms"].tolist() == first["time_ms"].tolist()   # nothing re-run


def test_dask_without_scheduler_is_an_error(capsys):
    from verifier.cli import main
    from tests.research.conftest import CORPUS
    assert main(["bench", "verify", str(CORPUS / "xdp_eth_drop.o"), "--executor", "dask"]) == 2
    assert "--scheduler" in capsys.readouterr().err


@pytest.mark.slow
def test_whole_corpus_on_dask_matches_local(tmp_path, cluster):
    from tests.research.conftest import CORPUS
    local = run_harness([str(CORPUS)], DOMAINS, output=str(tmp_path / "local.parquet"), workers=2)
    remote = run_harness([str(CORPUS)], DOMAINS, output=str(tmp_path / "dask.parquet"),
                         executor="dask", scheduler=cluster.scheduler_address)
    assert len(local) == len(remote) > 150 and set(remote["status"]) == {"ok"}
    assert comparable(remote).equals(comparable(local))
