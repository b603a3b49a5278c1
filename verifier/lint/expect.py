"""Expected verdicts (`bpfcheck verify --expect corpus/manifest.yaml`): each program listed in a
manifest must get its verdict; an unsafe one must fail for the listed kind at the listed C line.

The manifest is the corpus's (`programs: [{object, section, function, verdict, kind, line}]`,
objects relative to the manifest's directory); the project's own `make test` lints the corpus
this way.
"""
from __future__ import annotations

import os
from typing import Any

from cfg.errors import BpfcheckError

Key = tuple[str, str, str]


def load_manifest(path: str) -> dict[Key, dict[str, Any]]:
    """Manifest entries by (real object path, section, function)."""
    import yaml
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise BpfcheckError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise BpfcheckError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("programs"), list):
        raise BpfcheckError(f"{path}: no `programs` list")
    base = os.path.dirname(os.path.abspath(path))
    out = {}
    for n, e in enumerate(data["programs"], 1):
        if not isinstance(e, dict) or "object" not in e or e.get("verdict") not in (
                "accept", "reject"):
            raise BpfcheckError(f"{path}: program {n}: needs `object` and `verdict` "
                                f"(accept or reject)")
        obj = os.path.realpath(os.path.join(base, e["object"]))
        out[(obj, e.get("section") or "", e.get("function") or "")] = e
    return out


def check(result: dict[str, Any], manifest: dict[Key, dict[str, Any]]) -> str | None:
    """"as expected", "unexpected: ..." or None when the manifest does not list the program."""
    key = (os.path.realpath(result["file"] or ""), result.get("section") or "",
           result.get("function") or "")
    e = manifest.get(key)
    if e is None:
        return None
    if e["verdict"] == "accept":
        if result["ok"]:
            return "as expected"
        return "unexpected: rejected, expected accept"
    if result["ok"]:
        return f"unexpected: accepted, expected reject ({e.get('kind')})"
    found = [(x["kind"], (x.get("location") or {}).get("line")) for x in result["errors"]]
    want = (e.get("kind"), e.get("line"))
    if e.get("kind") is None or want in found or (want[1] is None and want[0] in
                                                  [k for k, _ in found]):
        return "as expected"
    return f"unexpected: expected {want[0]} at line {want[1]}"
