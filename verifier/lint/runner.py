"""The lint run behind `bpfcheck verify`: inputs (files, directories, globs) -> every program of
every object -> results in input order, verified by parallel worker processes under per-program
time and memory budgets, with the sqlite cache and the configuration's suppressions.

A result is the JSON entry of `verifier.report.result_json` (file, section, function, type, ok,
errors, warnings, stats) plus `status` (pass, fail, timeout, memory), `cached`, `suppressed`
and, on each error and warning, a structured `location` (C file, line, column, text).
Unusable inputs are `Problem`s: one line each, the other inputs are still checked.
"""
from __future__ import annotations

import copy
import glob
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

from cfg.errors import BpfcheckError
from verifier.lint.config import LintConfig, Suppression

BUDGET_KINDS = {"time-budget": "BPF901", "memory-budget": "BPF902"}
DEFAULT_TIMEOUT = 300.0   # seconds per program
DEFAULT_MEMORY = 4096     # MiB per program


@dataclass(frozen=True)
class RunOptions:
    """What to check (these decide the verdicts and are part of the cache key) and how to run
    (jobs, budgets, cache)."""

    domain: str = "zone"
    platform: str = "linux"
    termination: bool = False
    privileged: bool = False
    division_by_zero: bool = False
    section: str | None = None
    function: str | None = None
    type: str | None = None
    types: tuple[tuple[str, str], ...] = ()   # section -> program type (from the config)
    verbose: bool = False
    jobs: int = 0                  # 0: the number of cores
    timeout: float = DEFAULT_TIMEOUT   # seconds per program, 0 = none
    memory: int = DEFAULT_MEMORY       # MiB per program (worker growth), 0 = none
    cache: bool = True
    cache_dir: str = ".bpfcheck-cache"
    progress: bool = False

    def settings(self) -> dict[str, Any]:
        """The options the verdict depends on (part of every cache key)."""
        return {k: v for k, v in asdict(self).items()
                if k in ("domain", "platform", "termination", "privileged", "division_by_zero",
                         "section", "function", "type", "types", "verbose")}

    def workers(self) -> int:
        """--jobs, at most 4 per core (each worker is a process holding the verifier: an
        absurd count must not fork thousands of them)."""
        try:
            cores = max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            cores = max(1, os.cpu_count() or 1)
        return min(self.jobs, 4 * cores) if self.jobs > 0 else cores


