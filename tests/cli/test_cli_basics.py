"""The CLI skeleton: version, help, unknown commands and the error contract."""
import subprocess
import sys

import pytest

from verifier.cli import main


def test_version_prints_and_exits_zero(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("bpfcheck ")


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_version_does_not_import_heavy_modules():
    code = ("import sys; from verifier.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('z3', 'graphviz', 'networkx', 'elftools') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
