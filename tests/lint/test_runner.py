"""Inputs (files, directories, globs), bad inputs, parallel workers and their order, the
per-program time and memory budgets, exit codes."""
from __future__ import annotations

import glob
import os

from lint_helpers import BUILD, CORPUS_FLAGS, bpfcheck
from verifier.lint.runner import Problem, RunOptions, expand_inputs, run_lint


def test_expand_files_directories_and_globs(tmp_path, workdir):
    paths, problems = expand_inputs([str(workdir / "build"), str(workdir / "build" / "*.o"),
                                     str(workdir / "build" / "xdp_eth_drop.o")])
    assert problems == []
    assert [os.path.basename(p) for p in paths] == \
        ["bad_map_null_deref.o", "bad_xdp_off_by_one.o", "xdp_eth_drop.o"]  # sorted, no dups
    (tmp_path / "empty").mkdir()
    paths, problems = expand_inputs([str(tmp_path / "nothing.o"), str(tmp_path / "empty"),
                                     str(tmp_path / "*.none"), str(workdir / "**" / "*.o")])
    assert len(paths) == 3
    assert [p.message for p in problems] == ["no such file or directory",
                                             "no .o files in this directory",
                                             "no file matches this pattern"]


def test_bad_inputs_exit_2_one_line_each_and_the_rest_is_checked(tmp_path, workdir):
    text = tmp_path / "notes.o"
    text.write_text("this is not an ELF object\n")
    data = (BUILD / "xdp_tcp_flags.o").read_bytes()
    truncated = tmp_path / "truncated.o"
    truncated.write_bytes(data[: len(data) // 3])
    missing = tmp_path / "missing.o"
    good = workdir / "build" / "xdp_eth_drop.o"
    for fmt in ("text", "json", "sarif", "github", "junit"):
        r = bpfcheck("verify", text, good, truncated, missing, "--no-cache", "--format", fmt)
        assert r.rc == 2
        lines = r.err.strip().splitlines()
        assert len(lines) == 3, lines
        for bad, line in zip((missing, text, truncated), lines):
            assert line.startswith(f"bpfcheck: error: {bad}: "), line
            assert "Traceback" not in r.err
        if fmt == "json":
            doc = r.json()
            assert [x["function"] for x in doc["results"]] == ["xdp_eth_drop"]
            assert len(doc["problems"]) == 3
        if fmt == "text":
            assert "PASS " in r.out and "xdp_eth_drop" in r.out


def test_jobs_2_gives_the_order_of_jobs_1(tmp_path):
    objs = sorted(glob.glob(str(BUILD / "*.o")))[:14] + [str(BUILD / "multi_section_counters.o")]
    one = bpfcheck("verify", *objs, "--no-cache", "--jobs", "1", "--format", "json").json()
    two = bpfcheck("verify", *objs, "--no-cache", "--jobs", "2", "--format", "json").json()
    key = [(r["file"], r["section"], r["function"]) for r in one["results"]]
    assert key == [(r["file"], r["section"], r["function"]) for r in two["results"]]
    assert [r["ok"] for r in one["results"]] == [r["ok"] for r in two["results"]]
    assert [r["errors"] for r in one["results"]] == [r["errors"] for r in two["results"]]
    assert [r["file"] for r in one["results"]][:len(objs) - 1] == sorted(
        r["file"] for r in one["results"] if "multi_section" not in r["file"])
    assert len(key) > len(objs)  # every program of every object


def test_streamed_text_is_in_input_order(tmp_path, workdir):
    objs = [workdir / "build" / n for n in ("xdp_eth_drop.o", "bad_map_null_deref.o",
                                            "bad_xdp_off_by_one.o")]
    seen = []
    run = run_lint([str(o) for o in objs], RunOptions(jobs=2, cache=False),
                   emit=lambda item: seen.append(item))
    assert [os.path.basename(x["file"]) for x in seen] == [o.name for o in objs]
    assert [x["ok"] for x in seen] == [True, False, False]
    assert run.problems == [] and run.results == seen


def test_time_budget_is_reported_and_the_run_goes_on():
    r = bpfcheck("verify", BUILD / "xdp_v4_long_jump.o", BUILD / "xdp_eth_drop.o", "--no-cache",
                 "--timeout", "0.3", "--jobs", "1", "--format", "json")
    assert r.rc == 1, r.err
    slow, fast = r.json()["results"]
    assert slow["status"] == "timeout" and not slow["ok"]
    assert slow["errors"][0]["kind"] == "time-budget"
    assert "time budget of 0.3 s" in slow["errors"][0]["message"]
    assert fast["status"] == "pass" and fast["ok"]


def test_memory_budget_is_reported_and_the_run_goes_on():
    # in a fresh process: the budget is what a worker may add to the address space it
    # starts with, and a long-lived test process has free heap of its own to reuse
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "verifier", "verify",
                          str(BUILD / "xdp_v4_long_jump.o"), str(BUILD / "xdp_eth_drop.o"),
                          "--no-cache", "--memory", "4", "--jobs", "1", "--format", "json"],
                         capture_output=True, text=True, timeout=120)
    assert "Traceback" not in out.stderr and out.stderr == ""
    doc = json.loads(out.stdout)
    statuses = [x["status"] for x in doc["results"]]
    assert statuses == ["memory", "pass"], statuses
    bad = doc["results"][0]
    assert bad["errors"][0]["kind"] == "memory-budget" and out.returncode == 1
    assert "memory budget of 4 MiB" in bad["errors"][0]["message"]


