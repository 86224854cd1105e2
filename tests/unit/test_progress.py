"""The replay's progress bar: scenario time and an ETA, so a replay that has sent nothing yet shows
that it is moving."""

from __future__ import annotations

import io
import re

from rich.console import Console

from claude_telemetry_cli import output

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _frames(console: Console) -> str:
    return _ANSI.sub("", console.file.getvalue())


def test_the_bar_follows_scenario_time_before_any_record_is_replayed():
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    scenario_now, wall = [0.0], [1000.0]
    two_weeks = 336 * 3600.0
    with output.replay_progress(
        console, "org-month", 159_302, two_weeks, now=lambda: scenario_now[0], get_time=lambda: wall[0]
    ) as update:
        # A minute of wall time at 843x, and the first session has not started yet.
        scenario_now[0], wall[0] = 14 * 3600 + 3 * 60, 1060.0
        update(0)
    text = _frames(console)
    assert "14h03m of 336h00m" in text, text
    assert "0/159,302 records" in text, text
    # 60 s for 50,580 scenario seconds: 1,159,020 left take 1,375 s.
    assert "ETA 0:22:55" in text, text


def test_a_short_scenario_shows_minutes_and_seconds_and_no_eta_before_it_moves():
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with output.replay_progress(console, "quickstart", 23, 305.0, now=lambda: 0.0, get_time=lambda: 5.0):
        pass
    text = _frames(console)
    assert "0m00s of 5m05s" in text and "0/23 records" in text and "ETA -:--:--" in text, text
