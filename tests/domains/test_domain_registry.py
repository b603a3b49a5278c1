"""The registry maps names to classes that implement the NumericDomain protocol."""
from __future__ import annotations

import pytest

from domains.base import NumericDomain
from domains.interval import IntervalDomain
from domains.registry import DOMAINS, get_domain
from domains.zone import ZoneDomain


def test_known_names():
    assert get_domain("zone") is ZoneDomain and get_domain("interval") is IntervalDomain
    for cls in DOMAINS.values():
        assert isinstance(cls.top(), NumericDomain) and isinstance(cls.bottom(), NumericDomain)


def test_unknown_name_is_a_clear_value_error():
    with pytest.raises(ValueError, match="unknown abstract domain 'octagon'.*interval, zone"):
        get_domain("octagon")


def test_domains_import_nothing_of_ours():
    import ast
    import pathlib

    import domains

    root = pathlib.Path(domains.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] not in ("cfg", "runtime", "verifier"), (path.name, n)
