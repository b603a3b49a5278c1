"""Baselines: --output keeps a run, --baseline compares (new failures, fixed, changes),
--new-only fails only on new failures, `bpfcheck compare A.json B.json` prints the table."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from lint_helpers import bpfcheck
from verifier.lint.baseline import compare, format_table


def _old_run(workdir, tmp_path):
    out = tmp_path / "old.json"
    r = bpfcheck("verify", "build", "--no-cache", "--output", out, cwd=workdir)
    assert r.rc == 1 and out.exists()
    return out


def test_output_then_baseline_with_no_change(workdir, tmp_path):
    old = _old_run(workdir, tmp_path)
    r = bpfcheck("verify", "build", "--no-cache", "--baseline", old, "--new-only", cwd=workdir)
    assert r.rc == 0, r.out  # failing programs, but none new
    assert "0 new failures, 0 fixed, 2 still failing" in r.out
    r = bpfcheck("verify", "build", "--no-cache", "--baseline", old, cwd=workdir)
    assert r.rc == 1  # without --new-only every failure counts


def test_new_failure_and_fixed(workdir, tmp_path):
    old = _old_run(workdir, tmp_path)
    doc = json.loads(old.read_text())
    for res in doc["results"]:   # pretend: off-by-one used to pass, eth_drop used to fail
        if res["function"] == "bad_xdp_off_by_one":
            res["ok"], res["errors"], res["status"] = True, [], "pass"
        if res["function"] == "xdp_eth_drop":
            res["ok"], res["status"] = False, "fail"
            res["errors"] = [{"pc": 1, "kind": "packet-bounds", "code": "BPF001", "message": "m",
                              "source": None, "detail": "", "location": None}]
        res["stats"]["instructions"] += 2
    old.write_text(json.dumps(doc))
    r = bpfcheck("verify", "build", "--no-cache", "--baseline", old, "--new-only",
                 "--format", "json", cwd=workdir)
    assert r.rc == 1
    import jsonschema
    from lint_helpers import ROOT
    schema = json.loads((ROOT / "docs" / "schema" / "results.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(r.json())
    base = r.json()["baseline"]
    status = {p["function"]: p["status"] for p in base["programs"]}
    assert status == {"bad_map_null_deref": "still-failing",
                      "bad_xdp_off_by_one": "new-failure", "xdp_eth_drop": "fixed"}
    assert base["new_failures"] == 1 and base["fixed"] == 1
    # compare prints the table with the per-program changes
    new = tmp_path / "new.json"
    bpfcheck("verify", "build", "--no-cache", "--output", new, cwd=workdir)
    r = bpfcheck("compare", old, new)
    assert r.rc == 0
    row = next(x for x in r.out.splitlines() if "bad_xdp_off_by_one" in x)
    assert "PASS -> FAIL" in row and "new-failure" in row and "->" in row.split("PASS -> FAIL")[1]
    assert r.out.splitlines()[0].split() == ["Program", "Verdict", "Insns", "States", "Time",
                                             "(ms)", "Status"]
    assert bpfcheck("compare", old, new, "--fail-on-new").rc == 1
    js = bpfcheck("compare", old, new, "--format", "json").json()
    assert js["new_failures"] == 1 and js["fixed"] == 1


def test_a_new_error_in_a_failing_program_is_new(workdir, tmp_path):
    old = _old_run(workdir, tmp_path)
    doc = json.loads(old.read_text())
    for res in doc["results"]:
        if res["function"] == "bad_map_null_deref":
            res["errors"][0]["location"]["text"] = "some other line"
    old.write_text(json.dumps(doc))
    r = bpfcheck("verify", "build", "--no-cache", "--baseline", old, "--new-only", cwd=workdir)
    assert r.rc == 1 and "new-failure" in r.out


def test_bad_baseline_files(tmp_path, workdir):
    (tmp_path / "x.json").write_text("{not json")
    (tmp_path / "y.json").write_text('{"programs": []}')
    for name in ("x.json", "y.json", "missing.json"):
        r = bpfcheck("verify", "build", "--no-cache", "--baseline", tmp_path / name, cwd=workdir)
        assert r.rc == 2 and name in r.err and r.err.count("\n") == 1
        assert bpfcheck("compare", tmp_path / name, tmp_path / name).rc == 2


_result = st.fixed_dictionaries({
    "file": st.sampled_from(["a.o", "b.o"]), "section": st.sampled_from(["xdp", "tc"]),
    "function": st.sampled_from(["f", "g"]), "ok": st.booleans(),
    "stats": st.fixed_dictionaries({"instructions": st.integers(0, 99)})})


def _unique(rs):
    return list({(r["file"], r["section"], r["function"]): _fix(r) for r in rs}.values())


def _fix(r):
    r = dict(r)
    r["errors"] = [] if r["ok"] else [{"pc": 0, "kind": "null-deref", "location": None}]
    return r


@settings(max_examples=60, deadline=None)
@given(st.lists(_result, max_size=6), st.lists(_result, max_size=6))
def test_compare_laws(a, b):
    a, b = _unique(a), _unique(b)
    same = compare(a, a)
    assert same.count("new-failure") == 0 and same.count("fixed") == 0
    there, back = compare(a, b), compare(b, a)
    assert there.count("fixed") == sum(1 for r in back.rows if r.status == "new-failure"
                                       and r.old is not None and r.old["ok"])
    assert sum(1 for r in there.rows if r.old is None) == back.count("removed")
    assert len(there.rows) == len(back.rows)
    assert format_table(there).count("\n") >= 2
