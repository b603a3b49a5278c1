"""Reports and comparisons from harness results: tables, plots, HTML, notebook display."""
from __future__ import annotations

import pytest

from tests.research.conftest import CORPUS
from verifier.research import report as R
from verifier.research.harness import run_harness
from verifier.research.store import load

NIBBLE = CORPUS.parents[1] / "examples" / "parity_domain" / "bitmask" / "xdp_nibble_index.o"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("res") / "r.csv"
    objs = [str(CORPUS / n) for n in ("xdp_eth_drop.o", "bad_xdp_off_by_one.o", "tc_ingress_mark.o")]
    run_harness(objs + [str(NIBBLE)], ["interval", "zone", "tnum-interval"], output=str(out),
                repeat=2, workers=2)
    return str(out)


def test_tables_count_what_the_rows_say(results):
    df = load(results)
    s = R.summary(df).set_index("domain")
    first = df[df["repeat"] == 0]
    for d in ("interval", "zone", "tnum-interval"):
        assert s.loc[d, "proven"] == ((first["domain"] == d) & (first["verdict"] == "accept")).sum()
        assert s.loc[d, "programs"] == 4
    only = R.only_one_proves(df).set_index("program")["domain"].to_dict()
    # zone alone proves the Ethernet parser, tnum-interval alone the bit-masking program
    assert only["xdp_eth_drop.o:xdp_eth_drop"] == "zone"
    assert only["xdp_nibble_index.o:xdp_nibble_index"] == "tnum-interval"
    w = R.wins(df).set_index(["proves", "not"])["count"]
    assert w[("zone", "interval")] >= 1 and w[("tnum-interval", "interval")] == 1
    assert w[("interval", "tnum-interval")] == 0          # the product never loses to intervals
    p = R.percentiles(df).set_index("domain")
    assert (p["time_p50_ms"] <= p["time_p100_ms"]).all()


def test_bench_report_writes_plots_and_html(results, tmp_path, capsys):
    from verifier.cli import main
    out = tmp_path / "report"
    assert main(["bench", "report", results, "-o", str(out)]) == 0
    for name in R.PLOTS:
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert "<svg" in (out / f"{name}.svg").read_text()[:2000]
    page = (out / "index.html").read_text()
    assert all(f'src="{n}.svg"' in page for n in R.PLOTS)
    assert "xdp_nibble_index.o:xdp_nibble_index" in page
    assert "Programs proven per domain" in capsys.readouterr().out


def test_notebook_display_is_inline_html(results):
    html = R.Report(load(results))._repr_html_()
    assert html.count("<svg") == len(R.PLOTS) and "<table" in html


def test_bench_compare(results, tmp_path, capsys):
    from verifier.cli import main
    assert main(["bench", "compare", results, results]) == 0
    assert "0 difference(s)" in capsys.readouterr().out
    df = load(results)
    i = df.index[(df["object"] == "xdp_eth_drop.o") & (df["domain"] == "zone")]
    df.loc[i, "verdict"] = "reject"
    df.loc[i, "errors"] = 3
    changed = tmp_path / "b.csv"
    df.to_csv(changed, index=False)
    assert main(["bench", "compare", results, str(changed)]) == 1
    out = capsys.readouterr().out
    assert "xdp_eth_drop.o:xdp_eth_drop" in out and "verdict accept -> reject" in out
    assert main(["bench", "report", str(tmp_path / "none.csv")]) == 2
