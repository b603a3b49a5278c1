"""`bpfcheck run`: run a `.data` test, or a program of an object file on a packet / context.

`bpfcheck run FILE.data [--format json]` runs a uBPF / bpf_conformance test and checks r0
against `-- result` or that the run fails when the file has `-- error` (error texts differ
between runtimes, so any trap matches); exit 0 on pass, 1 on fail. JSON:
{"r0": int|null, "error": str|null, "passed": bool}.

`bpfcheck run FILE.o --section S [--packet FILE | --ctx FILE | --mem FILE] [--maps maps.json]
[--repeat N]` prints r0, the maps the run changed, trace_printk output and the time per run;
exit 0 when the program exits normally, 1 when it traps.
"""
from __future__ import annotations

import argparse
import json
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="run a .data test or a program (interpreter, JITs, AOT)",
        description="Run a .data test file (pass/fail against its expected result) or a "
                    "program of an eBPF object on a packet, context or memory.")
    parser.add_argument("file", help=".data test or eBPF object file (.o)")
    parser.add_argument("--section", help="program section (objects with several programs)")
    parser.add_argument("--function", help="program function name")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--packet", help="file with the packet bytes (xdp_md or __sk_buff)")
    src.add_argument("--ctx", help="file with raw context bytes (r1 points at them)")
    src.add_argument("--mem", help="file with memory bytes (r1 = memory, r2 = length)")
    parser.add_argument("--maps", help="JSON file with initial map contents "
                                       '({"map": {"key hex": "value hex"}})')
    parser.add_argument("--repeat", type=int, default=1, help="run N times (maps persist)")
    chk = parser.add_mutually_exclusive_group()
    chk.add_argument("--checked", dest="checked", action="store_true", default=None,
                     help="trap with a detailed message on a bad access (the default), and "
                          "on the interpreter (chosen when --checked is given) also report "
                          "uninitialised reads, pointer leaks, bad helper memory arguments "
                          "and exit values out of range")
    chk.add_argument("--unchecked", dest="checked", action="store_false",
                     help="cheaper trap messages")
    parser.add_argument("--engine", default=None,
                        help="interp, jit (native x86-64), pyjit (portable) or another "
                             "registered engine; default: jit on x86-64 Linux, pyjit elsewhere "
                             "(the interpreter with --trace)")
    parser.add_argument("--unverified", action="store_true",
                        help="compile natively without verifying first: a program that is "
                             "not safe may corrupt or crash the bpfcheck process itself")
    parser.add_argument("--budget", type=int, default=10_000_000,
                        help="instruction budget per run")
    parser.add_argument("--seed", type=int, default=0, help="seed for get_prandom_u32")
    parser.add_argument("--trace", action="store_true",
                        help="print every executed instruction with r0-r5 (interpreter; one "
                             "run)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--platform", choices=("linux", "windows"), default="linux",
                        help="the object's platform: windows runs eBPF for Windows programs "
                             "(their contexts, helper numbers and map types)")
    parser.set_defaults(handler=run_command)


ACTIONS = {"xdp": ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"),
           "sched_cls": {0: "TC_ACT_OK", 1: "TC_ACT_RECLASSIFY", 2: "TC_ACT_SHOT",
                         3: "TC_ACT_PIPE", 4: "TC_ACT_STOLEN", 7: "TC_ACT_REDIRECT",
                         0xFFFFFFFFFFFFFFFF: "TC_ACT_UNSPEC"},
           "windows/xdp": {1: "XDP_PASS", 2: "XDP_DROP", 3: "XDP_TX"},
           "windows/bind": ("BIND_PERMIT", "BIND_DENY", "BIND_REDIRECT"),
           "windows/sock_addr": ("BPF_SOCK_ADDR_VERDICT_REJECT", "BPF_SOCK_ADDR_VERDICT_PROCEED")}


def _action(program_type: str, r0: int) -> str:
    names = ACTIONS.get(program_type)
    if isinstance(names, tuple):
        return f", {names[r0]}" if r0 < len(names) else ""
    if isinstance(names, dict) and r0 in names:
        return f", {names[r0]}"
    return ""


