"""The verifier's error registry: every kind of rejection, with a code, a title and help text.

The kinds are the contract with the corpus manifest (`kind:` of each unsafe program) and with
the YAML tests; reports print `kind` and the code (`BPF0xx`) next to each message.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    """One kind of verification error: stable `code`, the `kind` name used everywhere, a
    one-line `title` and `help` on how to fix the program."""

    code: str
    kind: str
    title: str
    help: str


_KINDS = (
    ErrorKind("BPF001", "packet-bounds", "packet access not proven within bounds",
              "compare the pointer plus the access size against data_end before the access"),
    ErrorKind("BPF002", "stack-bounds", "stack access outside the frame",
              "keep stack accesses within the 512 bytes below r10; bound variable offsets"),
    ErrorKind("BPF003", "ctx-access", "invalid context access",
              "read or write only the context fields the program type allows, at their width"),
    ErrorKind("BPF004", "map-value-bounds", "map value access not proven within bounds",
              "bound the offset so that offset + size <= the map's value size"),
    ErrorKind("BPF005", "null-deref", "possible NULL pointer dereference",
              "check the pointer returned by the helper against NULL before using it"),
    ErrorKind("BPF006", "uninit-register", "read of an uninitialised register",
              "assign the register on every path before reading it"),
    ErrorKind("BPF007", "uninit-stack", "read of uninitialised stack bytes",
              "initialise the whole stack buffer (memset or assignments) before reading it"),
    ErrorKind("BPF008", "pointer-leak", "pointer stored where it may leak",
              "store only numbers into maps, packets and the context"),
    ErrorKind("BPF009", "helper-arg", "helper argument of the wrong kind or size",
              "pass the argument kinds the helper's prototype requires"),
    ErrorKind("BPF010", "termination", "loop not proven to terminate",
              "give the loop a bound the verifier can see (a constant or a checked limit)"),
    ErrorKind("BPF011", "pointer-arith", "invalid pointer arithmetic",
              "only add or subtract numbers to non-NULL pointers, or subtract pointers of one region"),
    ErrorKind("BPF012", "exit-value", "invalid program return value",
              "return a number in the range the program type allows"),
    ErrorKind("BPF013", "invalid-memory", "access through something that is not a pointer",
              "dereference only pointers to the context, stack, packet or map values"),
    ErrorKind("BPF014", "division-by-zero", "possible division by zero",
              "check the divisor against zero (reported only with !allow_division_by_zero)"),
    ErrorKind("BPF015", "unknown-helper", "call to an unknown or forbidden helper",
              "call only helpers the platform and program type provide"),
    ErrorKind("BPF016", "invalid-call", "invalid call",
              "call helpers, subprograms or kfuncs that exist, with a valid target"),
    ErrorKind("BPF017", "pointer-compare", "invalid pointer comparison",
              "compare pointers only with pointers of the same region, or with NULL"),
)

ERROR_KINDS: dict[str, ErrorKind] = {k.kind: k for k in _KINDS}


def error_kind(kind: str) -> ErrorKind:
    """The registry entry of `kind` (KeyError names the unknown kind)."""
    try:
        return ERROR_KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown error kind {kind!r}") from None
