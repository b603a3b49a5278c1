"""Configuration: [tool.bpfcheck] in pyproject.toml or .bpfcheck.toml, options, program-type
overrides per section, suppressions (and stale ones)."""
from __future__ import annotations

import pytest

from lint_helpers import bpfcheck
from verifier.lint.config import (ConfigError, LintConfig, Suppression, find_config,
                                  load_config, parse_config, with_overrides)


def test_pyproject_table_and_dot_file_precedence(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(tmp_path) is None or find_config(tmp_path).parent != tmp_path
    (tmp_path / "pyproject.toml").write_text('[tool.bpfcheck]\ndomain = "interval"\n')
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    assert find_config(sub) == tmp_path / "pyproject.toml"
    cfg = load_config(find_config(sub))
    assert cfg.get("domain") == "interval"
    (tmp_path / "a" / ".bpfcheck.toml").write_text("termination = true\n")
    assert find_config(sub) == tmp_path / "a" / ".bpfcheck.toml"
    assert load_config(tmp_path / "a" / ".bpfcheck.toml").get("termination") is True


@pytest.mark.parametrize("text, words", [
    ("domain = 3\n", "`domain` must be a str"),
    ("colour = 'red'\n", "unknown key `colour`"),
    ("fail-on = 'sometimes'\n", "fail-on"),
    ("[[suppress]]\nobject = 'a.o'\nkind = 'packet-bounds'\n", "`reason` is required"),
    ("[[suppress]]\nobject = 'a.o'\nkind = 'no-such-kind'\nreason = 'x'\n", "unknown error kind"),
    ("this is = not toml [\n", "not valid TOML"),
])
def test_bad_configuration_is_one_clear_line(tmp_path, workdir, text, words):
    (workdir / ".bpfcheck.toml").write_text(text)
    with pytest.raises(ConfigError, match=words.replace("`", ".").replace("[", ".")):
        load_config(workdir / ".bpfcheck.toml")
    r = bpfcheck("verify", "build", "--no-cache", cwd=workdir)
    assert r.rc == 2 and r.err.count("\n") == 1 and ".bpfcheck.toml" in r.err


def test_flags_override_the_file():
    cfg = with_overrides(parse_config({"domain": "interval", "jobs": 3}), domain="zone", jobs=None)
    assert cfg.get("domain") == "zone" and cfg.get("jobs") == 3


def test_suppression_matching():
    s = Suppression("build/legacy_*.o", "packet-bounds", "old", section="xdp*")
    assert s.matches("build/legacy_a.o", "xdp", "f", "packet-bounds")
    assert s.matches("/abs/path/build/legacy_a.o", "xdp.frags", "f", "packet-bounds")
    assert not s.matches("build/legacy_a.o", "tc", "f", "packet-bounds")
    assert not s.matches("build/legacy_a.o", "xdp", "f", "null-deref")
    assert not s.matches("build/other.o", "xdp", "f", "packet-bounds")
    assert Suppression("legacy_a.o", "*", "r").matches("x/y/legacy_a.o", "s", "f", "null-deref")


def test_suppressions_accept_errors_and_report_stale_ones(workdir):
    (workdir / "pyproject.toml").write_text('''
[tool.bpfcheck]
termination = true

[[tool.bpfcheck.suppress]]
object = "bad_xdp_off_by_one.o"
section = "xdp"
kind = "packet-bounds"
reason = "the caller pads the packet"

[[tool.bpfcheck.suppress]]
object = "build/xdp_eth_drop.o"
kind = "null-deref"
reason = "was needed before the fix"
''')
    r = bpfcheck("verify", "build", "--no-cache", "--format", "json", cwd=workdir)
    doc = r.json()
    by = {x["function"]: x for x in doc["results"]}
    off = by["bad_xdp_off_by_one"]
    assert off["ok"] and off["errors"] == [] and off["status"] == "pass"
    assert off["suppressed"][0]["kind"] == "packet-bounds"
    assert off["suppressed"][0]["reason"] == "the caller pads the packet"
    assert not by["bad_map_null_deref"]["ok"]        # not covered: still fails
    assert r.rc == 1
    assert doc["stale_suppressions"] == [{"object": "build/xdp_eth_drop.o", "section": "*",
                                          "function": "*", "kind": "null-deref",
                                          "reason": "was needed before the fix"}]
    assert "stale suppression" in r.err and "xdp_eth_drop.o" in r.err
    text = bpfcheck("verify", "build", "--no-cache", cwd=workdir).out
    assert "suppressed BPF001 [packet-bounds]" in text and "the caller pads the packet" in text
    sarif = bpfcheck("verify", "build", "--no-cache", "--format", "sarif", cwd=workdir).json()
    sup = [x for x in sarif["runs"][0]["results"] if x.get("suppressions")]
    assert sup and sup[0]["suppressions"][0]["justification"] == "the caller pads the packet"


def test_type_override_per_section(workdir):
    (workdir / ".bpfcheck.toml").write_text('[types]\nxdp = "sched_cls"\n')
    doc = bpfcheck("verify", "build/xdp_eth_drop.o", "--no-cache", "--format", "json",
                   cwd=workdir).json()
    assert doc["results"][0]["type"] == "sched_cls"
    assert LintConfig(types={"xdp*": "xdp"}).type_for("xdp.frags") == "xdp"
    # the --type flag still wins over the configuration
    doc = bpfcheck("verify", "build/xdp_eth_drop.o", "--no-cache", "--format", "json",
                   "--type", "xdp", cwd=workdir).json()
    assert doc["results"][0]["type"] == "xdp"


def test_options_from_the_configuration(workdir):
    (workdir / ".bpfcheck.toml").write_text('domain = "interval"\n')
    doc = bpfcheck("verify", "build/xdp_eth_drop.o", "--no-cache", "--format", "json",
                   cwd=workdir).json()
    assert doc["results"][0]["domain"] == "interval"
    doc = bpfcheck("verify", "build/xdp_eth_drop.o", "--no-cache", "--format", "json",
                   "--domain", "zone", cwd=workdir).json()
    assert doc["results"][0]["domain"] == "zone"
