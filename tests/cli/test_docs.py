"""The README stays true to the program: every variable read is documented, every command runs."""

from __future__ import annotations

import pathlib
import re

import pytest

from claude_telemetry_cli import settings
from tests.support.cli import run_cli, telemetry_env

README = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_variable_the_configuration_reads_is_documented():
    missing = sorted(v for v in settings.RELEVANT_VARIABLES if f"`{v}`" not in README)
    assert not missing, f"README.md does not document: {missing}"


def _documented_commands() -> list[list[str]]:
    found = set()
    for match in re.finditer(r"`claude-telemetry ((?:[a-z]+ ?)+)", README):
        words = match.group(1).split()
        found.add(tuple(words[:2] if words[0] == "scenarios" else words[:1]))
    return sorted(list(c) for c in found)


@pytest.mark.parametrize("command", _documented_commands(), ids=" ".join)
def test_every_documented_command_exists(command):
    proc = run_cli([*command, "--help"], telemetry_env())
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout


def test_every_exit_code_is_documented():
    from claude_telemetry_cli.errors import ExitCode

    table = README[README.index("### Exit codes") :]
    for code in ExitCode:
        assert f"| {int(code)} |" in table, code
