"""Output formats of a lint run: text (coloured on a terminal), json (docs/schema/
results.schema.json), sarif 2.1.0 (built with `sarif-om`), github workflow commands and JUnit XML.

Every function takes the run's results (entries of `verifier.lint.runner`) and problems and
returns the whole output as one string, so the CLI decides where it goes.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from verifier.errors import ERROR_KINDS

FORMATS = ("text", "json", "sarif", "github", "junit")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/bpfcheck/bpfcheck"
# rules of the lint layer itself, next to the verifier's error registry
LINT_RULES = {
    "time-budget": ("BPF901", "analysis exceeded its time budget",
                    "raise --timeout (or `timeout` in the configuration), or split the program"),
    "memory-budget": ("BPF902", "analysis exceeded its memory budget",
                      "raise --memory (or `memory` in the configuration), or split the program"),
    "unreachable": ("BPF903", "unreachable code",
                    "remove the code no path reaches, or check the jumps around it"),
    "stale-suppression": ("BPF904", "a suppression that matches nothing",
                          "remove the suppression from the configuration: the error is gone"),
    "other": ("BPF999", "other finding", "see the message"),
}

_RESET, _BOLD, _RED, _GREEN, _YELLOW, _DIM, _CYAN = (
    "\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[2m", "\x1b[36m")


def rule_for(kind: str) -> tuple[str, str, str]:
    """(code, title, help) of an error or warning kind."""
    if kind in ERROR_KINDS:
        k = ERROR_KINDS[kind]
        return k.code, k.title, k.help
    return LINT_RULES.get(kind, LINT_RULES["other"])


def program_name(r: dict[str, Any]) -> str:
    return f"{r.get('section') or '-'}/{r.get('function')}"


# ---------------------------------------------------------------------------------- text

def text_entry(r: dict[str, Any], color: bool = False, expected: str | None = None) -> str:
    """The verifier's text layout (`verifier.report.format_text`) for one result entry:
    `PASS file section/function (type): N instructions, T ms`, then each error with its C line,
    the violated property and the unproven constraint."""
    def c(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    status = r.get("status", "pass" if r["ok"] else "fail")
    verdict = {"pass": "PASS", "fail": "FAIL", "timeout": "TIME", "memory": "MEM!"}[status]
    painted = c(_BOLD + (_GREEN if r["ok"] else _RED), verdict)
    stats = r.get("stats", {})
    line = f"{painted} {r['file'] or '-'} {program_name(r)} ({r.get('type', '')})"
    if stats:
        line += f": {stats.get('instructions', 0)} instructions, {stats.get('time_ms', 0)} ms"
    if r.get("cached"):
        line += c(_DIM, " (cached)")
    if expected:
        line += " " + c(_GREEN if expected == "as expected" else _RED + _BOLD, f"[{expected}]")
    lines = [line]
    for e in r["errors"]:
        where = f" at pc {e['pc']}" if e.get("pc") is not None else ""
        lines.append(f"  {c(_RED, 'error')} {e.get('code') or ''} [{e['kind']}]{where}: "
                     f"{e['message']}")
        if e.get("source"):
            lines.append(f"    {c(_CYAN, '-->')} {e['source']}")
        if e.get("detail") and e["detail"] not in e["message"]:
            lines.append(f"    note: {e['detail']}")
    for e in r.get("suppressed", ()):
        lines.append(c(_DIM, f"  suppressed {e.get('code') or ''} [{e['kind']}] at pc {e['pc']}: "
                             f"{e['message']} (reason: {e['reason']})"))
    for w in r.get("warnings", ()):
        lines.append(f"  {c(_YELLOW, 'warning')} at pc {w['pc']}: {w['message']}")
    if r.get("invariants_text"):
        lines.append(r["invariants_text"])
    return "\n".join(lines)


def summary(run: Any, color: bool = False) -> str:
    """One line: programs passed / failed, suppressed errors, bad inputs, time, cache hits."""
    res = run.results
    failed = sum(1 for r in res if not r["ok"])
    sup = sum(len(r.get("suppressed", ())) for r in res)
    parts = [f"{len(res)} program{'s' * (len(res) != 1)} in {run.objects} object"
             f"{'s' * (run.objects != 1)}: {len(res) - failed} passed, {failed} failed"]
    if sup:
        parts.append(f"{sup} suppressed")
    if run.problems:
        parts.append(f"{len(run.problems)} unusable input{'s' * (len(run.problems) != 1)}")
    if run.stale:
        parts.append(f"{len(run.stale)} stale suppression{'s' * (len(run.stale) != 1)}")
    cached = sum(1 for r in res if r.get("cached"))
    parts.append(f"{run.elapsed:.2f} s" + (f" ({cached} cached)" if cached else ""))
    text = "; ".join(parts)
    if color:
        text = (_RED if failed or run.problems else _GREEN) + text + _RESET
    return text


# ---------------------------------------------------------------------------------- json

def to_json_doc(run: Any, version: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document (see docs/schema/results.schema.json)."""
    res = run.results
    doc = {
        "version": version,
        "results": res,
        "problems": [{"file": p.path, "message": p.message} for p in run.problems],
        "stale_suppressions": [{"object": s.object, "section": s.section,
                                "function": s.function, "kind": s.kind, "reason": s.reason}
                               for s in run.stale],
        "summary": {"programs": len(res), "passed": sum(1 for r in res if r["ok"]),
                    "failed": sum(1 for r in res if not r["ok"]), "objects": run.objects,
                    "problems": len(run.problems),
                    "suppressed": sum(len(r.get("suppressed", ())) for r in res),
                    "cached": sum(1 for r in res if r.get("cached")),
                    "time_s": round(run.elapsed, 3)},
    }
    doc.update(extra or {})
    return doc


