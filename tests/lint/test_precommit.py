"""A real `pre-commit` run on a temporary git repository with the snippet of docs/ci.md and
the hook of .pre-commit-hooks.yaml (cloned from this checkout, so it works offline).

The fast test overrides the hook's `language` to `system`, so pre-commit runs the bpfcheck
installed here instead of building a virtualenv from the package index; everything else (id,
entry, files, require_serial) is the hook as users get it. The slow test installs it for real
(`language: python`), which needs the package index.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from lint_helpers import BUILD, CORPUS, ROOT

PRE_COMMIT = shutil.which("pre-commit", path=os.path.dirname(sys.executable)) or \
    shutil.which("pre-commit")


def _snippet() -> dict:
    text = (ROOT / "docs" / "ci.md").read_text()
    section = text.split("## pre-commit", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    return yaml.safe_load(block)


def _repo(tmp_path, config: dict):
    repo = tmp_path / "project"
    (repo / "build").mkdir(parents=True)
    (repo / "src").mkdir()
    for name in ("xdp_eth_drop", "bad_xdp_off_by_one"):
        shutil.copy(BUILD / f"{name}.o", repo / "build")
        shutil.copy(CORPUS / "src" / f"{name}.c", repo / "src")
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_GLOBAL": os.devnull, "PIP_NO_INPUT": "1"}
    env.pop("CI", None)
    run = lambda *a, **kw: subprocess.run(a, cwd=repo, env=env, capture_output=True, text=True,
                                          timeout=kw.pop("timeout", 120), **kw)
    assert run("git", "init", "-q").returncode == 0
    assert run("git", "add", ".").returncode == 0
    return repo, run


def _config(language: str | None) -> dict:
    cfg = _snippet()
    assert cfg["repos"][0]["hooks"] == [{"id": "bpfcheck"}]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    cfg["repos"][0]["repo"] = str(ROOT)     # this checkout instead of the public URL
    cfg["repos"][0]["rev"] = head
    if language:
        cfg["repos"][0]["hooks"][0]["language"] = language
    return cfg


def _check_hook(run):
    bad = run(PRE_COMMIT, "run", "--all-files")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    out = bad.stdout
    assert "bpfcheck verify" in out and "Failed" in out
    assert "FAIL build/bad_xdp_off_by_one.o" in out and "PASS build/xdp_eth_drop.o" in out
    assert "--> ./src/bad_xdp_off_by_one.c:18:" in out
    assert run("git", "rm", "-q", "--cached", "build/bad_xdp_off_by_one.o").returncode == 0
    good = run(PRE_COMMIT, "run")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout


@pytest.mark.skipif(PRE_COMMIT is None, reason="pre-commit is not installed (pip install pre-commit)")
def test_precommit_hook_from_the_docs(tmp_path):
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "bpfcheck" and hooks[0]["entry"].startswith("bpfcheck verify")
    _repo_dir, run = _repo(tmp_path, _config("system"))
    _check_hook(run)


@pytest.mark.slow
@pytest.mark.skipif(PRE_COMMIT is None, reason="pre-commit is not installed (pip install pre-commit)")
def test_precommit_hook_installs_for_real(tmp_path):
    # language: python as published: pre-commit builds the hook's virtualenv (package index)
    _repo_dir, run = _repo(tmp_path, _config(None))
    install = run(PRE_COMMIT, "install-hooks", timeout=900)
    assert install.returncode == 0, install.stdout + install.stderr
    _check_hook(run)
