"""Lint configuration: `[tool.bpfcheck]` in pyproject.toml or a `.bpfcheck.toml`, and the
suppressions it lists (each names object, section, error kind and a reason).

The file is found from the current directory upwards (`.bpfcheck.toml` wins over
`pyproject.toml` in the same directory); command-line flags override what it sets.

```toml
[tool.bpfcheck]                     # or, in .bpfcheck.toml, the same keys at top level
domain = "zone"                     # numeric domain
termination = true                  # prove loops terminate
privileged = false                  # root programs: pointer comparisons with numbers allowed
division-by-zero = false            # report divisions that may divide by zero
platform = "linux"
fail-on = "error"                   # or "warning"
jobs = 4
timeout = 60                        # seconds per program
memory = 2048                       # MiB per program

[tool.bpfcheck.types]               # program type per ELF section (overrides the section name)
"xdp.frags" = "xdp"

[[tool.bpfcheck.suppress]]
object = "build/legacy_*.o"         # glob on the object path (or its file name)
section = "xdp"                     # optional: glob on the section
function = "*"                      # optional
kind = "packet-bounds"              # error kind (see verifier.errors) or "*"
reason = "checked by the caller"    # required
```
"""
from __future__ import annotations

import fnmatch
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cfg.errors import BpfcheckError

CONFIG_NAMES = (".bpfcheck.toml", "pyproject.toml")
# keys of [tool.bpfcheck] that are plain options, with their types
OPTION_KEYS: dict[str, type] = {
    "domain": str, "termination": bool, "privileged": bool, "division-by-zero": bool,
    "platform": str, "fail-on": str, "jobs": int, "timeout": float, "memory": int,
}


class ConfigError(BpfcheckError):
    """A configuration file that cannot be used (bad TOML, unknown key, bad suppression)."""


@dataclass(frozen=True)
class Suppression:
    """Accept errors of `kind` in the programs matched by `object`/`section`/`function`
    (shell globs); `reason` says why (required, shown in the reports)."""

    object: str
    kind: str
    reason: str
    section: str = "*"
    function: str = "*"

    def matches_program(self, file: str, section: str, function: str) -> bool:
        """Whether the suppression covers this program (object glob on path or file name)."""
        path = file.replace(os.sep, "/")
        obj = self.object.replace(os.sep, "/")
        hit = (fnmatch.fnmatchcase(path, obj) or fnmatch.fnmatchcase(os.path.basename(path), obj)
               or fnmatch.fnmatchcase(path, "*/" + obj.lstrip("./")))
        return hit and fnmatch.fnmatchcase(section or "", self.section) and \
            fnmatch.fnmatchcase(function or "", self.function)

    def matches(self, file: str, section: str, function: str, kind: str) -> bool:
        """Whether an error of `kind` in this program is suppressed."""
        return fnmatch.fnmatchcase(kind, self.kind) and \
            self.matches_program(file, section, function)

    def describe(self) -> str:
        where = self.object
        if self.section != "*":
            where += f" section {self.section}"
        if self.function != "*":
            where += f" function {self.function}"
        return f"{self.kind} in {where} ({self.reason})"


@dataclass(frozen=True)
class LintConfig:
    """Everything a configuration file can set; `path` is where it came from (None: none)."""

    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    suppressions: tuple[Suppression, ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def type_for(self, section: str) -> str | None:
        """The program type configured for `section` (exact name first, then globs)."""
        if section in self.types:
            return self.types[section]
        for pattern, ptype in self.types.items():
            if fnmatch.fnmatchcase(section, pattern):
                return ptype
        return None


def find_config(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest `.bpfcheck.toml`, or `pyproject.toml` with a [tool.bpfcheck] table, from
    `start` (the current directory) upwards."""
    here = Path(start or os.getcwd()).resolve()
    for d in (here, *here.parents):
        dot = d / ".bpfcheck.toml"
        if dot.is_file():
            return dot
        py = d / "pyproject.toml"
        if py.is_file():
            try:
                data = tomllib.loads(py.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                continue
            tool = data.get("tool", {})
            if isinstance(tool, dict) and "bpfcheck" in tool:
                return py
    return None


def load_config(path: str | os.PathLike | None = None) -> LintConfig:
    """Read the configuration at `path` (or the one `find_config` finds; none -> defaults).
    Raises ConfigError naming the file on bad content."""
    if path is None:
        found = find_config()
        if found is None:
            return LintConfig()
        path = found
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if path.name == "pyproject.toml" or "tool" in data:
        tool = data.get("tool", {})
        data = tool.get("bpfcheck", {}) if isinstance(tool, dict) else None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: `tool.bpfcheck` must be a table")
    return parse_config(data, str(path))


def parse_config(data: dict[str, Any], where: str = "<config>") -> LintConfig:
    """Check and convert the `[tool.bpfcheck]` table."""
    options: dict[str, Any] = {}
    types: dict[str, str] = {}
    sups: list[Suppression] = []
    for key, value in data.items():
        if key in OPTION_KEYS:
            want = OPTION_KEYS[key]
            ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                value, ok = float(value), True
            if not ok:
                raise ConfigError(f"{where}: `{key}` must be a {want.__name__}, not {value!r}")
            options[key] = value
        elif key == "types":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f"{where}: `types` must map section names to program types")
            types = dict(value)
        elif key in ("suppress", "suppressions"):
            if not isinstance(value, list):
                raise ConfigError(f"{where}: `{key}` must be an array of tables")
            for n, item in enumerate(value, 1):
                sups.append(_suppression(item, f"{where}: suppression {n}"))
        else:
            raise ConfigError(f"{where}: unknown key `{key}` (known: "
                              f"{', '.join(sorted([*OPTION_KEYS, 'types', 'suppress']))})")
    if options.get("fail-on", "error") not in ("error", "warning"):
        raise ConfigError(f"{where}: `fail-on` must be \"error\" or \"warning\"")
    return LintConfig(where, options, types, tuple(sups))


def _suppression(item: Any, where: str) -> Suppression:
    from verifier.errors import ERROR_KINDS
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = set(item) - {"object", "section", "function", "kind", "reason"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for req in ("object", "kind", "reason"):
        if not isinstance(item.get(req), str) or not item[req].strip():
            raise ConfigError(f"{where}: `{req}` is required (a non-empty string)")
    kind = item["kind"]
    if kind != "*" and not any(fnmatch.fnmatchcase(k, kind) for k in ERROR_KINDS):
        raise ConfigError(f"{where}: unknown error kind {kind!r}")
    return Suppression(item["object"], kind, item["reason"], str(item.get("section", "*")),
                       str(item.get("function", "*")))


def with_overrides(config: LintConfig, **options: Any) -> LintConfig:
    """The configuration with the non-None `options` (command-line flags) taking precedence."""
    merged = dict(config.options)
    merged.update({k: v for k, v in options.items() if v is not None})
    return replace(config, options=merged)
