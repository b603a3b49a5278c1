"""Linear expressions and constraints over named integer variables (the language of domains)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

ExprLike = Union["LinearExpression", str, int]
ConstraintKind = Literal["<=", "==", "!="]


@dataclass(frozen=True, slots=True)
class LinearExpression:
    """`sum(coeff * var) + constant` with int coefficients; terms sorted by name, no zero coefficient."""

    terms: tuple[tuple[str, int], ...] = ()
    constant: int = 0

    @staticmethod
    def var(name: str, coeff: int = 1) -> "LinearExpression":
        """The expression `coeff * name`."""
        return LinearExpression(((name, coeff),) if coeff else (), 0)

    @staticmethod
    def const(c: int) -> "LinearExpression":
        """The constant expression `c`."""
        return LinearExpression((), int(c))

    @staticmethod
    def of(x: ExprLike) -> "LinearExpression":
        """Coerce a variable name, an int or an expression into an expression."""
        if isinstance(x, LinearExpression):
            return x
        if isinstance(x, str):
            return LinearExpression(((x, 1),), 0)
        if isinstance(x, int):
            return LinearExpression((), x)
        raise TypeError(f"not a linear expression: {x!r}")

    @staticmethod
    def from_dict(coeffs: dict[str, int], constant: int = 0) -> "LinearExpression":
        """Build from a {var: coeff} map, dropping zero coefficients."""
        return LinearExpression(tuple(sorted((v, c) for v, c in coeffs.items() if c)), constant)

    def _combine(self, other: ExprLike, sign: int) -> "LinearExpression":
        o = LinearExpression.of(other)
        if not o.terms:
            return LinearExpression(self.terms, self.constant + sign * o.constant)
        acc = dict(self.terms)
        for v, c in o.terms:
            acc[v] = acc.get(v, 0) + sign * c
        return LinearExpression.from_dict(acc, self.constant + sign * o.constant)

    def __add__(self, other: ExprLike) -> "LinearExpression":
        return self._combine(other, 1)

    def __radd__(self, other: ExprLike) -> "LinearExpression":
        return self._combine(other, 1)

    def __sub__(self, other: ExprLike) -> "LinearExpression":
        return self._combine(other, -1)

    def __rsub__(self, other: ExprLike) -> "LinearExpression":
        return (-self)._combine(other, 1)

    def __mul__(self, k: int) -> "LinearExpression":
        if not isinstance(k, int):
            return NotImplemented
        if k == 0:
            return LinearExpression((), 0)
        return LinearExpression(tuple((v, c * k) for v, c in self.terms), self.constant * k)

    __rmul__ = __mul__

    def __neg__(self) -> "LinearExpression":
        return self * -1

    def neg(self) -> "LinearExpression":
        """The negated expression."""
        return self * -1

    def variables(self) -> set[str]:
        """The variables with a non-zero coefficient."""
        return {v for v, _ in self.terms}

    def coefficient(self, name: str) -> int:
        """The coefficient of `name` (0 when absent)."""
        for v, c in self.terms:
            if v == name:
                return c
        return 0

    def is_constant(self) -> bool:
        """True when the expression has no variable."""
        return not self.terms

    def rename(self, mapping: dict[str, str]) -> "LinearExpression":
        """The same expression with variables renamed (simultaneously)."""
        acc: dict[str, int] = {}
        for v, c in self.terms:
            w = mapping.get(v, v)
            acc[w] = acc.get(w, 0) + c
        return LinearExpression.from_dict(acc, self.constant)

    def evaluate(self, env: dict[str, int]) -> int:
        """The value under a concrete assignment of every variable."""
        return self.constant + sum(c * env[v] for v, c in self.terms)

    def _terms_str(self) -> str:
        """Terms with positive coefficients first, e.g. `y - x`; '0' when empty."""
        ordered = sorted(self.terms, key=lambda t: (t[1] < 0, t[0]))
        out = ""
        for i, (v, c) in enumerate(ordered):
            mag = abs(c)
            body = v if mag == 1 else f"{mag}*{v}"
            if i == 0:
                out = body if c > 0 else f"-{body}"
            else:
                out += f" + {body}" if c > 0 else f" - {body}"
        return out or "0"

    def __str__(self) -> str:
        if not self.terms:
            return str(self.constant)
        s = self._terms_str()
        if self.constant > 0:
            return f"{s} + {self.constant}"
        if self.constant < 0:
            return f"{s} - {-self.constant}"
        return s


def _expr(x: ExprLike) -> LinearExpression:
    return LinearExpression.of(x)


@dataclass(frozen=True, slots=True)
class LinearConstraint:
    """`expr <= 0`, `expr == 0` or `expr != 0`."""

    expr: LinearExpression
    kind: ConstraintKind

    def negate(self) -> list["LinearConstraint"]:
        """The constraints whose disjunction is the negation (`<=` gives `> `, `==` gives `!=`)."""
        if self.kind == "<=":
            return [LinearConstraint(-self.expr + 1, "<=")]  # expr >= 1
        if self.kind == "==":
            return [LinearConstraint(self.expr, "!=")]
        return [LinearConstraint(self.expr, "==")]

    def variables(self) -> set[str]:
        """The variables of the constraint."""
        return self.expr.variables()

    def holds(self, env: dict[str, int]) -> bool:
        """Whether a concrete assignment satisfies the constraint."""
        v = self.expr.evaluate(env)
        return v <= 0 if self.kind == "<=" else (v == 0 if self.kind == "==" else v != 0)

    def rename(self, mapping: dict[str, str]) -> "LinearConstraint":
        """The same constraint with variables renamed."""
        return LinearConstraint(self.expr.rename(mapping), self.kind)

    def __str__(self) -> str:
        e = self.expr
        op = {"<=": "<=", "==": "=", "!=": "!="}[self.kind]
        if not e.terms:
            return f"{e.constant} {op} 0"
        # print "terms OP rhs", flipping `-x <= c` into `x >= -c` when every coefficient is negative
        if self.kind == "<=" and all(c < 0 for _, c in e.terms):
            flipped = -e
            return f"{flipped._terms_str()} >= {-flipped.constant}"
        if self.kind != "<=" and all(c < 0 for _, c in e.terms):
            e = -e
        return f"{e._terms_str()} {op} {-e.constant}"


def le(a: ExprLike, b: ExprLike) -> LinearConstraint:
    """a <= b."""
    return LinearConstraint(_expr(a) - _expr(b), "<=")


def lt(a: ExprLike, b: ExprLike) -> LinearConstraint:
    """a < b (over the integers: a - b + 1 <= 0)."""
    return LinearConstraint(_expr(a) - _expr(b) + 1, "<=")


def ge(a: ExprLike, b: ExprLike) -> LinearConstraint:
    """a >= b."""
    return le(b, a)


def gt(a: ExprLike, b: ExprLike) -> LinearConstraint:
    """a > b."""
    return lt(b, a)


def eq(a: ExprLike, b: ExprLike) -> LinearConstraint:
    """a == b."""
    return LinearConstraint(_expr(a) - _expr(b), "==")


def ne(a: ExprLike, b: ExprLike) -> LinearConstraint:
    """a != b."""
    return LinearConstraint(_expr(a) - _expr(b), "!=")
