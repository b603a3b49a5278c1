"""Reports on harness results: tables (programs proven per domain, programs only one domain
proves, time and memory percentiles), matplotlib plots (time CDF per domain, time against
program size, precision bars) as PNG and SVG, an HTML page showing them, and inline display
in a notebook (`Report(df)` renders itself as HTML)."""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field

__all__ = ["Report", "summary", "only_one_proves", "wins", "percentiles", "write_report", "differences"]

PLOTS = ("time_cdf", "time_vs_size", "precision")


def _runs(df):
    """One row per (program, domain): the median time over repeats, first verdict."""
    df = df.copy()
    df["program"] = df["object"].astype(str) + ":" + df["function"].astype(str)
    g = df.groupby(["program", "domain"], sort=True)
    return g.agg(time_ms=("time_ms", "median"), peak_kib=("peak_kib", "max"),
                 verdict=("verdict", "first"), status=("status", "first"),
                 errors=("errors", "first"), instructions=("instructions", "max"),
                 iterations=("iterations", "first"), widenings=("widenings", "first"),
                 constraints=("constraints", "first")).reset_index()


def summary(df):
    """Per domain: programs, proven (accepted), rejected, failed runs (timeout, memory, crash),
    total and median time, errors reported."""
    import pandas as pd
    runs = _runs(df)
    out = []
    for d, sub in runs.groupby("domain", sort=True):
        out.append({"domain": d, "programs": len(sub),
                    "proven": int((sub["verdict"] == "accept").sum()),
                    "rejected": int((sub["verdict"] == "reject").sum()),
                    "failed": int((sub["status"] != "ok").sum()),
                    "errors": int(pd.to_numeric(sub["errors"], errors="coerce").fillna(0).sum()),
                    "time_total_ms": round(float(sub["time_ms"].sum()), 1),
                    "time_median_ms": round(float(sub["time_ms"].median()), 2)})
    return pd.DataFrame(out)


def only_one_proves(df):
    """Programs that exactly one domain proves (with that domain)."""
    import pandas as pd
    runs = _runs(df)
    ndom = runs["domain"].nunique()
    rows = []
    for prog, sub in runs.groupby("program", sort=True):
        ok = sorted(sub.loc[sub["verdict"] == "accept", "domain"])
        if len(ok) == 1 and ndom > 1:
            rows.append({"program": prog, "domain": ok[0],
                         "instructions": int(sub["instructions"].max())})
    return pd.DataFrame(rows, columns=["program", "domain", "instructions"])


def wins(df):
    """For every ordered pair of domains (A, B): the programs A proves and B does not."""
    import pandas as pd
    runs = _runs(df)
    proven = {d: set(sub.loc[sub["verdict"] == "accept", "program"])
              for d, sub in runs.groupby("domain", sort=True)}
    rows = []
    for a in proven:
        for b in proven:
            if a != b:
                only = sorted(proven[a] - proven[b])
                rows.append({"proves": a, "not": b, "count": len(only),
                             "programs": ", ".join(only[:8]) + (" ..." if len(only) > 8 else "")})
    return pd.DataFrame(rows, columns=["proves", "not", "count", "programs"])


def percentiles(df, qs=(0.5, 0.9, 0.99, 1.0)):
    """Time (ms) and memory (KiB the analysis added to its worker's peak RSS) percentiles per
    domain over the successful runs."""
    import pandas as pd
    ok = df[df["status"] == "ok"]
    rows = []
    for d, sub in ok.groupby("domain", sort=True):
        row = {"domain": d}
        for q in qs:
            row[f"time_p{int(q * 100)}_ms"] = round(float(sub["time_ms"].quantile(q)), 2)
        for q in qs:
            row[f"mem_p{int(q * 100)}_kib"] = int(pd.to_numeric(sub["mem_kib"]).fillna(0).quantile(q))
        rows.append(row)
    return pd.DataFrame(rows)


def differences(a, b):
    """Per program and domain present in both: where verdict, error count or instruction count
    differ, and the time ratio (b / a)."""
    import pandas as pd
    ra, rb = _runs(a), _runs(b)
    m = ra.merge(rb, on=["program", "domain"], suffixes=("_a", "_b"), how="outer", indicator="side")
    rows = []
    for r in m.itertuples():
        if r.side != "both":
            rows.append({"program": r.program, "domain": r.domain,
                         "change": "only in A" if r.side == "left_only" else "only in B"})
            continue
        changes = []
        if r.verdict_a != r.verdict_b or r.status_a != r.status_b:
            changes.append(f"verdict {r.verdict_a or r.status_a} -> {r.verdict_b or r.status_b}")
        if r.errors_a != r.errors_b and not (pd.isna(r.errors_a) and pd.isna(r.errors_b)):
            changes.append(f"errors {r.errors_a} -> {r.errors_b}")
        if r.instructions_a != r.instructions_b and not (pd.isna(r.instructions_a) and pd.isna(r.instructions_b)):
            changes.append(f"instructions {r.instructions_a} -> {r.instructions_b}")
        ratio = (r.time_ms_b / r.time_ms_a) if r.time_ms_a and r.time_ms_a == r.time_ms_a else None
        rows.append({"program": r.program, "domain": r.domain, "change": "; ".join(changes),
                     "time_a_ms": r.time_ms_a, "time_b_ms": r.time_ms_b,
                     "time_ratio": None if ratio is None else round(ratio, 3)})
    return pd.DataFrame(rows, columns=["program", "domain", "change", "time_a_ms", "time_b_ms",
                                       "time_ratio"])


