"""A cross-check campaign: every check of issue 9 on a list of programs, one summary row each
(`bpfcheck crosscheck`), and the `--explain` output of `bpfcheck verify`.

Row keys: program, verdict, errors, runs, instructions, escapes (list of str), skipped,
witnesses ("confirmed/found/errors"), invariant ("paths/states", violations), kernel.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed as hseed, settings


def _settings(n: int, seed: int):
    """Reproducible hypothesis settings (the seed fixes the generated examples)."""
    s = settings(max_examples=max(1, n), database=None, deadline=None,
                 phases=(Phase.explicit, Phase.generate),
                 suppress_health_check=list(HealthCheck))
    return lambda fn: hseed(seed)(s(fn))


def _ptype(program):
    from verifier.platform import get_platform
    plat = get_platform("linux")
    try:
        return plat.program_type_for(program.type, program.section)
    except Exception:
        return plat.program_type(program.type or "xdp")


def difftest(program, report, samples: int, lengths: bool = False, seed: int = 0):
    """Run `samples` generated inputs (and the length sweep) through a `difftest.Monitor`."""
    from verifier.difftest import Input, Monitor
    from verifier.inputs import context_for, inputs, packet_of_length
    mon = Monitor(report)
    if not report.ok:
        return mon
    pt = _ptype(program)
    size = pt.context.size if pt is not None else 0
    ptype = program.type or "xdp"

    @_settings(samples, seed)
    @given(inputs(program, ptype, size))
    def go(inp):
        mon.run(inp)

    go()
    if lengths and getattr(pt, "packet_access", False):
        for n in range(0, 1501):
            mon.run(Input(context_for(ptype, packet_of_length(n, seed), size)))
    return mon


def check_all(program, *, samples: int = 50, lengths: bool = False, kernel: bool = False,
              z3_checks: bool = True, seed: int = 0, report=None) -> dict[str, Any]:
    """Every cross-check of one program: a summary row."""
    from verifier.analyze import Options, analyze
    if report is None:
        report = analyze(program, Options(termination=True))
    row: dict[str, Any] = {
        "program": f"{os.path.basename(program.file or '')}:{program.section}/{program.name}",
        "verdict": "accept" if report.ok else "reject",
        "errors": [f"{e.pc}:{e.kind}" for e in report.errors],
        "runs": 0, "instructions": 0, "escapes": [], "skipped": {},
        "witnesses": "", "witness_details": [], "invariant": "", "invariant_violations": [],
        "kernel": "",
    }
    if report.ok:
        mon = difftest(program, report, samples, lengths, seed)
        row.update(runs=mon.stats.runs, instructions=mon.stats.instructions,
                   escapes=[str(e) for e in mon.escapes], skipped=dict(mon.stats.skipped))
        if z3_checks and len(program.insns) <= 400:
            from verifier.crosscheck import check_invariants
            ic = check_invariants(report)
            row["invariant"] = f"{ic.paths}p/{ic.states}s" + ("" if ic.complete else "+")
            row["invariant_violations"] = ic.violations
    elif z3_checks:
        from verifier.crosscheck import explain
        ex = explain(report)
        conf = sum(1 for x in ex if x.confirmed)
        found = sum(1 for x in ex if x.witness is not None)
        row["witnesses"] = f"{conf}/{found}/{len(ex)}"
        row["witness_details"] = [f"{x.error.pc}:{x.error.kind}: {x.verdict}: {x.observation}"
                                  for x in ex]
    if kernel:
        row["kernel"] = _kernel(program)
    return row


def _kernel(program) -> str:
    from runtime import kernel
    ok, why = kernel.available()
    if not ok:
        return "unavailable"
    try:
        with kernel.KernelMaps(program.maps) as maps:
            loaded = kernel.load(program, maps, program.type)
            os.close(loaded.fd)
        return "accept"
    except kernel.KernelError as exc:
        if "cannot be test-run" in str(exc) or "not created" in str(exc):
            return "n/a"
        return "reject"
    except Exception as exc:  # maps the kernel cannot create here, ...
        return f"n/a ({type(exc).__name__})"


def random_rows(n: int, *, samples: int = 10, kernel: bool = False, seed: int = 0) -> list[dict]:
    """Rows for `n` random programs (`verifier.randprog`), with the kernel's verdict."""
    from verifier.randprog import compare, programs
    rows: list[dict] = []

    @_settings(n, seed)
    @given(programs())
    def go(p):
        object.__setattr__(p, "name", f"rand{len(rows)}")
        row = check_all(p, samples=samples, kernel=False, z3_checks=False)
        if kernel:
            v = compare(p)
            row["kernel"] = ("accept" if v.kernel else "reject: " + v.kernel_reason) \
                if v.kernel is not None else "unavailable"
        rows.append(row)

    go()
    return rows