def test_budget_overrun_is_not_cached(tmp_path):
    cache = tmp_path / "cache"
    first = bpfcheck("verify", BUILD / "xdp_v4_long_jump.o", "--cache-dir", cache,
                     "--timeout", "0.2", "--format", "json").json()
    assert first["results"][0]["status"] == "timeout"
    again = bpfcheck("verify", BUILD / "xdp_v4_long_jump.o", "--cache-dir", cache,
                     "--timeout", "0.2", "--format", "json").json()
    assert not again["results"][0].get("cached")


def test_exit_codes_and_fail_on(workdir):
    good = workdir / "build" / "xdp_eth_drop.o"
    bad = workdir / "build" / "bad_xdp_off_by_one.o"
    assert bpfcheck("verify", good, "--no-cache").rc == 0
    assert bpfcheck("verify", good, bad, "--no-cache").rc == 1
    assert bpfcheck("verify", good, workdir / "nope.o", "--no-cache").rc == 2
    # --fail-on warning: a stale suppression is a warning
    (workdir / ".bpfcheck.toml").write_text(
        '[[suppress]]\nobject = "gone.o"\nkind = "packet-bounds"\nreason = "old"\n')
    assert bpfcheck("verify", good, "--no-cache", cwd=workdir).rc == 0
    assert bpfcheck("verify", good, "--no-cache", "--fail-on", "warning", cwd=workdir).rc == 1


def test_section_and_function_filters(workdir):
    r = bpfcheck("verify", BUILD / "multi_section_counters.o", "--no-cache", "--format", "json",
                 "--section", "tc")
    assert r.rc in (0, 1) and {x["section"] for x in r.json()["results"]} == {"tc"}
    r = bpfcheck("verify", BUILD / "multi_section_counters.o", "--no-cache",
                 "--function", "no_such_function")
    assert r.rc == 2 and "no_such_function" in r.err


def test_problem_str():
    assert str(Problem("a.o", "bad")) == "a.o: bad"


def test_corpus_flags_are_what_the_manifest_needs():
    assert "--termination" in CORPUS_FLAGS


def test_a_program_that_cannot_be_analysed_is_one_line_and_the_rest_goes_on(workdir):
    r = bpfcheck("verify", workdir / "build", "--no-cache", "--type", "no_such_type",
                 "--format", "json")
    assert r.rc == 2
    lines = r.err.strip().splitlines()
    assert len(lines) == 3 and all("unknown program type" in x for x in lines)
    assert all(x.startswith("bpfcheck: error: ") for x in lines)
