"""Baselines (what the kernel's veristat does for verifier work): a run kept as JSON
(`--output`), compared with a later one (`--baseline`, `bpfcheck compare A.json B.json`):
new failures, fixed programs, and per-program changes in instructions, states and time.

Programs are matched by (object path, section, function). "States" is the fixpoint's block
visits (`stats.iterations`), the closest figure to the kernel verifier's processed states.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from cfg.errors import BpfcheckError

Key = tuple[str, str, str]


def load_results(path: str) -> dict[str, Any]:
    """A JSON document written by `bpfcheck verify --output` or `--format json`
    (BpfcheckError naming the file when it is not one)."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise BpfcheckError(f"{path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BpfcheckError(f"{path}: not a bpfcheck JSON result file: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list) or not all(
            isinstance(r, dict) and {"file", "section", "function", "ok"} <= set(r)
            for r in doc["results"]):
        raise BpfcheckError(f"{path}: not a bpfcheck JSON result file (no `results` list)")
    return doc


def key_of(r: dict[str, Any]) -> Key:
    return (os.path.normpath(r["file"] or ""), r.get("section") or "", r.get("function") or "")


def _fingerprints(r: dict[str, Any]) -> set[str]:
    from verifier.lint.formats import fingerprints
    return set(fingerprints(r))


@dataclass(frozen=True)
class Row:
    """One program in the comparison: its result in A (old) and B (new), either may be None."""

    key: Key
    old: dict[str, Any] | None
    new: dict[str, Any] | None

    @property
    def status(self) -> str:
        """new-failure, fixed, still-failing, passing, added (passing) or removed."""
        o, n = self.old, self.new
        if n is None:
            return "removed"
        if not n["ok"]:
            if o is None or o["ok"] or _fingerprints(n) - _fingerprints(o):
                return "new-failure"
            return "still-failing"
        if o is not None and not o["ok"]:
            return "fixed"
        return "added" if o is None else "passing"

    def stat(self, which: str, name: str) -> Any:
        r = self.old if which == "old" else self.new
        return None if r is None else r.get("stats", {}).get(name)

    def as_json(self) -> dict[str, Any]:
        file, section, function = self.key
        out: dict[str, Any] = {"file": file, "section": section, "function": function,
                               "status": self.status,
                               "old_ok": None if self.old is None else self.old["ok"],
                               "new_ok": None if self.new is None else self.new["ok"]}
        for name in ("instructions", "iterations", "time_ms"):
            out[name] = [self.stat("old", name), self.stat("new", name)]
        return out


@dataclass
class Comparison:
    """All rows, in B's order then the programs only A has."""

    rows: list[Row] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def new_failures(self) -> list[Row]:
        return [r for r in self.rows if r.status == "new-failure"]

    def as_json(self) -> dict[str, Any]:
        return {"new_failures": self.count("new-failure"), "fixed": self.count("fixed"),
                "still_failing": self.count("still-failing"), "added": self.count("added"),
                "removed": self.count("removed"), "programs": [r.as_json() for r in self.rows]}


def compare(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> Comparison:
    """Match the results of two runs program by program."""
    before = {key_of(r): r for r in old}
    rows = [Row(key_of(r), before.pop(key_of(r), None), r) for r in new]
    rows += [Row(k, r, None) for k, r in before.items()]
    return Comparison(rows)


def _delta(a: Any, b: Any, unit: str = "") -> str:
    if a is None and b is None:
        return "-"
    if a is None or b is None:
        return f"{a if a is not None else '-'} -> {b if b is not None else '-'}"
    if a == b:
        return f"{b}{unit}"
    pct = f" ({(b - a) / a * 100:+.0f}%)" if a else ""
    return f"{a} -> {b}{unit}{pct}"


def _verdict(r: dict[str, Any] | None) -> str:
    return "-" if r is None else ("PASS" if r["ok"] else "FAIL")


def format_table(cmp: Comparison, changed_only: bool = False) -> str:
    """The comparison as a fixed-width table and a one-line summary."""
    head = ("Program", "Verdict", "Insns", "States", "Time (ms)", "Status")
    rows = []
    for r in cmp.rows:
        if changed_only and r.status == "passing" and r.stat("old", "instructions") == \
                r.stat("new", "instructions"):
            continue
        file, section, function = r.key
        verdict = _verdict(r.old) if _verdict(r.old) == _verdict(r.new) else \
            f"{_verdict(r.old)} -> {_verdict(r.new)}"
        rows.append((f"{file} {section}/{function}", verdict,
                     _delta(r.stat("old", "instructions"), r.stat("new", "instructions")),
                     _delta(r.stat("old", "iterations"), r.stat("new", "iterations")),
                     _delta(r.stat("old", "time_ms"), r.stat("new", "time_ms")), r.status))
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip()
             for line in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{cmp.count('new-failure')} new failures, {cmp.count('fixed')} fixed, "
                 f"{cmp.count('still-failing')} still failing, {cmp.count('added')} added, "
                 f"{cmp.count('removed')} removed")
    return "\n".join(lines)
