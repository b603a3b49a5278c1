"""The constraint syntax of YAML tests and printed invariants (PREVAIL's, extended).

`r1.type=number`, `r1.type={number, shared}`, `r1.svalue=5`, `r1.uvalue=[0, 255]` (`-oo`,
`+oo`), `r1.uvalue=r1.svalue`, `r1.svalue-r2.svalue<=3`, `packet_size=[0, 65534]`,
`meta_offset=0`, `s[504...511].type=number`, `s[504...511].svalue=7`, `pc[2]=[1, 10]`.
`describe(state)` prints a state in this syntax; `parse` reads one constraint; `assume` adds it
to a state (YAML `pre`); `entails` checks it against a state (YAML `post`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from cfg.errors import BpfcheckError
from domains.bounds import NEG_INF, POS_INF, Interval
from domains.linear import LinearExpression as E
from domains.linear import eq, le
from verifier import types as T
from verifier.stack import cell_name
from verifier.state import State, var


class ConstraintError(BpfcheckError):
    """A constraint string that does not parse."""


_BOUND = r"(-?\d+|[-+]oo|-?0x[0-9a-fA-F]+)"
_INTERVAL = re.compile(rf"^\[\s*{_BOUND}\s*,\s*{_BOUND}\s*\]$")
_VALUE = re.compile(r"^(r\d+|s\[\d+(?:\.\.\.\d+)?\]|f\d+\.r\d+)\.(\w+)$")
_GLOBAL = re.compile(r"^(packet_size|meta_offset|pc\[[^\]]+\])$")
_REL = re.compile(r"^(.+?)\s*(<=|>=|<|>|=|==|!=)\s*(.+)$")


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: a type test (`kind="type"`), an interval (`kind="interval"`), or a
    linear relation (`kind="linear"`, `expr op 0`)."""

    text: str
    kind: str
    value: str = ""           # the value of a type test, the variable of an interval
    mask: int = 0
    interval: Interval | None = None
    linear: object = None     # LinearConstraint


def _bound(text: str) -> int | float:
    text = text.strip()
    if text in ("+oo", "oo"):
        return POS_INF
    if text == "-oo":
        return NEG_INF
    return int(text, 0)


def _is_var(text: str) -> bool:
    m = _VALUE.match(text)
    if m:
        return m.group(2) in T.ALL_FIELDS
    return bool(_GLOBAL.match(text))


def _term(text: str) -> E:
    """`a`, `a-b`, `a+b`, `a+3`, `a - b + 3`: a linear expression of variables and ints."""
    s = text.replace(" ", "")
    if not s:
        raise ConstraintError("empty expression")
    tokens = re.findall(r"[+-]?[^+-]+", s)
    expr = E.const(0)
    for tok in tokens:
        sign = -1 if tok.startswith("-") else 1
        body = tok.lstrip("+-")
        if re.fullmatch(r"\d+|0x[0-9a-fA-F]+", body):
            expr = expr + sign * int(body, 0)
        elif re.fullmatch(r"(\d+)\*(.+)", body):
            k, v = body.split("*", 1)
            expr = expr + E.var(v, sign * int(k))
        elif _is_var(body):
            expr = expr + E.var(body, sign)
        else:
            raise ConstraintError(f"bad term {tok!r}")
    return expr


def parse(text: str) -> Constraint:
    """One constraint (ConstraintError on bad syntax)."""
    t = re.sub(r"\.map_fd_programs\b", ".map_fd", text.strip())  # PREVAIL's name for the same field
    t = re.sub(r"s\[(\d+)\.\.\.\1\]", r"s[\1]", t)  # a one-byte cell is named `s[504]`
    mi = re.fullmatch(r"(\S+)\.type\s+in\s+(\{.*\})", t)
    if mi:
        try:
            return Constraint(t, "type", mi.group(1), T.parse(mi.group(2)))
        except ValueError as exc:
            raise ConstraintError(f"{text!r}: {exc}") from None
    if re.fullmatch(r"\S+\.type\s*=\s*\S+\.type", t):
        return Constraint(t, "unsupported")  # type equality between values (PREVAIL)
    m = _REL.match(t)
    if not m:
        raise ConstraintError(f"not a constraint: {text!r}")
    left, op, right = m.group(1).strip(), m.group(2), m.group(3).strip()
    if left.endswith(".type") and op in ("=", "=="):
        try:
            mask = T.parse(right)
        except ValueError as exc:
            raise ConstraintError(f"{text!r}: {exc}") from None
        return Constraint(t, "type", left[:-5], mask)
    if op in ("=", "==") and _is_var(left):
        im = _INTERVAL.match(right)
        if im:
            return Constraint(t, "interval", left,
                              interval=Interval(_bound(im.group(1)), _bound(im.group(2))))
        if re.fullmatch(r"-?\d+|-?0x[0-9a-fA-F]+", right):
            c = int(right, 0)
            return Constraint(t, "interval", left, interval=Interval(c, c))
    try:
        a, b = _term(left), _term(right)
    except ConstraintError as exc:
        raise ConstraintError(f"{text!r}: {exc}") from None
    if op in ("=", "=="):
        lc = eq(a, b)
    elif op == "<=":
        lc = le(a, b)
    elif op == ">=":
        lc = le(b, a)
    elif op == "<":
        lc = le(a + 1, b)
    elif op == ">":
        lc = le(b + 1, a)
    else:
        from domains.linear import ne
        lc = ne(a, b)
    return Constraint(t, "linear", linear=lc)