def _tracer(program):
    """A trace hook printing `pc: instruction  r0=... r5=...` for each executed instruction."""
    from cfg.asm import format_insn

    def hook(pc, regs, memory):
        try:
            text = format_insn(program.at(pc), pc)
        except (KeyError, IndexError):
            text = "?"
        print(f"  {pc:5}: {text:40} " + " ".join(f"r{i}={regs[i]:#x}" for i in range(6)))
    return hook


def _engine(name: str):
    from cfg.errors import BpfcheckError
    from runtime.engines import ENGINES
    if name not in ENGINES:
        raise BpfcheckError(f"unknown engine {name!r} (known: {', '.join(sorted(ENGINES))})")
    return ENGINES[name]


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


NATIVE_ENGINES = ("jit", "aot")


def _choose_engine(args: argparse.Namespace) -> None:
    explicit_checked = args.checked is True
    args.checked = args.checked is not False
    if args.engine is None:
        from runtime.engines import default_engine
        args.engine = "interp" if args.trace or explicit_checked else default_engine()


def _safety_monitor(args: argparse.Namespace, program, machine):
    """On checked interpreter runs of Linux programs: the cross-check monitor (None otherwise)."""
    if args.engine != "interp" or not args.checked or \
            (getattr(args, "platform", None) or "linux") != "linux":
        return None
    from verifier.analyze import analyze
    from verifier.crosscheck import monitor

    flagged: dict[int, list[str]] = {}
    if not hasattr(args, "_flagged"):
        try:
            report = analyze(program, termination=True)
            for err in report.errors:
                flagged.setdefault(err.pc, []).append(err.kind)
        except Exception:  # noqa: BLE001 - the monitor works without the verifier's hints
            pass
        args._flagged = flagged
    return monitor(program, machine, flagged=args._flagged)


def _native_gate_object(args: argparse.Namespace, program) -> None:
    """Native engines run only programs the verifier accepts, unless --unverified."""
    if args.engine not in NATIVE_ENGINES or args.unverified:
        return
    from cfg.errors import BpfcheckError
    from verifier.analyze import analyze

    report = analyze(program, platform=getattr(args, "platform", "linux") or "linux")
    if not report.ok:
        first = report.errors[0]
        raise BpfcheckError(
            f"{program.section}/{program.name} fails verification ({first}); the native "
            f"engine runs verified programs only: use --engine interp or pyjit, or "
            f"--unverified to run it natively anyway")


def _native_gate_data(args: argparse.Namespace, program, ctx) -> object | None:
    """A .data program has no program type to verify; it runs natively only when the checked
    interpreter runs it on the same input without trapping (runs are deterministic)."""
    if args.engine not in NATIVE_ENGINES or args.unverified:
        return None
    from runtime.vm import Machine

    result = Machine(program, checked=True, seed=args.seed).run(ctx, budget=args.budget)
    return result if result.error else None


def run_command(args: argparse.Namespace) -> int:
    _choose_engine(args)
    if args.file.endswith(".data"):
        return _run_data(args)
    return _run_object(args)


def _run_data(args: argparse.Namespace) -> int:
    from cfg.datafile import read_data_file
    from cfg.program import Program
    from runtime import context

    test = read_data_file(args.file)
    if test.load_error is not None:
        r0, error = None, test.load_error
    else:
        program = Program(test.insns, name=test.name, maps=getattr(test, "maps", ()))
        ctx = context.raw_memory(test.mem) if test.mem else context.Context("none")
        result = _native_gate_data(args, program, ctx)
        if result is None:
            machine = _engine(args.engine)(program, checked=args.checked, seed=args.seed)
            result = machine.run(ctx, budget=args.budget)
        r0, error = (None, result.error) if result.error else (result.r0, None)
    if test.error is not None:
        passed = error is not None
    else:
        passed = error is None and r0 == test.result
    if args.format == "json":
        print(json.dumps({"r0": r0, "error": error, "passed": passed}))
    else:
        got = f"error: {error}" if error else f"r0 = {r0:#x}"
        want = f"error: {test.error}" if test.error is not None else (
            f"r0 = {test.result:#x}" if test.result is not None else "no expectation")
        print(f"{'PASS' if passed else 'FAIL'} {args.file}: {got}"
              + ("" if passed else f" (expected {want})"))
    return 0 if passed else 1


