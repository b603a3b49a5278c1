"""Compare a plug-in domain (parity) with the built-in ones on a corpus, then write the report.
Usage: python worked_example.py [CORPUS_DIR] [OUT_DIR]   (docs/research.md walks through it)"""
import sys

from domains.registry import get_domain
from verifier.research.harness import run_harness
from verifier.research.report import only_one_proves, summary, wins, write_report

corpus = sys.argv[1] if len(sys.argv) > 1 else "corpus"
out = sys.argv[2] if len(sys.argv) > 2 else "research-out"

# 1. The plug-in is found by name, through its `bpfcheck.domains` entry point.
parity = get_domain("parity")
print("parity domain:", parity.__module__, parity.__name__)

# 2. Every program x every domain, each run in its own worker process (2 at a time here);
#    rows stream into the Parquet file as they finish.
domains = ["interval", "zone", "tnum-interval", "parity"]
df = run_harness([corpus], domains, output=f"{out}/results.parquet", workers=2,
                 time_limit=60, memory_mb=1024)
print(f"{len(df)} runs in {df.attrs['wall_s']:.1f} s")

# 3. The tables: programs proven per domain, and who proves what the others do not.
print(summary(df)[["domain", "programs", "proven", "errors", "time_median_ms"]].to_string(index=False))
print(wins(df)[["proves", "not", "count"]].to_string(index=False))
print(only_one_proves(df).to_string(index=False))

# 4. The report: tables as CSV, plots as PNG and SVG, and index.html showing them.
files = write_report(df, f"{out}/report", title="interval vs zone vs tnum vs parity")
print("report:", files["index.html"])
