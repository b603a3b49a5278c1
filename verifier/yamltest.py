"""YAML verifier tests in PREVAIL's schema: `test-case`, `options`, `pre`, `code`, `post`,
`messages` (several cases per file, separated by `---`).

`code` maps labels to blocks of pseudo-C (llvm syntax, `cfg.asm`); `<start>` is the first block
and `goto <name>` jumps to the block labelled `<name>`. `pre` is the entry state (registers not
named are uninitialised). A case passes when the verifier's errors are at exactly the pcs of
`messages` (`"3: ..."`; none when absent) and every `post` constraint is entailed by the
invariant at the program's exit. Our extensions: `program-type` (default xdp, or
socket_filter when the code uses `skb[...]` legacy packet loads) and `maps` (a
list of `{type, key_size, value_size, max_entries, flags, kind}`; by default `DEFAULT_MAPS`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfg.errors import AsmError, BpfcheckError
from cfg.program import MAP_TYPE_IDS, MapDef, Program
from verifier.options import Options

# Maps a YAML test may name by index (map_fd / map_idx): array, hash, prog_array, array of 64B.
DEFAULT_MAPS = (
    MapDef("array", MAP_TYPE_IDS["array"], 4, 8, 16),
    MapDef("hash", MAP_TYPE_IDS["hash"], 4, 8, 1024),
    MapDef("progs", MAP_TYPE_IDS["prog_array"], 4, 4, 8),
    MapDef("big", MAP_TYPE_IDS["array"], 4, 64, 1),
    MapDef("hash8", MAP_TYPE_IDS["hash"], 8, 16, 1024),
)


# PREVAIL's test platform: every map fd names a map with 4-byte keys and 4-byte values (used
# when `pre` names map fds and the case gives no `maps`); fd 2 stays a program array.
PREVAIL_MAPS = tuple(
    MapDef(f"fd{i}", MAP_TYPE_IDS["prog_array" if i == 2 else "hash"], 4, 4, 1024) for i in range(8))


class YamlTestError(BpfcheckError):
    """A YAML test file that does not follow the schema."""


@dataclass
class CaseResult:
    """The outcome of one case."""

    file: str
    name: str
    passed: bool
    reason: str = ""
    errors: list[dict] = field(default_factory=list)
    post: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "name": self.name, "passed": self.passed,
                "reason": self.reason, "errors": self.errors, "post": self.post}


def _label(name: str) -> str:
    return "L_" + re.sub(r"\W", "_", name.strip("<>"))


def program_text(code: Any) -> str:
    """The labelled blocks of `code` as one assembler text."""
    if isinstance(code, str):
        return code
    if not isinstance(code, dict) or not code:
        raise YamlTestError("`code` must be a mapping of labels to blocks")
    lines = []
    for name, block in code.items():
        name = str(name)
        lines.append(f"{_label(name)}:")  # `<start>` too: PREVAIL cases may `call <start>`
        body = str(block or "")
        body = re.sub(r"<([^<>\s]+)>", lambda m: _label(m.group(1)), body)
        lines.extend(body.splitlines())
    return "\n".join(lines) + "\n"


_NEGATED = {"==": "!=", "!=": "==", ">": "<=", ">=": "<", "<": ">=", "<=": ">",
            "s>": "s<=", "s>=": "s<", "s<": "s>=", "s<=": "s>"}
_ASSUME = re.compile(r"^(\s*)assume\s+([rw]\d+)\s*(s?[<>]=?|==|!=)\s*(\S+?)\s*;?\s*$")
DEAD_LABEL = "L___assume_failed"
_MOVSX = re.compile(r"\b([rw]\d+)\s*s(8|16|32)=\s*([rw]\d+)")


def lower_assumes(text: str) -> tuple[str, bool]:
    """PREVAIL's `assume r1 s<= r2` (a test-only statement) becomes a jump on the negated
    condition to a dead end whose state is left out of the exit invariant."""
    out, used = [], False
    for line in text.splitlines():
        line = _MOVSX.sub(lambda m: f"{m[1]} = {m[1][0]}{m[3][1:]}" if m[1][0] == "w" and m[2] == "32"
                          else f"{m[1]} = (s{m[2]}){m[1][0]}{m[3][1:]}", line)  # `w0 s8= r3`
        line = line.replace("mva(", "map_val(")  # PREVAIL's `mva(map_by_idx(0)) + 8`
        line = re.sub(r"(\bif\s+[rw]\d+\s*)&==", r"\1&", line)  # PREVAIL's jset spelling
        m = _ASSUME.match(line.split(";")[0] if "assume" in line else line)
        if m:
            ind, a, op, b = m.groups()
            out.append(f"{ind}if {a} {_NEGATED[op]} {b} goto {DEAD_LABEL}")
            used = True
        else:
            out.append(line)
    return "\n".join(out) + "\n", used


ANY_PC = -1  # an expected error PREVAIL reports without a pc ("too many call stack frames")


def _message_pcs(messages) -> set[int]:
    """The pcs of the expected errors. PREVAIL also lists edges it found dead
    (`"2:5: Code becomes unreachable ..."`): those are not errors and are left out. A pc may
    carry its call stack (`"0/2: ..."`: pc 2 called from pc 0) or a tag (`"1 (counter): ..."`);
    a message without a pc is `ANY_PC`."""
    pcs = set()
    for m in messages or ():
        if "Code becomes unreachable" in str(m) or _OBSERVATION.match(str(m)):
            continue
        mm = re.match(r"\s*(?:\d+/)*(\d+)\b", str(m))
        pcs.add(int(mm.group(1)) if mm else ANY_PC)
    return pcs


_OBSERVATION = re.compile(r"\s*(\S+): observation (\w+) failed at (\w+)")


def _observations(doc: dict, final, parse, entails) -> list[str]:
    """PREVAIL's `observe` entries at the exit (`at: exit`, `point: post`): `consistent` when
    the constraints are satisfiable together with the final invariant, `entailed` when the
    observation (as a state) implies every fact of the invariant. Returns the failures as
    PREVAIL's messages; entries at other labels are not checked."""
    from verifier.constraints import assume, initial_state
    failed = []
    for ob in doc.get("observe") or ():
        if str(ob.get("at")) != "exit" or str(ob.get("point", "post")) != "post" or final is None:
            continue
        mode = str(ob.get("mode", "consistent"))
        cs = [parse(str(c)) for c in ob.get("constraints") or ()]
        if mode == "entailed":
            seen = initial_state([str(c) for c in ob.get("constraints") or ()], type(final.num))
            ok = all(entails(seen, parse(c)) for c in final.constraints())
        else:
            st = final.copy()
            for c in cs:
                assume(st, c)
            ok = not st.is_bottom()
        if not ok:
            failed.append(f"exit: observation {mode} failed at post")
    return failed