def format_json(run: Any, version: str, extra: dict[str, Any] | None = None) -> str:
    return json.dumps(to_json_doc(run, version, extra), indent=2)


# ---------------------------------------------------------------------------------- locations

def source_path(obj: str, src: str) -> str:
    """The C file of a line-info entry as a path relative to the current directory: line info
    names it relative to the compiler's directory, so look beside and above the object."""
    if os.path.isabs(src):
        return os.path.relpath(src) if os.path.exists(src) else src
    base = os.path.dirname(obj or ".")
    for cand in (os.path.join(base, src), os.path.join(base, "..", src), src):
        if os.path.exists(cand):
            return os.path.relpath(cand).replace(os.sep, "/")
    return os.path.normpath(src).replace(os.sep, "/")


def fingerprint(r: dict[str, Any], e: dict[str, Any], occurrence: int = 0) -> str:
    """A finding's stable identity: object, program, kind and the C source text (or the pc),
    not the line number or the message, so unrelated edits keep it; `occurrence` tells apart
    several findings of one kind on one source line."""
    loc = e.get("location")
    anchor = f"{os.path.basename(loc['file'])}:{loc['text']}" if loc else f"pc {e.get('pc')}"
    if occurrence:
        anchor += f"#{occurrence}"
    key = "|".join((os.path.normpath(r["file"] or "").replace(os.sep, "/"),
                    r.get("section") or "", r.get("function") or "", e["kind"], anchor))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def fingerprints(r: dict[str, Any], key: str = "errors") -> list[str]:
    """The fingerprints of a result's errors (or warnings), numbered apart when repeated."""
    seen: dict[str, int] = {}
    out = []
    for e in r.get(key, ()):
        fp = fingerprint(r, e)
        seen[fp] = seen.get(fp, -1) + 1
        out.append(fingerprint(r, e, seen[fp]) if seen[fp] else fp)
    return out


# ---------------------------------------------------------------------------------- sarif

def format_sarif(run: Any, version: str) -> str:
    """SARIF 2.1.0: one rule per error kind (with help text), results located at the C line
    (object, section and pc when there is no line info), stable partial fingerprints; unusable
    inputs are tool execution notifications."""
    import sarif_om as s
    from jschema_to_python.to_json import to_json

    kinds = [(k.kind, k.code, k.title, k.help) for k in ERROR_KINDS.values()] + \
        [(kind, code, title, hlp) for kind, (code, title, hlp) in LINT_RULES.items()]
    rules = [s.ReportingDescriptor(
        id=code, name=kind, short_description=s.MultiformatMessageString(text=title),
        full_description=s.MultiformatMessageString(text=f"{title}: {hlp}"),
        help=s.MultiformatMessageString(text=hlp),
        default_configuration=s.ReportingConfiguration(
            level="warning" if kind in ("unreachable", "stale-suppression") else "error"),
        properties={"tags": ["ebpf", "verifier"]}) for kind, code, title, hlp in kinds]
    index = {kind: n for n, (kind, *_rest) in enumerate(kinds)}

    def result(r: dict[str, Any], e: dict[str, Any], fp: str, level: str,
               suppressed: bool = False):
        kind = e["kind"] if e["kind"] in index else "other"
        loc = e.get("location")
        obj = (r["file"] or "").replace(os.sep, "/")
        logical = s.LogicalLocation(fully_qualified_name=f"{obj}:{program_name(r)}",
                                    name=r.get("function"), kind="function")
        if loc:
            phys = s.PhysicalLocation(
                artifact_location=s.ArtifactLocation(uri=source_path(r["file"], loc["file"])),
                region=s.Region(start_line=loc["line"],
                                **({"start_column": loc["column"]} if loc["column"] else {}),
                                **({"snippet": s.ArtifactContent(text=loc["text"])}
                                   if loc["text"] else {})))
        else:
            phys = s.PhysicalLocation(artifact_location=s.ArtifactLocation(uri=obj))
        text = f"{program_name(r)}: {e['message']}"
        if e.get("pc") is not None:
            text += f" (pc {e['pc']})"
        if e.get("detail") and e["detail"] not in e["message"]:
            text += f"; {e['detail']}"
        props = {"object": obj, "section": r.get("section"), "function": r.get("function"),
                 "pc": e.get("pc"), "kind": e["kind"]}
        out = s.Result(rule_id=rule_for(kind)[0], rule_index=index[kind], level=level,
                       message=s.Message(text=text),
                       locations=[s.Location(physical_location=phys,
                                             logical_locations=[logical])],
                       partial_fingerprints={"bpfcheck/v1": fp},
                       properties=props)
        if suppressed:
            out.suppressions = [s.Suppression(kind="external", justification=e.get("reason"))]
        return out

    results = []
    for r in run.results:
        for key, level in (("errors", "error"), ("suppressed", "error"),
                           ("warnings", "warning")):
            for e, fp in zip(r.get(key, ()), fingerprints(r, key)):
                results.append(result(r, e, fp, level, suppressed=key == "suppressed"))
    notes = [s.Notification(message=s.Message(text=str(p)), level="error",
                            locations=[s.Location(physical_location=s.PhysicalLocation(
                                artifact_location=s.ArtifactLocation(
                                    uri=p.path.replace(os.sep, "/"))))] if p.path else None)
             for p in run.problems]
    notes += [s.Notification(message=s.Message(text=f"stale suppression: {st.describe()}"),
                             level="warning") for st in run.stale]
    invocation = s.Invocation(execution_successful=not run.problems,
                              tool_execution_notifications=notes or None)
    driver = s.ToolComponent(name="bpfcheck", version=version.split()[-1],
                             information_uri=INFO_URI, rules=rules)
    log = s.SarifLog(version="2.1.0", schema_uri=SARIF_SCHEMA,
                     runs=[s.Run(tool=s.Tool(driver=driver), results=results,
                                 invocations=[invocation],
                                 column_kind="unicodeCodePoints")])
    return to_json(log)


