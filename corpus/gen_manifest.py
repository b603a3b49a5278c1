#!/usr/bin/env python3
"""Regenerate corpus/manifest.yaml from the sources (and kernel_results.tsv when present).

Everything the manifest says is read from the C sources, so it cannot drift from them:
- a program is a `SEC("name")` line followed by `int function(` on the next line;
- its description is the one-line comment just above the SEC line (the file's opening comment
  for unsafe programs, which describes the bug);
- an unsafe program's verdict, kind and line come from its `/* BUG: <kind> */` marker (an
  object with a marker holds that one unsafe program);
- `kernel` (privileged root) and `kernel_unprivileged` (CAP_PERFMON and CAP_SYS_ADMIN dropped)
  come from kernel_check.sh's results file, each with its `_error` (the kernel's complaint)
  when the object was refused.
The eBPF for Windows programs (windows/src/*.c, same conventions) follow the Linux ones with
`platform: windows` and `kernel: not-applicable` (the Linux kernel cannot check them).

Usage: python3 gen_manifest.py   (run from anywhere; writes corpus/manifest.yaml)
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SEC_RE = re.compile(r'^SEC\("([^"]+)"\)\s*$')
FUNC_RE = re.compile(r"^int\s+(\w+)\s*\(")
BUG_RE = re.compile(r"/\*\s*BUG:\s*([a-z-]+)\s*\*/")
COMMENT_RE = re.compile(r"^/\*\s*(.*?)\s*\*/$")

# libbpf section prefixes -> libbpf program type names (longest prefix first).
TYPES = [
    ("cgroup_skb/", "cgroup_skb"),
    ("kretprobe/", "kprobe"),
    ("kprobe/", "kprobe"),
    ("tracepoint/", "tracepoint"),
    ("classifier", "sched_cls"),
    ("socket", "socket_filter"),
    ("xdp", "xdp"),
    ("tc", "sched_cls"),
]

# eBPF for Windows section names (netebpfext) -> program type names (exact names).
WINDOWS_TYPES = [
    ("xdp", "xdp"),
    ("bind", "bind"),
    ("cgroup/connect4", "cgroup_sock_addr"),
    ("cgroup/connect6", "cgroup_sock_addr"),
    ("cgroup/recv_accept4", "cgroup_sock_addr"),
    ("cgroup/recv_accept6", "cgroup_sock_addr"),
    ("sockops", "sock_ops"),
]

# platform -> (its directory relative to corpus/, its section table)
PLATFORMS = {"linux": ("", TYPES), "windows": ("windows/", WINDOWS_TYPES)}


def program_type(section: str, platform: str = "linux") -> str:
    """The program type name for a section name (libbpf's on Linux)."""
    for prefix, name in PLATFORMS[platform][1]:
        if section == prefix or section.startswith(prefix) and prefix.endswith("/"):
            return name
    raise ValueError(f"unknown section {section!r}")


def header_comment(lines: list[str]) -> str:
    """The file's opening /* ... */ comment as one line."""
    text = []
    for line in lines:
        text.append(line.strip().lstrip("/*").rstrip("*/").strip(" *"))
        if "*/" in line:
            break
    return " ".join(t for t in text if t)


def kernel_results() -> dict[tuple[str, str], tuple[str, str]]:
    """(object, mode) -> (result, message) from kernel_results.tsv, if it exists."""
    path = HERE / "kernel_results.tsv"
    if not path.exists():
        return {}
    with path.open() as fh:
        return {(r["object"], r["mode"]): (r["result"], r["message"])
                for r in csv.DictReader(fh, delimiter="\t")}


def entries(platform: str = "linux") -> list[dict]:
    """One manifest entry per program of a platform's sources (corpus/src/*.c for Linux)."""
    root = PLATFORMS[platform][0]
    kernel = kernel_results() if platform == "linux" else {}
    out = []
    for src in sorted((HERE / root / "src").glob("*.c")):
        lines = src.read_text().splitlines()
        bugs = [(i + 1, m.group(1)) for i, l in enumerate(lines) if (m := BUG_RE.search(l))]
        if len(bugs) > 1:
            raise SystemExit(f"{src.name}: more than one BUG marker")
        progs = []
        for i, line in enumerate(lines[:-1]):
            sec = SEC_RE.match(line)
            func = FUNC_RE.match(lines[i + 1])
            if sec and func:
                above = COMMENT_RE.match(lines[i - 1].strip()) if i else None
                progs.append((sec.group(1), func.group(1), above.group(1) if above else ""))
        if bugs and len(progs) != 1:
            raise SystemExit(f"{src.name}: an unsafe object must hold exactly one program")
        obj = f"{root}build/{src.stem}.o"
        for section, function, desc in progs:
            entry = {
                "object": obj,
                "source": f"{root}src/{src.name}",
                "section": section,
                "function": function,
                "type": program_type(section, platform),
                "platform": platform,
                "cpu": "v4" if "_v4_" in f"_{src.stem}_" else "generic",
                "verdict": "reject" if bugs else "accept",
            }
            if bugs:
                entry["kind"] = bugs[0][1]
                entry["line"] = bugs[0][0]
                entry["description"] = header_comment(lines).removeprefix("UNSAFE ")
            else:
                entry["description"] = desc or header_comment(lines)
            if platform != "linux":
                entry["kernel"] = "not-applicable"
            for mode, field in (("privileged", "kernel"), ("unprivileged", "kernel_unprivileged")):
                if (obj, mode) in kernel:
                    result, message = kernel[(obj, mode)]
                    entry[field] = result
                    if result != "accept" and message:
                        entry[field + "_error"] = message
            out.append(entry)
    return out


HEADER = """\
# The corpus: every program, its expected verdict and (unsafe ones) the violated property.
# Generated by gen_manifest.py from the sources and kernel_results.tsv; do not edit by hand.
# Paths are relative to corpus/. Fields are described in README.md.
"""


def main() -> None:
    """Write manifest.yaml."""
    programs = [e for platform in PLATFORMS for e in entries(platform)]
    body = yaml.safe_dump({"programs": programs}, sort_keys=False, width=1000)
    (HERE / "manifest.yaml").write_text(HEADER + body)


if __name__ == "__main__":
    main()
