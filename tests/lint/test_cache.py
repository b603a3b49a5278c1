"""The sqlite result cache: hits on unchanged programs, misses when the program or the options
change, --no-cache, several writers at once."""
from __future__ import annotations

import multiprocessing
import shutil

from lint_helpers import BUILD, bpfcheck
from verifier.lint.cache import Cache, program_key


def test_cold_then_warm(workdir):
    cold = bpfcheck("verify", "build", "--format", "json", cwd=workdir).json()
    assert (workdir / ".bpfcheck-cache" / "results.sqlite").exists()
    assert not any(r.get("cached") for r in cold["results"])
    warm = bpfcheck("verify", "build", "--format", "json", cwd=workdir).json()
    assert all(r.get("cached") for r in warm["results"]) and warm["summary"]["cached"] == 3
    strip = lambda d: [{k: v for k, v in r.items() if k != "cached"} for r in d["results"]]
    assert strip(cold) == strip(warm)
    nocache = bpfcheck("verify", "build", "--format", "json", "--no-cache", cwd=workdir).json()
    assert not any(r.get("cached") for r in nocache["results"])


def test_options_and_program_bytes_are_in_the_key(workdir):
    bpfcheck("verify", "build", cwd=workdir)
    other = bpfcheck("verify", "build", "--domain", "interval", "--format", "json",
                     cwd=workdir).json()
    assert not any(r.get("cached") for r in other["results"])
    # the same program under another name still hits (key = program, not path) ...
    shutil.copy(workdir / "build" / "xdp_eth_drop.o", workdir / "copy.o")
    r = bpfcheck("verify", "copy.o", "--format", "json", cwd=workdir).json()["results"][0]
    assert r["cached"] and r["file"] == "copy.o"
    # ... and a different program does not
    shutil.copy(BUILD / "xdp_tcp_flags.o", workdir / "build" / "xdp_eth_drop.o")
    r = bpfcheck("verify", "build/xdp_eth_drop.o", "--format", "json",
                 cwd=workdir).json()["results"][0]
    assert not r.get("cached") and r["function"] == "xdp_tcp_flags"


def test_program_key_depends_on_bytes_and_settings():
    from cfg.elf import load_object
    a = load_object(str(BUILD / "xdp_eth_drop.o")).programs[0]
    b = load_object(str(BUILD / "xdp_tcp_flags.o")).programs[0]
    s = {"domain": "zone"}
    assert program_key(a, s, "v1") == program_key(a, dict(s), "v1")
    assert len({program_key(a, s, "v1"), program_key(b, s, "v1"),
                program_key(a, {"domain": "interval"}, "v1"), program_key(a, s, "v2")}) == 4


def _writer(directory: str, n: int) -> None:
    c = Cache(directory)
    for i in range(40):
        c.put_many([(f"k{n}-{i}", {"n": n, "i": i}), ("shared", {"n": n})])
        c.put_object(f"o{n}", [{"key": f"k{n}-{i}"}])
    c.close()


def test_parallel_writers(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), n)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    c = Cache(tmp_path)
    assert all(c.get(f"k{n}-{i}") == {"n": n, "i": i} for n in range(4) for i in range(40))
    assert c.get("shared")["n"] in range(4)


def test_two_runs_at_once_share_a_cache(workdir):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=bpfcheck, args=("verify", "build", "--jobs", "1"),
                         kwargs={"cwd": workdir}) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    warm = bpfcheck("verify", "build", "--format", "json", cwd=workdir).json()
    assert all(r.get("cached") for r in warm["results"])


def test_unwritable_cache_directory_is_a_warning(workdir):
    (workdir / "file").write_text("x")
    r = bpfcheck("verify", "build/xdp_eth_drop.o", "--cache-dir", "file/sub", cwd=workdir)
    assert r.rc == 0 and "cache disabled" in r.err