# ---- plots
def _figures(df) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    runs = _runs(df)
    ok = runs[runs["status"] == "ok"]
    figs = {}
    fig, ax = plt.subplots(figsize=(6, 4))
    for d, sub in ok.groupby("domain", sort=True):
        t = np.sort(sub["time_ms"].to_numpy(dtype=float))
        ax.step(t, np.arange(1, len(t) + 1) / len(t), where="post", label=d)
    ax.set_xscale("log")
    ax.set_xlabel("analysis time per program (ms, log)")
    ax.set_ylabel("fraction of programs")
    ax.set_title("Time per program (CDF)")
    ax.legend()
    ax.grid(alpha=0.3)
    figs["time_cdf"] = fig
    fig, ax = plt.subplots(figsize=(6, 4))
    for d, sub in ok.groupby("domain", sort=True):
        ax.scatter(sub["instructions"].astype(float), sub["time_ms"].astype(float), s=14,
                   alpha=0.7, label=d)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("program size (instructions)")
    ax.set_ylabel("analysis time (ms)")
    ax.set_title("Time against program size")
    ax.legend()
    ax.grid(alpha=0.3)
    figs["time_vs_size"] = fig
    s = summary(df)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8, 4))
    x = np.arange(len(s))
    for a, col, title, color in ((ax, "proven", "programs proven", "tab:green"),
                                 (ax2, "errors", "errors reported", "tab:red")):
        bars = a.bar(x, s[col], 0.6, color=color)
        a.bar_label(bars)
        a.set_xticks(x, s["domain"], rotation=20)
        a.set_title(title)
    fig.suptitle("Precision per domain")
    fig.tight_layout()
    figs["precision"] = fig
    return figs


def write_plots(df, outdir: str) -> list[str]:
    """The three plots as PNG and SVG in `outdir`; returns the file names written."""
    import matplotlib.pyplot as plt
    os.makedirs(outdir, exist_ok=True)
    written = []
    for name, fig in _figures(df).items():
        for ext in ("png", "svg"):
            path = os.path.join(outdir, f"{name}.{ext}")
            fig.savefig(path, bbox_inches="tight", dpi=110 if ext == "png" else None)
            written.append(os.path.basename(path))
        plt.close(fig)
    return written


@dataclass
class Report:
    """The tables of one results frame; `to_html()` / `_repr_html_()` (notebooks) show them
    with the plots (inline SVG)."""

    df: object
    title: str = "bpfcheck domain comparison"
    tables: dict = field(init=False)

    def __post_init__(self) -> None:
        self.tables = {"Programs proven per domain": summary(self.df),
                       "Programs only one domain proves": only_one_proves(self.df),
                       "Programs one domain proves and another does not": wins(self.df),
                       "Time and memory percentiles": percentiles(self.df)}

    def to_html(self, images: dict[str, str] | None = None) -> str:
        """An HTML page: tables, then each plot (`images`: plot name -> file to link; inline
        SVG otherwise)."""
        parts = [f"<h1>{html.escape(self.title)}</h1>",
                 f"<p>{len(self.df)} runs, {self.df['domain'].nunique()} domain(s), "
                 f"{(self.df['object'] + ':' + self.df['function']).nunique()} program(s).</p>"]
        for name, t in self.tables.items():
            parts.append(f"<h2>{html.escape(name)}</h2>")
            parts.append(t.to_html(index=False, border=0) if len(t) else "<p>none</p>")
        parts.append("<h2>Plots</h2>")
        if images is not None:
            for name in PLOTS:
                parts.append(f'<figure><img src="{html.escape(images[name])}" alt="{name}">'
                             f"<figcaption>{name}</figcaption></figure>")
        else:
            import io

            import matplotlib.pyplot as plt
            for name, fig in _figures(self.df).items():
                buf = io.StringIO()
                fig.savefig(buf, format="svg", bbox_inches="tight")
                plt.close(fig)
                svg = buf.getvalue()
                parts.append(svg[svg.index("<svg"):])
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}}
figure{{display:inline-block;margin:1em}}img{{max-width:28em}}</style></head>
<body>
{body}
</body></html>
"""


def write_report(df, outdir: str, title: str = "bpfcheck domain comparison") -> dict[str, str]:
    """Tables (CSV), plots (PNG, SVG) and `index.html` in `outdir`; returns name -> path."""
    os.makedirs(outdir, exist_ok=True)
    rep = Report(df, title)
    files = {}
    for name, t in zip(("summary", "only_one_proves", "wins", "percentiles"), rep.tables.values()):
        path = os.path.join(outdir, f"{name}.csv")
        t.to_csv(path, index=False)
        files[name] = path
    for f in write_plots(df, outdir):
        files[f] = os.path.join(outdir, f)
    page = _PAGE.format(title=html.escape(title),
                        body=rep.to_html({n: f"{n}.svg" for n in PLOTS}))
    with open(os.path.join(outdir, "index.html"), "w", encoding="utf-8") as f:
        f.write(page)
    files["index.html"] = os.path.join(outdir, "index.html")
    return files