@dataclass(frozen=True)
class Problem:
    """An input that could not be checked: `path` and a one-line `message`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class LintRun:
    """The outcome: results and problems in input order, stale suppressions, cache figures."""

    items: list[dict[str, Any] | Problem]
    stale: list[Suppression] = field(default_factory=list)
    cache_hits: int = 0
    cache_misses: int = 0
    elapsed: float = 0.0
    objects: int = 0

    @property
    def results(self) -> list[dict[str, Any]]:
        return [i for i in self.items if isinstance(i, dict)]

    @property
    def problems(self) -> list[Problem]:
        return [i for i in self.items if isinstance(i, Problem)]


# ---------------------------------------------------------------------------------- inputs

def expand_inputs(specs: list[str]) -> tuple[list[str], list[Problem]]:
    """Files, directories (every `*.o` below, sorted) and globs -> object paths in order,
    without duplicates; a missing path or a pattern matching nothing is a Problem."""
    paths: list[str] = []
    problems: list[Problem] = []
    seen: set[str] = set()

    def add(p: str) -> None:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            paths.append(p)

    def add_dir(d: str) -> int:
        n = 0
        for dirpath, dirnames, files in os.walk(d):
            dirnames[:] = sorted(x for x in dirnames if not x.startswith("."))
            for name in sorted(files):
                if name.endswith(".o"):
                    add(os.path.join(dirpath, name))
                    n += 1
        return n

    for spec in specs:
        if os.path.isdir(spec):
            if not add_dir(spec):
                problems.append(Problem(spec, "no .o files in this directory"))
        elif os.path.exists(spec):
            add(spec)
        elif glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                problems.append(Problem(spec, "no file matches this pattern"))
            for m in matches:
                if os.path.isdir(m):
                    add_dir(m)
                else:
                    add(m)
        else:
            problems.append(Problem(spec, "no such file or directory"))
    return paths, problems


# ---------------------------------------------------------------------------------- analysis

def analyze_entry(program: Any, opts: RunOptions) -> dict[str, Any]:
    """Verify one program and return its result entry (runs in a worker process)."""
    from verifier.analyze import Options, analyze
    from verifier.report import format_text, result_json

    options = Options(termination=opts.termination, privileged=opts.privileged,
                      allow_division_by_zero=not opts.division_by_zero,
                      collect_invariants=opts.verbose)
    override = opts.type or dict(opts.types).get(program.section) or \
        _glob_type(dict(opts.types), program.section)
    report = analyze(program, options, domain=opts.domain, platform=opts.platform,
                     program_type=override)
    entry = result_json(report)
    for out, err in zip(entry["errors"], report.errors):
        out["location"] = _location(err.source)
    for out, err in zip(entry["warnings"], report.warnings):
        out["location"] = _location(err.source)
    entry["status"] = "pass" if report.ok else "fail"
    entry["domain"] = report.domain
    if opts.verbose:
        full, base = format_text(report, True), format_text(report, False)
        entry["invariants_text"] = full[len(base):].lstrip("\n")
    return entry


def _glob_type(types: dict[str, str], section: str) -> str | None:
    import fnmatch
    for pattern, ptype in types.items():
        if fnmatch.fnmatchcase(section or "", pattern):
            return ptype
    return None


def _location(src: Any) -> dict[str, Any] | None:
    if src is None:
        return None
    return {"file": src.file, "line": src.line, "column": getattr(src, "column", 0) or 0,
            "text": (getattr(src, "text", "") or "").strip()}


def budget_entry(program_id: dict[str, Any], kind: str, message: str) -> dict[str, Any]:
    """The result of a program whose analysis exceeded its time or memory budget."""
    return {**program_id, "ok": False, "status": "timeout" if kind == "time-budget" else "memory",
            "errors": [{"pc": None, "source": None, "kind": kind, "code": BUDGET_KINDS[kind],
                        "message": message, "detail": "", "location": None}],
            "warnings": [], "stats": {}}


# ---------------------------------------------------------------------------------- run

def run_lint(specs: list[str], opts: RunOptions, config: LintConfig | None = None,
             emit: Callable[[dict[str, Any] | Problem], None] | None = None) -> LintRun:
    """Check every program of every input; `emit` gets each result or problem in input order
    as soon as it and everything before it is known."""
    from verifier.lint.cache import Cache, code_fingerprint, object_key, program_key

    t0 = time.perf_counter()
    config = config or LintConfig()
    paths, problems = expand_inputs(specs)
    version = code_fingerprint() if opts.cache else ""
    cache = None
    if opts.cache:
        try:
            cache = Cache(opts.cache_dir)
        except Exception as exc:  # an unwritable cache directory must not stop the run
            print(f"bpfcheck: warning: cache disabled: {exc}", file=sys.stderr)
    settings = opts.settings()
    pool = None
    try:
        slots: list[Any] = list(problems)   # input problems first: they are known at once
        tasks: list[tuple[int, Any]] = []   # (slot index, Program)
        keys: dict[int, str] = {}
        objects_to_store: list[tuple[str, list[dict[str, Any]]]] = []
        for path in paths:
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                slots.append(Problem(path, exc.strerror or str(exc)))
                continue
            okey = object_key(data, settings, version) if cache else ""
            known = cache.get_object(okey) if cache else None
            if known is not None:
                cached = cache.get_many(p["key"] for p in known)
                if len(cached) == len(known):
                    for p in known:
                        slots.append(_relabel(cached[p["key"]], path))
                    continue
            if pool is None:   # the workers import the verifier while we read the objects
                from verifier.lint.pool import Pool
                pool = Pool(opts)
                pool.start(opts.workers())
            try:
                programs = _load(path, data, opts)
            except BpfcheckError as exc:
                message = str(exc)  # the loader's messages start with the path already
                slots.append(Problem(path, message.removeprefix(f"{path}: ")))
                continue
            listing = []
            for prog in programs:
                idx = len(slots)
                pkey = program_key(prog, settings, version) if cache else ""
                listing.append({"key": pkey, "section": prog.section, "function": prog.name})
                hit = cache.get(pkey) if cache else None
                if hit is not None:
                    slots.append(_relabel(hit, path))
                else:
                    slots.append(None)
                    tasks.append((idx, prog))
                    keys[idx] = pkey
            if cache:
                objects_to_store.append((okey, listing))

        used: set[int] = set()
        printer = _InOrder(slots, emit, lambda r: suppress(r, config.suppressions, used))
        bar = _progress_bar(len(tasks)) if opts.progress and tasks else None
        printer.flush()
        fresh: list[tuple[str, dict[str, Any]]] = []

        def done(idx: int, res: dict[str, Any] | Problem) -> None:
            slots[idx] = res
            if isinstance(res, dict) and res.get("status") in ("pass", "fail") and idx in keys:
                fresh.append((keys[idx], copy.deepcopy(res)))
            if bar is not None:
                bar.update(1)
            printer.flush()

        if tasks:
            pool.run(tasks, done)
        if bar is not None:
            bar.close()
        if cache:
            try:
                cache.put_many(fresh)
                stored = {k for k, _ in fresh}
                for okey, listing in objects_to_store:
                    if all(p["key"] in stored or cache.get(p["key"]) is not None for p in listing):
                        cache.put_object(okey, listing)
            except Exception as exc:
                print(f"bpfcheck: warning: cache not updated: {exc}", file=sys.stderr)
        printer.flush()
        run = LintRun(slots, cache_hits=cache.hits if cache else 0,
                      cache_misses=len(tasks), objects=len(paths))
        run.stale = [s for n, s in enumerate(config.suppressions) if n not in used]
        run.elapsed = time.perf_counter() - t0
        return run
    finally:
        if pool is not None:
            pool.close()
        if cache is not None:
            cache.close()


def _load(path: str, data: bytes, opts: RunOptions) -> list[Any]:
    from cfg.elf import load_object, select
    obj = load_object(path, data)
    programs = list(obj.programs)
    if opts.section is not None or opts.function is not None:
        programs = select(programs, opts.section, opts.function)
    if not programs:
        if opts.section is not None or opts.function is not None:
            obj.program(opts.section, opts.function)  # raises the descriptive ElfError
        raise BpfcheckError("no eBPF programs in this object")
    return programs


def _relabel(entry: dict[str, Any], path: str) -> dict[str, Any]:
    """A cached result shown for the object at `path` (the same program may live elsewhere)."""
    out = dict(entry)
    out["file"] = path
    out["cached"] = True
    return out


def suppress(r: dict[str, Any], suppressions: tuple[Suppression, ...], used: set[int]) -> None:
    """Move the suppressed errors of result `r` into `r["suppressed"]` (with the reason) and
    recompute `ok`/`status`; `used` collects the indexes of the suppressions that matched."""
    r.setdefault("suppressed", [])
    if not suppressions or r.get("status") not in ("pass", "fail"):
        return
    keep = []
    for err in r["errors"]:
        hit = next((n for n, s in enumerate(suppressions)
                    if s.matches(r["file"], r["section"], r["function"], err["kind"])), None)
        if hit is None:
            keep.append(err)
        else:
            used.add(hit)
            r["suppressed"].append({**err, "reason": suppressions[hit].reason})
    r["errors"] = keep
    r["ok"] = not keep
    r["status"] = "pass" if r["ok"] else "fail"


class _InOrder:
    """Hands finished slots to `emit` in slot order."""

    def __init__(self, slots: list[Any], emit: Callable | None, prepare: Callable) -> None:
        self.slots = slots
        self.emit = emit
        self.prepare = prepare
        self.next = 0

    def flush(self) -> None:
        while self.next < len(self.slots) and self.slots[self.next] is not None:
            if isinstance(self.slots[self.next], dict):
                self.prepare(self.slots[self.next])
            if self.emit is not None:
                self.emit(self.slots[self.next])
            self.next += 1


def _progress_bar(total: int):
    """A tqdm bar on stderr (the caller decides it is a terminal)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    tqdm.monitor_interval = 0
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except OSError:
        size = os.terminal_size((0, 0))
    known = size.columns > 0 and size.lines > 0
    # a terminal of unknown size (0 x 0) would get no bar at all
    return tqdm(total=total, unit="prog", file=sys.stderr, leave=False, dynamic_ncols=known,
                ncols=None if known else 80, nrows=None if known else 24)


