"""Name -> domain class registry, used by the verifier's `--domain` option and the benchmarks."""
from __future__ import annotations

from domains.interval import IntervalDomain
from domains.zone import ZoneDomain

DOMAINS: dict[str, type] = {"interval": IntervalDomain, "zone": ZoneDomain}


def get_domain(name: str) -> type:
    """The domain class registered under `name`; ValueError naming the known ones otherwise."""
    try:
        return DOMAINS[name]
    except KeyError:
        known = ", ".join(sorted(DOMAINS))
        raise ValueError(f"unknown abstract domain {name!r} (known: {known})") from None