def _cell_range(value: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"s\[(\d+)(?:\.\.\.(\d+))?\]", value)
    if not m:
        return None
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) else lo
    return lo, hi + 1


def assume(st: State, c: Constraint) -> None:
    """Add a constraint to a state (YAML `pre`)."""
    if c.kind == "unsupported":
        same = re.fullmatch(r"(\S+)\.type\s*=\s*(\S+)\.type", c.text)
        if same:  # two values of one region (whichever of their possible types it is)
            st.num.add_constraint(eq(var(same.group(1), "region"), var(same.group(2), "region")))
        return
    if c.kind == "type":
        rng = _cell_range(c.value)
        if rng is not None:
            lo, hi = rng
            st.stack.write(lo, hi)
            if hi - lo in (1, 2, 4, 8) or c.mask != T.NUMBER:
                st.stack.cells[lo] = hi - lo
                st.types[cell_name(lo, hi - lo)] = c.mask
            return
        if c.mask == T.UNINIT:
            st.remove(c.value)
        else:
            st.types[c.value] = c.mask
        return
    if c.kind == "interval":
        iv = c.interval
        _ensure_cell(st, c.value)
        if isinstance(iv.lo, int):
            st.num.add_constraint(le(iv.lo, c.value))
        if isinstance(iv.hi, int):
            st.num.add_constraint(le(c.value, iv.hi))
        return
    for v in c.linear.variables():
        _ensure_cell(st, v)
    st.num.add_constraint(c.linear)


def _ensure_cell(st: State, variable: str) -> None:
    """A `s[a...b].field` variable in `pre` makes that cell exist (a number by default)."""
    value = variable.rsplit(".", 1)[0]
    rng = _cell_range(value)
    if rng is None:
        return
    lo, hi = rng
    if st.stack.cells.get(lo) != hi - lo:
        st.stack.write(lo, hi)
        st.stack.cells[lo] = hi - lo
        st.types.setdefault(cell_name(lo, hi - lo), T.NUMBER)


def initial_state(pre, domain) -> State:
    """The state a YAML `pre` list describes (registers not named are uninitialised)."""
    from verifier.semantics import sync
    st = State.top(domain)
    for text in pre:
        assume(st, parse(text))
    for v, m in list(st.types.items()):
        if m == T.NUMBER and not st.is_bottom():
            sync(st, v)
    return st


def entails(st: State, c: Constraint) -> bool:
    """Whether every concrete state of `st` satisfies `c` (YAML `post`)."""
    if st.is_bottom():
        return True
    if c.kind == "unsupported":
        return False
    if c.kind == "type":
        rng = _cell_range(c.value)
        if rng is not None and rng != (rng[0], rng[0]):
            lo, hi = rng
            cell = st.stack.cell(lo, hi - lo)
            if cell is not None:
                return st.type_of(cell) & ~c.mask == 0
            if c.mask != T.NUMBER:
                return False
            if not st.stack.is_init(lo, hi) or st.stack.has_ptr_bytes(lo, hi):
                return False
            return all(st.type_of(cell_name(a, b)) == T.NUMBER
                       for a, b in st.stack.overlapping(lo, hi))
        return st.type_of(c.value) & ~c.mask == 0 and st.type_of(c.value) != 0
    if c.kind == "interval":
        return st.num.interval(c.value).leq(c.interval)
    return st.num.entails(c.linear)


# ---- printing --------------------------------------------------------------------------------
def _fmt_iv(iv: Interval) -> str:
    if iv.is_singleton():
        return str(iv.lo)
    lo = "-oo" if iv.lo == NEG_INF else str(iv.lo)
    hi = "+oo" if iv.hi == POS_INF else str(iv.hi)
    return f"[{lo}, {hi}]"


_RELATION = re.compile(r"^(\S+) - (\S+) (<=|=) (-?\d+)$")


def describe(st: State) -> list[str]:
    """The state as sorted constraint strings."""
    if st.is_bottom():
        return ["_|_"]
    out: list[str] = []
    relevant: set[str] = set()
    for v, m in st.types.items():
        out.append(f"{v}.type={T.name(m)}")
        for f in T.fields(m):
            x = var(v, f)
            relevant.add(x)
            iv = st.num.interval(x)
            if not iv.is_top():
                out.append(f"{x}={_fmt_iv(iv)}")
    for g in sorted(x for x in st.num.variables()
                    if x in ("packet_size", "meta_offset") or x.startswith("pc[")):
        relevant.add(g)
        iv = st.num.interval(g)
        if not iv.is_top():
            out.append(f"{g}={_fmt_iv(iv)}")
    for text in st.num.constraints():
        m = _RELATION.match(text)
        if not m:
            continue
        a, b, op, k = m.group(1), m.group(2), m.group(3), int(m.group(4))
        if a not in relevant or b not in relevant:
            continue
        if op == "=" and k == 0:
            out.append(f"{a}={b}")
        elif op == "=":
            out.append(f"{a}-{b}={k}")
        else:
            out.append(f"{a}-{b}<={k}")
    covered = 0
    for o, s in st.stack.cells.items():
        covered |= ((1 << s) - 1) << o
    from verifier.stack import ranges
    for lo, hi in ranges(st.stack.init & ~covered & ~st.stack.ptr):
        out.append(f"{cell_name(lo, hi - lo)}.type=number")
    return sorted(set(out))