def _pcs_match(got: set[int], want: set[int]) -> bool:
    """Errors at exactly the expected pcs; `ANY_PC` stands for one or more errors anywhere."""
    if ANY_PC not in want:
        return got == want
    rest = want - {ANY_PC}
    return rest <= got and bool(got)


def _options(opts) -> Options:
    kw: dict[str, Any] = {"assume_assertions": False}  # PREVAIL's default
    for o in opts or ():
        o = str(o).strip()
        neg = o.startswith("!")
        name = o.lstrip("!")
        if name == "termination":
            kw["termination"] = not neg
        elif name == "allow_division_by_zero":
            kw["allow_division_by_zero"] = not neg
        elif name == "big_endian":
            kw["big_endian"] = not neg
        elif name == "assume_assertions":
            kw["assume_assertions"] = not neg
        elif name == "privileged":
            kw["privileged"] = not neg
    return Options(**kw)


def _close(options: Options, text: str, dead: bool):
    """Assemble a test's code. PREVAIL tests may end without `exit`: add one (not checked);
    add the dead end of `assume`s."""
    from dataclasses import replace

    from cfg.asm import assemble
    from cfg.isa import slot_offsets
    insns = assemble(text + (f"{DEAD_LABEL}:\n" if dead else ""))
    pcs = slot_offsets(insns)
    end = pcs[-1] + insns[-1].slots if insns else 0
    unchecked, hidden = set(), set()
    last = insns[-1].spec.kind if insns else None
    if last not in ("exit", "ja"):
        insns = insns + assemble("exit")
        unchecked.add(end)
        end += 1
    if dead:
        insns = assemble(text + ("exit\n" if unchecked else "") + f"{DEAD_LABEL}:\nexit\n")
        dead_pc = end
        unchecked.add(dead_pc)
        hidden.add(dead_pc)
    return insns, replace(options, unchecked_exits=frozenset(unchecked), hidden_exits=frozenset(hidden))


