"""The result cache: an sqlite database under `.bpfcheck-cache/` so that unchanged programs are
not verified again.

Two tables: `results` maps a program key (hash of the program's bytes, maps, line info, type,
the options and the bpfcheck version) to its JSON result; `objects` maps an object key (hash
of the object file's bytes, the options and the version) to the program keys it holds, so a
rerun on unchanged objects need not even parse the ELF. sqlite in WAL mode with a busy
timeout makes concurrent bpfcheck runs (parallel CI jobs on one cache) safe; only the parent
process of a run writes.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

DEFAULT_DIR = ".bpfcheck-cache"
SCHEMA = 1
_PACKAGES = ("cfg", "domains", "verifier")


def code_fingerprint() -> str:
    """The bpfcheck version plus a hash of the analysis sources' contents, so that a changed
    verifier (even at the same version number) never serves old results, while a fresh clone
    of the same code (new file dates, as in CI) still hits."""
    from verifier.cli import _version
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256(_version().encode())
    for pkg in _PACKAGES:
        base = root / pkg
        for dirpath, dirnames, files in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "cli", "lint"))
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    h.update(os.path.relpath(path, root).encode() + b"\0")
                    with open(path, "rb") as fh:
                        h.update(fh.read())
    return h.hexdigest()[:16]


def program_key(program: Any, settings: dict[str, Any], version: str) -> str:
    """Hash of everything the verdict on `program` depends on."""
    h = hashlib.sha256()
    h.update(version.encode())
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(program.to_bytes())
    for part in (program.name, program.section, program.type, repr(tuple(program.maps)),
                 repr(tuple(program.functions)), repr(sorted(program.line_info.items()))):
        h.update(b"\0" + str(part).encode())
    return h.hexdigest()


def object_key(data: bytes, settings: dict[str, Any], version: str) -> str:
    """Hash of an object file's bytes with the options, version and CO-RE target BTF."""
    from cfg.core import target_fingerprint
    h = hashlib.sha256()
    h.update(version.encode() + target_fingerprint().encode())
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(data)
    return h.hexdigest()


class Cache:
    """The sqlite store; every method is safe to call from several processes at once."""

    def __init__(self, directory: str | os.PathLike = DEFAULT_DIR) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        gitignore = self.directory / ".gitignore"
        if not gitignore.exists():
            try:
                gitignore.write_text("*\n")
            except OSError:
                pass
        self.path = self.directory / "results.sqlite"
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.db.execute("PRAGMA busy_timeout = 60000")
        try:
            self.db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:  # another process is switching it: fine either way
            pass
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, "
                        "schema INTEGER, result TEXT, created REAL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, "
                        "schema INTEGER, programs TEXT, created REAL)")
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached result of a program key (None when absent)."""
        row = self.db.execute("SELECT result FROM results WHERE key = ? AND schema = ?",
                              (key, SCHEMA)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The cached results of several keys (absent ones left out)."""
        out = {}
        for k in keys:
            r = self.get(k)
            if r is not None:
                out[k] = r
        return out

    def put_many(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Store results in one transaction (retried by sqlite's busy timeout)."""
        rows = [(k, SCHEMA, json.dumps(v, sort_keys=True), time.time()) for k, v in items]
        if rows:
            with self._tx():
                self.db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)", rows)

    def get_object(self, key: str) -> list[dict[str, Any]] | None:
        """The programs (`key`, `section`, `function`) an object key holds, when known."""
        row = self.db.execute("SELECT programs FROM objects WHERE key = ? AND schema = ?",
                              (key, SCHEMA)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_object(self, key: str, programs: list[dict[str, Any]]) -> None:
        with self._tx():
            self.db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)",
                            (key, SCHEMA, json.dumps(programs), time.time()))

    def _tx(self):
        db = self.db

        class _Tx:
            def __enter__(self_inner):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self_inner, exc_type, *_):
                db.execute("ROLLBACK" if exc_type else "COMMIT")
        return _Tx()

    def close(self) -> None:
        self.db.close()
