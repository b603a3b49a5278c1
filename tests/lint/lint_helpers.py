"""Helpers for the lint tests: run `bpfcheck` in-process; where the corpus is."""
from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from verifier.cli import main

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus"
BUILD = CORPUS / "build"
# the options the corpus manifest's verdicts assume
CORPUS_FLAGS = ("--termination",)


@dataclass
class Run:
    rc: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def bpfcheck(*args: str, cwd: str | os.PathLike | None = None) -> Run:
    """`bpfcheck ARGS` in this process (stdout and stderr captured)."""
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in args])
            except SystemExit as exc:  # argparse
                rc = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(old)
    return Run(rc, out.getvalue(), err.getvalue())