def agreement(rows: list[dict]) -> dict[str, int]:
    """Counts of (our verdict, kernel verdict) categories over rows that have both."""
    out: dict[str, int] = {}
    for r in rows:
        k = r.get("kernel", "")
        if not k or k.startswith(("n/a", "unavailable")):
            continue
        kv = "accept" if k == "accept" else "reject"
        if kv == r["verdict"]:
            cat = f"both {kv}"
        elif r["verdict"] == "accept":
            cat = "we accept, kernel rejects"
        else:
            cat = "we reject, kernel accepts"
        out[cat] = out.get(cat, 0) + 1
    return out


def format_table(rows: list[dict]) -> str:
    """The summary table, then the details of anything worth a look, then totals."""
    head = f"{'program':58} {'verdict':7} {'runs':>5} {'insns':>8} {'esc':>3} " \
           f"{'witness':>8} {'z3-inv':>10} kernel"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['program'][:58]:58} {r['verdict']:7} {r['runs']:5} "
                     f"{r['instructions']:8} {len(r['escapes']):3} {r['witnesses']:>8} "
                     f"{(r['invariant'] + ('!' if r['invariant_violations'] else '')):>10} "
                     f"{r['kernel'][:40]}")
    for r in rows:
        for e in r["escapes"][:3]:
            lines.append(f"SOUNDNESS ESCAPE {e}")
        for v in r["invariant_violations"][:3]:
            lines.append(f"INVARIANT VIOLATION {r['program']}: {v}")
        for d in r["witness_details"]:
            if "confirmed:" not in d:
                lines.append(f"witness {r['program']}: {d}")
    acc = [r for r in rows if r["verdict"] == "accept"]
    rej = [r for r in rows if r["verdict"] == "reject"]
    errs = sum(len(r["witness_details"]) for r in rej)
    conf = sum(sum(1 for d in r["witness_details"] if "confirmed:" in d) for r in rej)
    lines.append("")
    lines.append(f"programs: {len(rows)} ({len(acc)} accepted, {len(rej)} rejected); "
                 f"concrete runs: {sum(r['runs'] for r in rows)}; instructions checked: "
                 f"{sum(r['instructions'] for r in rows)}; soundness escapes: "
                 f"{sum(len(r['escapes']) for r in rows)}; invariant violations (z3): "
                 f"{sum(len(r['invariant_violations']) for r in rows)}")
    if errs:
        lines.append(f"alarms with a replayed witness: {conf}/{errs}")
    ag = agreement(rows)
    if ag:
        lines.append("kernel agreement: " + ", ".join(f"{k}: {v}" for k, v in sorted(ag.items())))
    return "\n".join(lines)


def print_explanations(report, directory: str | None = None) -> None:
    """`bpfcheck verify --explain`: a witness (input, trace, replay command) or "may be a false
    positive" for each error. Input files go to `directory` (default: a new temporary one)."""
    from verifier.crosscheck import explain, files_stem, run_command, write_witness
    if report.ok:
        return
    directory = directory or os.environ.get("BPFCHECK_WITNESS_DIR") or \
        tempfile.mkdtemp(prefix="bpfcheck-witness-")
    os.makedirs(directory, exist_ok=True)
    for x in explain(report):
        e = x.error
        print(f"  explain {e.pc}: {e.kind}: {x.verdict}")
        if x.witness is None:
            bound = " (the search hit its bounds)" if x.bounded else ""
            print(f"    no input reaches pc {e.pc} and violates the property within "
                  f"the bound{bound}")
            continue
        for line in x.witness.describe().splitlines():
            print(f"    {line}")
        stem = files_stem(directory, report.program, e)
        write_witness(x.witness, stem)
        print(f"    replay: {run_command(report.program, x.witness, stem)}")
        if x.observation:
            print(f"    observed: {x.observation}")


def explain_command(args) -> None:
    """`bpfcheck verify --explain`: after the verdicts, a witness or "may be a false positive"
    for each error of each failing program (text output only)."""
    from cfg.elf import load_programs
    from verifier.analyze import Options, analyze
    from verifier.lint.runner import expand_inputs
    paths, _problems = expand_inputs(list(args.files))
    options = Options(termination=bool(args.termination),
                      allow_division_by_zero=not args.no_division_by_zero,
                      privileged=bool(getattr(args, "privileged", False)))
    for path in paths:
        for program in load_programs(path, args.section, args.function, args.type):
            report = analyze(program, options, domain=args.domain or "zone",
                             platform=args.platform or "linux")
            if report.ok:
                continue
            print(f"{path}: {program.section}/{program.name}: witnesses")
            print_explanations(report, getattr(args, "witness_dir", None))
