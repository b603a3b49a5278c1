"""Reports as text (one line per program, then its errors) and as JSON (the issue's schema)."""
from __future__ import annotations

import json
from typing import Any, Iterable

from verifier.errors import ERROR_KINDS


def _source(err) -> str:
    src = err.source
    if src is None:
        return ""
    text = f"{src.file}:{src.line}"
    if getattr(src, "text", ""):
        text += f": {src.text.strip()}"
    return text


def format_text(report, verbose: bool = False) -> str:
    """`PASS  file section/function  N insns  T ms`, then each error with its C line."""
    p = report.program
    where = f"{p.file or '-'} {p.section or '-'}/{p.name}"
    verdict = "PASS" if report.ok else "FAIL"
    lines = [f"{verdict} {where} ({report.program_type}): {report.stats.get('instructions', 0)} "
             f"instructions, {report.stats.get('time_ms', 0)} ms"]
    for e in report.errors:
        code = ERROR_KINDS[e.kind].code if e.kind in ERROR_KINDS else ""
        lines.append(f"  error {code} [{e.kind}] at pc {e.pc}: {e.message}")
        src = _source(e)
        if src:
            lines.append(f"    --> {src}")
        if e.detail and e.detail not in e.message:
            lines.append(f"    note: {e.detail}")
    for w in report.warnings:
        lines.append(f"  warning at pc {w.pc}: {w.message}")
    if verbose:
        from cfg.asm import format_insn
        states = report.block_states()
        for pc, insn in p.items():
            if pc in states:
                lines.append(f"  {pc}: {states[pc]}")
            lines.append(f"      {pc:5d}: {format_insn(insn, pc)}")
    return "\n".join(lines)


def result_json(report) -> dict[str, Any]:
    """One program's entry of the JSON output."""
    p = report.program
    return {
        "file": p.file, "section": p.section, "function": p.name, "type": report.program_type,
        "ok": report.ok,
        "errors": [{"pc": e.pc, "source": _source(e) or None, "kind": e.kind, "code":
                    ERROR_KINDS[e.kind].code if e.kind in ERROR_KINDS else None,
                    "message": e.message, "detail": e.detail} for e in report.errors],
        "warnings": [{"pc": w.pc, "kind": w.kind, "message": w.message} for w in report.warnings],
        "stats": {k: report.stats[k] for k in ("instructions", "time_ms", "iterations",
                                               "widenings", "invariant_size") if k in report.stats},
    }


def format_json(reports: Iterable) -> str:
    """`{"results": [...]}`."""
    return json.dumps({"results": [result_json(r) for r in reports]}, indent=2)
