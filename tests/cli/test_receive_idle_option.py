"""`receive --idle`: a bad value or a use without a verdict is one line and exit 2, found before anything
listens."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from claude_telemetry_cli.cli import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expect", "quickstart", "--idle", "0"], "--idle: must be more than 0, got '0'"),
        (["--expect", "quickstart", "--idle", "0s"], "--idle: must be more than 0, got '0s'"),
        (["--expect", "quickstart", "--idle", "-1"], "--idle: duration must be >= 0, got '-1'"),
        (
            ["--expect", "quickstart", "--idle", "soon"],
            "--idle: invalid duration 'soon'; use e.g. 250ms, 5s, 1m30s, 2h or a number of seconds",
        ),
        (["--idle", "5s"], "--idle ends the wait for a verdict: give it with --expect or --expect-totals"),
    ],
)
def test_a_bad_idle_is_one_line_and_exit_2(args, message, isolated_env):
    result = CliRunner().invoke(app, ["receive", "--grpc-port", "0", "--http-port", "0", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"error: {message}"]