# ---------------------------------------------------------------------------------- github

def _esc_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _esc_prop(text: str) -> str:
    return _esc_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(run: Any, config_path: str | None = None) -> str:
    """GitHub Actions workflow commands: `::error file=...,line=...,title=...::message`."""
    out = []
    for r in run.results:
        for level, items in (("error", r["errors"]), ("warning", r.get("warnings", ()))):
            for e in items:
                loc = e.get("location")
                props = [f"file={_esc_prop(source_path(r['file'], loc['file']) if loc else r['file'])}"]
                if loc:
                    props.append(f"line={loc['line']}")
                    if loc["column"]:
                        props.append(f"col={loc['column']}")
                code = e.get("code") or rule_for(e["kind"])[0]
                title = f"{code} {e['kind']}"
                props.append(f"title={_esc_prop(title)}")
                msg = f"{r['file']} {program_name(r)}: {e['message']}"
                if e.get("detail") and e["detail"] not in e["message"]:
                    msg += f"\n{e['detail']}"
                out.append(f"::{level} {','.join(props)}::{_esc_data(msg)}")
    for p in run.problems:
        out.append(f"::error file={_esc_prop(p.path)},title=unusable input::{_esc_data(str(p))}")
    for st in run.stale:
        where = f"file={_esc_prop(config_path)}," if config_path else ""
        out.append(f"::warning {where}title=stale suppression::"
                   f"{_esc_data('stale suppression: ' + st.describe())}")
    return "\n".join(out)


# ---------------------------------------------------------------------------------- junit

def format_junit(run: Any) -> str:
    """JUnit XML: one test case per program (failure = its errors), one error case per
    unusable input."""
    import xml.etree.ElementTree as ET

    res = run.results
    suites = ET.Element("testsuites", name="bpfcheck")
    suite = ET.SubElement(suites, "testsuite", name="bpfcheck verify")
    failures = errors = 0
    for r in res:
        ms = r.get("stats", {}).get("time_ms", 0) or 0
        case = ET.SubElement(suite, "testcase", classname=r["file"] or "-",
                             name=program_name(r), time=f"{ms / 1000:.3f}")
        if r.get("status") in ("timeout", "memory"):
            errors += 1
            e = r["errors"][0]
            ET.SubElement(case, "error", message=e["message"], type=e["kind"]).text = e["message"]
        elif r["errors"]:
            failures += 1
            first = r["errors"][0]
            el = ET.SubElement(case, "failure", message=first["message"], type=first["kind"])
            el.text = text_entry(r)
        if r.get("suppressed"):
            ET.SubElement(case, "system-out").text = "\n".join(
                f"suppressed [{e['kind']}] at pc {e['pc']}: {e['message']} ({e['reason']})"
                for e in r["suppressed"])
    for p in run.problems:
        errors += 1
        case = ET.SubElement(suite, "testcase", classname="bpfcheck.inputs", name=p.path or "-",
                             time="0")
        ET.SubElement(case, "error", message=p.message, type="unusable-input").text = str(p)
    total = len(res) + len(run.problems)
    for el in (suites, suite):
        el.set("tests", str(total))
        el.set("failures", str(failures))
        el.set("errors", str(errors))
        el.set("time", f"{run.elapsed:.3f}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