def _run_object(args: argparse.Namespace) -> int:
    from cfg.elf import load_object
    from cfg.errors import BpfcheckError
    from runtime import context, maps as mapmod, vm
    from verifier.cli import about

    obj = load_object(args.file)
    program = obj.program(args.section, args.function)
    programs = {}
    for p in obj.programs:
        programs.setdefault(p.name, p)
        programs.setdefault(p.section, p)
    helpers, ptype = None, program.type
    if args.platform == "windows":
        from runtime import windows
        mapset = windows.mapset(program, programs)
        helpers = windows.helpers_for(program.section)
        ptype = "windows/" + windows.program_type(program.section)
    else:
        with about(program):
            mapset = mapmod.MapSet(program.maps, programs=programs)
    if args.maps:
        with open(args.maps, encoding="utf-8", errors="replace") as f:
            text = f.read()
        try:
            mapset.load_json(text)
        except BpfcheckError as exc:
            raise BpfcheckError(f"{args.maps}: {exc}") from None
    try:
        if args.platform == "windows" and not (args.mem or args.ctx):
            ctx = windows.default_context(program, _read(args.packet) if args.packet else None)
        elif args.packet:
            ctx = context.for_program_type(program.type, _read(args.packet))
        elif args.mem:
            ctx = context.raw_memory(_read(args.mem))
        elif args.ctx:
            ctx = context.ctx_bytes(_read(args.ctx))
        else:
            ctx = vm.make_context(program_type=program.type)
    except ValueError as exc:
        raise BpfcheckError(str(exc)) from None
    with about(program):
        _native_gate_object(args, program)
        machine = _engine(args.engine)(program, mapset, helpers, checked=args.checked,
                                       seed=args.seed)
    before = mapset.dump()
    repeat = max(1, args.repeat)
    start = time.perf_counter()
    trace: list[str] = []
    if args.trace:
        if args.engine != "interp":
            raise BpfcheckError("--trace needs the interpreter (--engine interp)")
        repeat = 1
    violation = None
    for _ in range(repeat):
        hooks = [h for h in (_tracer(program) if args.trace else None,) if h]
        watch = _safety_monitor(args, program, machine)
        if watch is not None:
            hooks.append(watch[0])
        hook = None if not hooks else hooks[0] if len(hooks) == 1 else \
            (lambda pc, regs, memory: [h(pc, regs, memory) for h in hooks] and None)
        result = machine.run(ctx, budget=args.budget, trace=hook)
        trace.extend(result.trace_output)
        if watch is not None and watch[1]:
            pc, kind, seen = watch[1][0]
            violation = f"pc {pc}: {kind}: {seen}"
        if result.error or violation:
            break
    per_run = (time.perf_counter() - start) / repeat
    changed = mapmod.changed(before, mapset.dump())
    error = result.error or violation
    if args.format == "json":
        print(json.dumps({"program": program.name, "section": program.section,
                          "r0": None if error else result.r0, "error": error,
                          "steps": result.steps, "time_per_run_ns": int(per_run * 1e9),
                          "maps": changed, "trace_output": trace,
                          "packet": result.packet.hex() if result.packet is not None else None},
                         indent=2))
    else:
        print(f"{program.section}/{program.name}: "
              + (f"error: {error}" if error else
                 f"r0 = {result.r0} ({result.r0:#x}{_action(ptype, result.r0)})"))
        steps = f"{result.steps} instructions, " if result.steps >= 0 else ""
        print(f"  {steps}{per_run * 1e6:.1f} us per run ({repeat} run(s), engine "
              f"{args.engine})")
        for name, contents in changed.items():
            print(f"  map {name}: {json.dumps(contents, sort_keys=True)}")
        for line in trace:
            print(f"  trace: {line}")
    return 1 if error else 0
