"""The results file: rows stream into it as tasks finish, so a crash or an interrupt loses
nothing, and `--resume` knows which tasks are done.

`.csv`: each row is appended and flushed to disk at once. `.parquet`: a Parquet file cannot be
appended to safely, so rows stream into a journal beside it (`<file>.journal.jsonl`, one JSON
object per line, flushed) and `close()` rewrites the Parquet file atomically (old rows +
journal) and removes the journal. Readers (`load`) take both, so a run killed midway is still
readable and resumable."""
from __future__ import annotations

import csv
import json
import os
from typing import Iterable

from verifier.research.tasks import COLUMNS

__all__ = ["ResultStore", "load", "finished_keys"]

_INT = ("repeat", "errors", "instructions", "iterations", "widenings", "constraints",
        "invariant_size", "peak_kib", "mem_kib")


def _journal(path: str) -> str:
    return path + ".journal.jsonl"


def _is_parquet(path: str) -> bool:
    return path.endswith((".parquet", ".pq"))


def _read_journal(path: str) -> list[dict]:
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut by a crash: that task is redone
                    continue
    return rows


def load(path: str):
    """All rows of a results file (with its journal, if a run was interrupted) as a DataFrame."""
    import pandas as pd
    frames = []
    if os.path.exists(path) and os.path.getsize(path) > 0:
        if _is_parquet(path):
            frames.append(pd.read_parquet(path))
        else:
            try:
                frames.append(pd.read_csv(path, on_bad_lines="skip", keep_default_na=False,
                                          na_values=[""], dtype={"error_kinds": str, "reason": str}))
            except pd.errors.EmptyDataError:
                pass
    if _is_parquet(path):
        rows = _read_journal(_journal(path))
        if rows:
            frames.append(pd.DataFrame(rows, columns=list(COLUMNS)))
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if "key" not in df.columns:
        from cfg.errors import BpfcheckError
        raise BpfcheckError(f"{path}: not a results file of bench verify (no 'key' column)")
    for c in COLUMNS:  # files written by older versions lack newer columns
        if c not in df.columns:
            df[c] = None
    df = df.drop_duplicates("key", keep="last").reset_index(drop=True)
    for c in ("error_kinds", "reason", "verdict"):
        df[c] = df[c].astype(object).where(df[c].notna(), "")
    return df


def finished_keys(path: str) -> set[str]:
    """Keys of the tasks already recorded in a results file, except those whose worker was
    killed from outside (status "crashed": not a property of the task, so resume runs them
    again; time-outs and memory overflows stay recorded)."""
    if not os.path.exists(path) and not os.path.exists(_journal(path)):
        return set()
    df = load(path)
    return set(df.loc[df["status"] != "crashed", "key"])


class ResultStore:
    """Append-only writer of result rows (`with ResultStore(path, resume) as s: s.add(row)`)."""

    def __init__(self, path: str, resume: bool = False) -> None:
        self.path = path
        self.parquet = _is_parquet(path)
        if not resume:
            for p in (path, _journal(path)):
                if os.path.exists(p):
                    os.remove(p)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if self.parquet:
            self._f = open(_journal(path), "a", encoding="utf-8")
            self._csv = None
        else:
            new = not os.path.exists(path) or os.path.getsize(path) == 0
            if not new:
                with open(path, "rb") as f:  # a row cut by a crash: end it so the next starts clean
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        with open(path, "a", encoding="utf-8") as g:
                            g.write("\n")
            self._f = open(path, "a", encoding="utf-8", newline="")
            self._csv = csv.DictWriter(self._f, fieldnames=list(COLUMNS), extrasaction="ignore")
            if new:
                self._csv.writeheader()
        self.count = 0

    def add(self, row: dict) -> None:
        """Record one finished task, on disk before this returns."""
        if self._csv is not None:
            self._csv.writerow(row)
        else:
            self._f.write(json.dumps({c: row.get(c) for c in COLUMNS}) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())
        self.count += 1

    def add_all(self, rows: Iterable[dict]) -> None:
        for r in rows:
            self.add(r)

    def close(self) -> None:
        """Flush; for Parquet, fold the journal into the file (atomic rename)."""
        if self._f.closed:
            return
        self._f.close()
        if self.parquet:
            df = load(self.path)
            for c in _INT:
                df[c] = df[c].astype("Int64")
            tmp = self.path + ".tmp"
            df.to_parquet(tmp, index=False)
            os.replace(tmp, self.path)
            os.remove(_journal(self.path))

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
