"""Counts read as English in every message."""

from claude_telemetry_cli.wording import counted


def test_one_is_singular_and_others_plural():
    assert counted(1, "session") == "1 session"
    assert counted(0, "session") == "0 sessions"
    assert counted(1234, "point") == "1,234 points"
    assert counted(1, "series") == "1 series"
    assert counted(3, "series") == "3 series"
