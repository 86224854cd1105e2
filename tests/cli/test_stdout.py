"""Standard output that fails: a pipe whose reader left ends quietly, a full or closed one in one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.cli import telemetry_env

COMMANDS = {
    "catalog": ["catalog"],
    "config": ["config"],
    "scenarios totals": ["scenarios", "totals", "quickstart"],
    "scenarios show": ["scenarios", "show", "quickstart"],
    "scenarios schema": ["scenarios", "schema"],
    "generate": ["generate", "--preset", "small-team", "--days", "1"],
    "catalog --json": ["catalog", "--json"],
}


def _run(args: list[str], stdout) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "claude_telemetry_cli", *args],
        env=telemetry_env(),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )


def _stderr_lines(proc: subprocess.CompletedProcess) -> list[str]:
    # `scenarios show` names the file it prints on stderr first: that line is not the error.
    return [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("# ")]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_pipe_whose_reader_left_ends_quietly(command):
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head` that has read what it wanted
    try:
        proc = _run(COMMANDS[command], write_end)
    finally:
        os.close(write_end)

    assert proc.returncode == 141, proc.stderr
    assert _stderr_lines(proc) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_full_stdout_is_one_line_and_exit_2(command):
    with open("/dev/full", "w") as full:
        proc = _run(COMMANDS[command], full)

    assert proc.returncode == 2, proc.stderr
    assert _stderr_lines(proc) == ["error: cannot write to standard output: No space left on device"]


@pytest.mark.parametrize("command", ["catalog", "scenarios show", "generate"])
def test_a_closed_stdout_is_one_line_and_exit_2(command):
    proc = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "claude_telemetry_cli", *COMMANDS[command]],
        env=telemetry_env(),
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 2, proc.stderr
    assert _stderr_lines(proc) == ["error: cannot write to standard output: it is closed"]


def test_a_domain_error_is_what_ends_a_command_whose_stdout_also_failed():
    with open("/dev/full", "w") as full:
        proc = _run(["scenarios", "totals", "no-such-scenario"], full)

    assert proc.returncode == 2
    lines = _stderr_lines(proc)
    assert len(lines) == 1 and "no-such-scenario" in lines[0] and "standard output" not in lines[0]