def _maps(spec) -> tuple[MapDef, ...]:
    if spec is None:
        return DEFAULT_MAPS
    out = []
    for i, m in enumerate(spec):
        if not isinstance(m, dict):
            raise YamlTestError(f"`maps` entry {i} must be a mapping")
        t = m.get("type", "array")
        if t not in MAP_TYPE_IDS and t not in MAP_TYPE_IDS.values():
            raise YamlTestError(f"`maps` entry {i}: unknown map type {t!r}")
        sizes = {}
        for key, default in (("key_size", 4), ("value_size", 8), ("max_entries", 1),
                             ("flags", 0)):
            value = m.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or \
                    not 0 <= value < 1 << 32:
                raise YamlTestError(f"`maps` entry {i}: `{key}` must be a 32-bit unsigned "
                                    f"integer, not {value!r}")
            sizes[key] = value
        out.append(MapDef(str(m.get("name", f"map{i}")), MAP_TYPE_IDS.get(t, t),
                          sizes["key_size"], sizes["value_size"], sizes["max_entries"],
                          sizes["flags"], kind=str(m.get("kind", "user"))))
    return tuple(out)


_LISTS = ("pre", "post", "messages", "options", "observe", "maps")


def _check_shape(doc: dict) -> None:
    """The list fields of a case are lists (absent or null: empty) and `observe` entries are
    mappings, so that a damaged case fails as a bad test instead of breaking the run."""
    for key in _LISTS:
        if doc.get(key) is not None and not isinstance(doc[key], list):
            raise YamlTestError(f"`{key}` must be a list, not {type(doc[key]).__name__}")
    for ob in doc.get("observe") or ():
        if not isinstance(ob, dict) or not isinstance(ob.get("constraints") or [], list):
            raise YamlTestError("`observe` entries must be mappings with a `constraints` list")


def run_case(doc: dict, file: str = "", domain: Any = "zone") -> CaseResult:
    """Run one YAML case."""
    from cfg.asm import assemble
    from verifier.analyze import analyze
    from verifier.constraints import ConstraintError, entails, parse

    name = str(doc.get("test-case", "?"))
    try:
        _check_shape(doc)
        text, dead = lower_assumes(program_text(doc.get("code")))
        options = _options(doc.get("options"))
        insns, options = _close(options, text, dead)
        pre = [str(c) for c in doc.get("pre") or ()]
        from dataclasses import replace
        options = replace(options, stack_top=_stack_top(pre, options.stack_top))
        default_type = "socket_filter" if "skb[" in text else "xdp"  # ld_abs needs an skb
        maps = _maps(doc.get("maps"))
        if "maps" not in doc and any(".map_fd=" in c for c in pre) \
                and not re.search(r"=\s*map_", text):
            maps = PREVAIL_MAPS
        pre = _nullable(pre)
        prog = Program(insns, name=name, type=str(doc.get("program-type", default_type)),
                       maps=maps, file=file)
        platform = "linux" if "program-type" in doc else _test_platform()
        want = _message_pcs(doc.get("messages"))
        post_strs = [str(c).strip() for c in doc.get("post") or ()]
        posts = [parse(c) for c in _nullable(post_strs) if c != BOTTOM]
        report = analyze(prog, options, domain=domain, pre=pre, platform=platform)
    except (AsmError, ConstraintError, YamlTestError) as exc:
        return CaseResult(file, name, False, f"bad test: {exc}")
    except BpfcheckError as exc:  # e.g. malformed control flow: the case fails, others run
        # a rejection before analysis (recursion, calls too deep) is an error at its pc
        m = re.match(r"\s*pc (\d+):", str(exc))
        errors = [{"pc": int(m.group(1)) if m else ANY_PC, "message": f"program: {exc}"}]
        ok = bool(want) and _pcs_match({e["pc"] for e in errors}, want)
        return CaseResult(file, name, ok, "" if ok else f"program rejected before analysis: {exc}",
                          errors, [BOTTOM])
    errors = [{"pc": e.pc, "message": f"{e.kind}: {e.message}"} for e in report.errors]
    final = report.exit_state
    post_text = final.constraints() if final is not None else [BOTTOM]
    got = {_error_pc(e, want) for e in report.errors}
    reasons = []
    if BOTTOM in post_strs and final is not None and not final.is_bottom():
        reasons.append(f"post not entailed: {BOTTOM} (the exit is reachable)")
    if not _pcs_match(got, want):
        extra = sorted(got - want)
        missing = sorted(want - got)
        if extra:
            reasons.append("unexpected errors at " + ", ".join(
                f"{_error_pc(e, want)} ({e.kind}: {e.message})" for e in report.errors
                if _error_pc(e, want) in extra))
        if missing:
            reasons.append(f"no error at {missing}")
    observed = _observations(doc, final, parse, entails)
    expected = [str(m).strip() for m in doc.get("messages") or () if _OBSERVATION.match(str(m))]
    if sorted(observed) != sorted(expected):
        reasons.append(f"observations failed: {observed}, expected: {expected}")
    if final is not None:
        failed = [c.text for c in posts if not entails(final, c)
                  and not _not_modelled(final, c)]
        if failed:
            reasons.append("post not entailed: " + ", ".join(failed))
    return CaseResult(file, name, not reasons, "; ".join(reasons), errors, post_text)


