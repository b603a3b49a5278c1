"""Fixtures of the lint tests: one shared warm cache of the whole corpus (computed once per
test run, even across xdist workers, under a file lock), a scratch directory of objects."""
from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

import pytest

from lint_helpers import BUILD, CORPUS, CORPUS_FLAGS, bpfcheck


@pytest.fixture(scope="session")
def corpus_cache(tmp_path_factory) -> Path:
    """A cache directory holding the whole corpus's results (warm for every test)."""
    shared = tmp_path_factory.getbasetemp().parent / "lint-corpus-cache"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "done.json"
        if not done.exists():
            r = bpfcheck("verify", BUILD, *CORPUS_FLAGS, "--cache-dir", shared / "cache",
                         "--format", "json", "--jobs", "2")
            assert r.rc == 1, r.err
            done.write_text(r.out)
    return shared / "cache"


@pytest.fixture
def corpus_json(corpus_cache) -> dict:
    """The JSON document of a (cached) run over the whole corpus."""
    r = bpfcheck("verify", BUILD, *CORPUS_FLAGS, "--cache-dir", corpus_cache, "--format", "json")
    assert r.rc == 1, r.err
    return r.json()


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A scratch directory with a copy of a few corpus objects and their sources."""
    (tmp_path / "build").mkdir()
    (tmp_path / "src").mkdir()
    for name in ("xdp_eth_drop", "bad_xdp_off_by_one", "bad_map_null_deref"):
        shutil.copy(BUILD / f"{name}.o", tmp_path / "build")
        shutil.copy(CORPUS / "src" / f"{name}.c", tmp_path / "src")
    return tmp_path
