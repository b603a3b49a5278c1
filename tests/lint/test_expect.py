"""`--expect MANIFEST.yaml`: the corpus's verdicts as the project's own lint step."""
from __future__ import annotations

import yaml

from lint_helpers import BUILD, CORPUS, CORPUS_FLAGS, bpfcheck


def test_corpus_gets_the_manifest_verdicts(corpus_cache):
    r = bpfcheck("verify", BUILD, *CORPUS_FLAGS, "--cache-dir", corpus_cache,
                 "--expect", CORPUS / "manifest.yaml", "-q")
    assert r.rc == 0, r.out
    assert "all as expected" in r.out


def test_a_wrong_expectation_fails(tmp_path, corpus_cache):
    data = yaml.safe_load((CORPUS / "manifest.yaml").read_text())
    for e in data["programs"]:
        e["object"] = str(CORPUS / e["object"])
        if e["function"] == "xdp_eth_drop":
            e["verdict"], e["kind"], e["line"] = "reject", "packet-bounds", 3
        if e["function"] == "bad_xdp_off_by_one":
            e["line"] = 1
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    r = bpfcheck("verify", BUILD, *CORPUS_FLAGS, "--cache-dir", corpus_cache,
                 "--expect", tmp_path / "m.yaml", "-q", "--format", "json")
    assert r.rc == 1
    why = {x["function"]: x["why"] for x in r.json()["expect"]["unexpected"]}
    assert why == {"xdp_eth_drop": "unexpected: accepted, expected reject (packet-bounds)",
                   "bad_xdp_off_by_one": "unexpected: expected packet-bounds at line 1"}
    text = bpfcheck("verify", BUILD, *CORPUS_FLAGS, "--cache-dir", corpus_cache,
                    "--expect", tmp_path / "m.yaml", "-q").out
    assert "[unexpected: accepted, expected reject (packet-bounds)]" in text
    assert "2 unexpected" in text


def test_bad_manifest(tmp_path):
    (tmp_path / "m.yaml").write_text("programs: [{object: a.o}]\n")
    r = bpfcheck("verify", BUILD / "xdp_eth_drop.o", "--expect", tmp_path / "m.yaml")
    assert r.rc == 2 and "verdict" in r.err
