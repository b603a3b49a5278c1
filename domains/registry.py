"""Name -> domain class registry, used by the verifier's `--domain` option and the benchmarks.
Other packages add domains through the `bpfcheck.domains` entry point group
(`name = "package.module:Class"`), loaded on the first look-up of an unknown name."""
from __future__ import annotations

from domains.interval import IntervalDomain
from domains.tnum import TnumIntervalDomain
from domains.zone import ZoneDomain

DOMAINS: dict[str, type] = {"interval": IntervalDomain, "zone": ZoneDomain,
                            "tnum-interval": TnumIntervalDomain}
ENTRY_POINT_GROUP = "bpfcheck.domains"


def plugin_domains() -> dict[str, type]:
    """The domains other installed packages register under the `bpfcheck.domains` entry point
    (a plug-in that fails to import is skipped)."""
    from importlib.metadata import entry_points
    out: dict[str, type] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            out[ep.name] = ep.load()
        except Exception:  # a broken plug-in must not break the built-in domains
            continue
    return out


def get_domain(name: str) -> type:
    """The domain class registered under `name` (built-in or entry point); ValueError naming
    the known ones otherwise."""
    try:
        return DOMAINS[name]
    except KeyError:
        pass
    plugins = plugin_domains()
    if name in plugins:
        return plugins[name]
    known = ", ".join(sorted(set(DOMAINS) | set(plugins)))
    raise ValueError(f"unknown abstract domain {name!r} (known: {known})")
