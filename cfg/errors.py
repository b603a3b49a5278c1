"""The project's error types: every expected failure on bad input is one of these.

The CLI turns them into one line naming the input and the problem, and exit code 2.
"""
from __future__ import annotations


class BpfcheckError(Exception):
    """Base of every error bpfcheck raises on bad input (never a bug of ours)."""


class DecodeError(BpfcheckError):
    """Bytes that are not a valid eBPF instruction; `index` is the instruction slot."""

    def __init__(self, message: str, index: int | None = None) -> None:
        self.index = index
        self.detail = message
        super().__init__(f"instruction {index}: {message}" if index is not None else message)


class AsmError(BpfcheckError):
    """Text that does not assemble; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.detail = message
        super().__init__(f"line {line}: {message}" if line is not None else message)


class ElfError(BpfcheckError):
    """An object file that cannot be loaded as an eBPF program."""


class ProgramError(BpfcheckError):
    """A program whose structure is malformed (bad jump, falls off the end, ...)."""

    def __init__(self, message: str, pc: int | None = None) -> None:
        self.pc = pc
        self.detail = message
        super().__init__(f"pc {pc}: {message}" if pc is not None else message)
