"""What `run` reports of a replay, and how replays played one after another end."""

from __future__ import annotations

import pytest

from claude_telemetry_cli.errors import ExportError, Interrupted
from claude_telemetry_cli.pipeline import ExportStats
from claude_telemetry_cli.records import Record, SessionInfo, Timeline, Totals
from claude_telemetry_cli.replay import ReplayResult, replay_ending


def _timeline() -> Timeline:
    session = SessionInfo(
        index=0, session_id="s", app_version="2.1.331", resource=(), start_at=0.0, end_at=10.0
    )
    return Timeline("demo", "current", (session,), (Record(0.0, 0, "metric", "m", 1.0, ()),))


def test_the_summary_reports_what_was_replayed():
    totals = Totals()
    totals.add_metric("claude_code.cost.usage", (("model", "a"),), 0.25)
    totals.add_metric("claude_code.cost.usage", (("model", "b"),), 0.5)
    totals.add_event("user_prompt", 2)
    result = ReplayResult(
        sessions=1, metric_records=2, event_records=2, simulated_seconds=9.87654, totals=totals
    )
    assert result.summary(_timeline()) == {
        "scenario": "demo",
        "sessions": 1,
        "simulated_seconds": 9.877,
        "metric_records": 2,
        "event_records": 2,
        "metrics": {"claude_code.cost.usage": {"series": 2, "total": 0.75}},
        "events": {"user_prompt": 2},
        "aborted": None,
        "interrupted": False,
    }


def _stats(failed: bool = False) -> list[ExportStats]:
    stats = ExportStats("metrics", "otlp grpc", "http://x", requests=2)
    if failed:
        stats.failed_requests, stats.last_error = 1, "UNAVAILABLE"
    return [stats]


@pytest.mark.parametrize(
    ("results", "kind", "message"),
    [
        ([ReplayResult(stats=_stats()), ReplayResult(stats=_stats())], None, None),
        ([ReplayResult(stats=_stats(failed=True))], ExportError, "metrics: UNAVAILABLE"),
        (
            [ReplayResult(aborted="metrics export failed", stats=_stats())],
            ExportError,
            "metrics export failed",
        ),
        (
            [ReplayResult(interrupted=True, stats=_stats())],
            Interrupted,
            "interrupted: what was recorded until then was delivered",
        ),
        # Dropped by a signal during the delivery: counted as failed, but the user's choice, not an export
        # failure, even when an export had failed before it.
        (
            [ReplayResult(interrupted=True, abandoned=True, stats=_stats(failed=True))],
            Interrupted,
            "interrupted while delivering: exports not delivered by then were dropped (counted as failed)",
        ),
        (
            [
                ReplayResult(
                    aborted="logs export failed", interrupted=True, abandoned=True, stats=_stats(True)
                )
            ],
            Interrupted,
            "interrupted while delivering: exports not delivered by then were dropped (counted as failed)",
        ),
    ],
)
def test_how_replays_end(results, kind, message):
    ending = replay_ending(results)
    if kind is None:
        assert ending is None
    else:
        assert type(ending) is kind and ending.message == message