def _error_pc(e, want: set[int]) -> int:
    """The pc of an error; a loop that may not terminate is reported at its back edge, and
    PREVAIL reports it at the loop head (`"1 (counter): ..."`): either matches."""
    m = re.search(r"head at pc (\d+)", e.message) if e.kind == "termination" else None
    if m and e.pc not in want and int(m.group(1)) in want:
        return int(m.group(1))
    return e.pc


BOTTOM = "_|_"  # PREVAIL's `post` for "no state reaches the exit"


def _stack_top(pre: list[str], default: int) -> int:
    """r10's stack offset: as `pre` says, else the least multiple of the frame size above
    every stack offset and cell `pre` names (PREVAIL cases name `r2.stack_offset=504`
    without r10), else `default`."""
    top = 0
    for c in pre:
        m = re.fullmatch(r"r10\.stack_offset\s*=\s*(\d+)", c.strip())
        if m:
            return int(m.group(1))
        for v in re.findall(r"stack_offset\s*=\s*\[?\s*(\d+)(?:\s*,\s*(\d+))?", c):
            top = max(top, int(v[1] or v[0]))
        for a, b in re.findall(r"^s\[(\d+)(?:\.\.\.(\d+))?\]", c.strip()):
            top = max(top, int(b or a) + 1)
    if not top:
        return default
    return max(512, -(-top // 512) * 512)


def _nullable(pre: list[str]) -> list[str]:
    """PREVAIL writes a maybe-NULL pointer as a pointer whose `svalue` may be 0; bpfcheck as a
    value of type {number, pointer} (the number being NULL)."""
    out = list(pre)
    for i, c in enumerate(pre):
        m = re.fullmatch(r"(r\d+)\.type\s*=\s*(ctx|stack|packet|shared)", c.strip())
        if m and any(re.fullmatch(rf"{m.group(1)}\.svalue\s*=\s*\[\s*(0|-\d+)\s*,.*", d.strip())
                     for d in pre):
            r = m.group(1)
            out[i] = f"{r}.type in {{number, {m.group(2)}}}"
            for j, d in enumerate(pre):  # the number is NULL: its value is 0
                if re.fullmatch(rf"{r}\.[su]value\s*=\s*\[.*\]", d.strip()):
                    out[j] = f"{d.strip().split('=')[0]}=0"
    return out


def _test_platform():
    """PREVAIL's test platform: an xdp context (data, data_end, data_meta at 0, 4, 8) whose
    program may call every helper."""
    from dataclasses import replace

    from verifier.platform import get_platform
    plat = get_platform("linux")
    types = dict(plat.program_types)
    types["xdp"] = replace(types["xdp"], helpers=None)
    return replace(plat, program_types=types)


def _not_modelled(st, c) -> bool:
    """PREVAIL facts bpfcheck does not represent, skipped in `post`: type equalities between
    values, `stack_numeric_size`, and the numeric value (address) of a pointer."""
    from verifier import types as T
    if c.kind == "unsupported":
        return True
    names = [c.value] if c.kind == "interval" else (
        sorted(c.linear.variables()) if c.kind == "linear" else [])
    for n in names:
        value, _, field = n.rpartition(".")
        if field == "stack_numeric_size":
            return True
        if field in ("svalue", "uvalue") and value and st.type_of(value) & ~T.NUMBER \
                and not st.type_of(value) & T.NUMBER:
            return True
    return False


def load_cases(path: str | Path) -> list[dict]:
    """The cases of a YAML file (YamlTestError on bad YAML)."""
    import yaml
    try:
        text = Path(path).read_text(encoding="utf-8")
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except UnicodeDecodeError as exc:
        raise YamlTestError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise YamlTestError(f"{path}: invalid YAML: {_yaml_problem(exc)}") from None
    cases: list[dict] = []
    for d in docs:
        if isinstance(d, list):
            cases.extend(x for x in d if isinstance(x, dict))
        elif isinstance(d, dict):
            cases.append(d)
        else:
            raise YamlTestError(f"{path}: a case must be a mapping")
    return cases


def _yaml_problem(exc: Exception) -> str:
    """PyYAML's error on one line: the problem and where (its own text quotes the source
    over several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return " ".join(str(exc).split())


def run_file(path: str | Path, domain: Any = "zone") -> list[CaseResult]:
    """Run every case of a file."""
    return [run_case(doc, str(path), domain) for doc in load_cases(path)]