def iter_errors(results: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(result, error) pairs over all results."""
    for r in results:
        for e in r["errors"]:
            yield r, e


# ---------------------------------------------------------------------------------- the command

def add_arguments(p: Any) -> None:
    """The flags of `bpfcheck verify` (kept light: nothing heavy is imported here)."""
    from verifier.lint.formats import FORMATS
    p.add_argument("files", nargs="+", metavar="PATH",
                   help="object files, directories (every .o below) or glob patterns")
    p.add_argument("--section", help="only programs of this ELF section")
    p.add_argument("--function", help="only this function")
    p.add_argument("--type", help="program type (overrides the section's)")
    p.add_argument("--domain", default=None, help="numeric domain: zone (default) or interval")
    p.add_argument("--platform", default=None, help="linux (default) or windows")
    p.add_argument("--termination", action="store_true", default=None,
                   help="prove every loop terminates")
    p.add_argument("--no-division-by-zero", action="store_true", default=None,
                   help="report divisions that may divide by zero")
    p.add_argument("--privileged", action="store_true", default=None,
                   help="root programs: allow comparing pointers with numbers")
    p.add_argument("-v", "--verbose", action="store_true", help="print the invariants")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (default), json, sarif (2.1.0), github (annotations), junit (XML)")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--baseline", metavar="OLD.json",
                   help="compare with an earlier --output: new failures, fixed, changes")
    p.add_argument("--new-only", action="store_true",
                   help="with --baseline: fail only on new failures")
    p.add_argument("--fail-on", choices=("error", "warning"), default=None,
                   help="exit 1 on errors (default) or also on warnings")
    p.add_argument("--expect", metavar="MANIFEST.yaml",
                   help="expected verdicts (the corpus manifest): exit 1 on any difference")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="worker processes (default: the number of cores)")
    p.add_argument("--timeout", type=float, default=None,
                   help=f"seconds per program (default {DEFAULT_TIMEOUT:g}, 0 = none)")
    p.add_argument("--memory", type=int, default=None,
                   help=f"MiB a program may add to its worker (default {DEFAULT_MEMORY}, 0 = none)")
    p.add_argument("--no-cache", action="store_true", help="verify everything again")
    p.add_argument("--cache-dir", default=".bpfcheck-cache", help="where the cache lives")
    p.add_argument("--config", metavar="FILE",
                   help="configuration file (default: .bpfcheck.toml or pyproject.toml "
                        "[tool.bpfcheck], searched upwards)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="text: print only failing programs and the summary")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")


def verify_command(args: Any) -> int:
    """`bpfcheck verify`: run, print in the chosen format, exit 0 / 1 / 2."""
    from verifier.lint import formats as F
    from verifier.lint.config import load_config, with_overrides

    config = load_config(args.config)
    config = with_overrides(config, **{
        "domain": args.domain, "platform": args.platform, "termination": args.termination,
        "privileged": args.privileged, "division-by-zero": args.no_division_by_zero,
        "fail-on": args.fail_on, "jobs": args.jobs, "timeout": args.timeout,
        "memory": args.memory})
    get = config.get
    text = args.format == "text"
    progress = (not args.no_progress and sys.stderr.isatty() and not os.environ.get("CI"))
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty()
                                       and not os.environ.get("NO_COLOR") and text)
    opts = RunOptions(
        domain=get("domain", "zone"), platform=get("platform", "linux"),
        termination=bool(get("termination", False)), privileged=bool(get("privileged", False)),
        division_by_zero=bool(get("division-by-zero", False)), section=args.section,
        function=args.function, type=args.type, types=tuple(sorted(config.types.items())),
        verbose=args.verbose, jobs=int(get("jobs", 0)),
        timeout=float(get("timeout", DEFAULT_TIMEOUT)), memory=int(get("memory", DEFAULT_MEMORY)),
        cache=not args.no_cache, cache_dir=args.cache_dir, progress=progress)
    for name, value in (("jobs", opts.jobs), ("timeout", opts.timeout), ("memory", opts.memory)):
        if value < 0:
            raise BpfcheckError(f"--{name} must be 0 or more, not {value:g}")
    if opts.domain not in ("zone", "interval"):
        from domains.registry import get_domain
        try:
            get_domain(opts.domain)
        except ValueError as exc:
            raise BpfcheckError(str(exc)) from None
    manifest = None
    if args.expect:
        from verifier.lint.expect import load_manifest
        manifest = load_manifest(args.expect)
    baseline = None
    if args.baseline:
        from verifier.lint.baseline import load_results
        baseline = load_results(args.baseline)
    verdicts: dict[int, str | None] = {}

    def say(line: str) -> None:
        if progress:
            from tqdm import tqdm
            tqdm.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def emit(item: dict[str, Any] | Problem) -> None:
        if isinstance(item, Problem):
            from verifier.cli import fail
            fail(str(item))
            return
        expected = None
        if manifest is not None:
            from verifier.lint.expect import check
            expected = check(item, manifest)
            verdicts[id(item)] = expected
        if text:
            failing = not item["ok"] or (expected or "").startswith("unexpected")
            if expected == "as expected":
                failing = False
            if not args.quiet or failing:
                say(F.text_entry(item, color, expected))

    run = run_lint(args.files, opts, config, emit)
    for s in run.stale:
        print(f"bpfcheck: warning: stale suppression (matches nothing): {s.describe()}",
              file=sys.stderr)
    version = f"bpfcheck {_version()}"
    extra: dict[str, Any] = {}
    comparison = None
    if baseline is not None:
        from verifier.lint.baseline import compare
        comparison = compare(baseline["results"], run.results)
        extra["baseline"] = {"file": args.baseline, **comparison.as_json()}
    if manifest is not None:
        extra["expect"] = {"manifest": args.expect,
                           "unexpected": [{"file": r["file"], "section": r["section"],
                                           "function": r["function"], "why": verdicts[id(r)]}
                                          for r in run.results
                                          if (verdicts.get(id(r)) or "").startswith("unexpected")]}
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(F.format_json(run, version, extra) + "\n")
        except OSError as exc:
            raise BpfcheckError(f"{args.output}: {exc.strerror or exc}") from None
    if text:
        if comparison is not None:
            from verifier.lint.baseline import format_table
            say(f"compared with {args.baseline}:")
            say(format_table(comparison, changed_only=True))
        if manifest is not None:
            n = len(extra["expect"]["unexpected"])
            say(f"expected verdicts ({args.expect}): "
                + ("all as expected" if not n else f"{n} unexpected"))
        say(F.summary(run, color))
    elif args.format == "json":
        print(F.format_json(run, version, extra))
    elif args.format == "sarif":
        print(F.format_sarif(run, version))
    elif args.format == "github":
        out = F.format_github(run, config.path)
        if out:
            print(out)
    elif args.format == "junit":
        print(F.format_junit(run))
    return exit_code(run, get("fail-on", "error"), comparison if args.new_only else None,
                     manifest is not None and not extra["expect"]["unexpected"]
                     if manifest is not None else None)


def exit_code(run: LintRun, fail_on: str = "error", new_only: Any = None,
              expected_ok: bool | None = None) -> int:
    """2 when an input was unusable; else 1 when the policy says the run fails; else 0.
    `new_only` (a baseline Comparison): fail only on new failures. `expected_ok`: the
    manifest's verdicts decide instead of the programs' own."""
    if run.problems:
        return 2
    if expected_ok is not None:
        failed = not expected_ok
    elif new_only is not None:
        failed = bool(new_only.new_failures)
    else:
        failed = any(not r["ok"] for r in run.results)
    if fail_on == "warning" and new_only is None and expected_ok is None:
        failed = failed or bool(run.stale) or any(r.get("warnings") for r in run.results)
    return 1 if failed else 0


def _version() -> str:
    from verifier.cli import _version as v
    return v()
