"""Every command's --help as a user reads it at 100 columns, held to a snapshot; and how it reads at 80.

After changing a command's options or text on purpose, rewrite the snapshots with
`UPDATE_HELP_SNAPSHOTS=1 python -m pytest tests/cli/test_help.py` and read the diff before committing.
"""

from __future__ import annotations

import os
import pathlib
import re

import pytest

from tests.support.cli import run_cli, telemetry_env

SNAPSHOTS = pathlib.Path(__file__).parent / "help"

COMMANDS = [
    [],
    ["run"],
    ["export"],
    ["config"],
    ["catalog"],
    ["load"],
    ["generate"],
    ["receive"],
    ["smoke"],
    ["record"],
    ["scenarios"],
    ["scenarios", "list"],
    ["scenarios", "show"],
    ["scenarios", "validate"],
    ["scenarios", "schema"],
    ["scenarios", "totals"],
]


def _help(command: list[str], columns: int) -> str:
    env = telemetry_env(COLUMNS=str(columns), NO_COLOR="1", TERM="dumb")
    for key in ("FORCE_COLOR", "PY_COLORS", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "GITHUB_ACTIONS"):
        env.pop(key, None)
    proc = run_cli([*command, "--help"], env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _name(command: list[str]) -> str:
    return "-".join(["claude-telemetry", *command]) + ".txt"


def test_every_command_has_a_snapshot():
    """A command added without a snapshot (or a snapshot left for a removed one) is caught here."""
    from claude_telemetry_cli.cli.app import app, scenarios_app

    names = {c.name or c.callback.__name__ for c in app.registered_commands} | {"scenarios"}
    names |= {f"scenarios {c.name}" for c in scenarios_app.registered_commands}
    assert names == {" ".join(c) for c in COMMANDS if c}
    assert {p.name for p in SNAPSHOTS.glob("*.txt")} == {_name(c) for c in COMMANDS}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_help_matches_its_snapshot(command):
    text = _help(command, 100)
    path = SNAPSHOTS / _name(command)
    if os.environ.get("UPDATE_HELP_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"--help changed; see the module docstring to update {path.name}"


@pytest.mark.parametrize("columns", [80, 100])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_help_reads_plainly(command, columns):
    text = _help(command, columns)
    # Python types as metavars (<bool>, <list[str]>, <int range>) and braces around arguments.
    assert not re.search(r"<[a-z][a-z_\[\] ]*>", text), text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage
    assert all(len(line) <= columns for line in text.splitlines())
    # An example cut in two by the width: a line that continues an indented command line.
    lines = text.splitlines()
    for before, line in zip(lines, lines[1:], strict=False):
        if before.startswith("   claude-telemetry") and not before.rstrip().endswith("\\"):
            assert not line.strip() or line.startswith("   "), f"example wrapped: {before!r}"
    # Prose fills the width: a line ends early only where the next word would not have fit (a break
    # kept from the source text would leave a short line in the middle of a paragraph).
    head = lines[: next((n for n, line in enumerate(lines) if line.startswith("╭")), len(lines))]
    for line, following in zip(head, head[1:], strict=False):
        prose = re.match(r" \S", line) and re.match(r" \S", following)
        if prose and not line.lstrip().startswith(("- ", "Usage:")):
            width = len(line.strip()) + 1 + len(following.split()[0])
            assert width > columns - 2, f"a paragraph broken short at {columns} columns: {line.strip()!r}"
