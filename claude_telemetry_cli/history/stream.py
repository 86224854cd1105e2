"""A scenario as the export requests its processes would have made, at its own times, in time order.

Each session is one Claude Code process (load/session.py's SessionPlayer, the schedule `load` and
Locust use, held equal to the SDK path by tests/unit/test_encode.py): its metrics every metric interval
from its start, its events and spans an interval after the first one pending, and at its end what it
still holds. Every timestamp is its scenario time shifted into the window (when.HistoryWindow). The
processes are read in the order they start and merged by the time each request was due, so memory
follows the processes running at once, not the length of the period.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from claude_telemetry_cli.load.activity import Template
from claude_telemetry_cli.load.session import Request, SessionContext, SessionPlayer
from claude_telemetry_cli.otlp.encode import OtlpEncoder
from claude_telemetry_cli.records import Playable

__all__ = ["Export", "HistoryPlan", "scenario_exports"]


@dataclass(frozen=True, slots=True)
class HistoryPlan:
    """What a shifted replay needs beyond the scenario: the window, the cadence, which signals."""

    start_ns: int
    metric_interval_s: float
    logs_interval_s: float
    traces_interval_s: float
    temporality: str = "delta"
    metrics: bool = True
    logs: bool = True
    traces: bool = False


@dataclass(frozen=True, slots=True)
class Export:
    """One export request: `at` the scenario second its process sent it, `request` what it sent."""

    at: float
    request: Request


def scenario_exports(playable: Playable, encoder: OtlpEncoder, plan: HistoryPlan) -> Iterator[Export]:
    """Every export request of `playable`'s processes, in the order they were due."""
    ctx = SessionContext(
        encoder,
        plan.metric_interval_s,
        plan.logs_interval_s,
        clock0=0.0,
        wall0_ns=plan.start_ns,
        temporality=plan.temporality,
        metrics_on=plan.metrics,
        logs_on=plan.logs,
        traces_interval_s=plan.traces_interval_s,
        traces_on=plan.traces,
    )
    plays = playable.plays()
    upcoming = next(plays, None)
    running: list[tuple[float, int, SessionPlayer]] = []
    order = itertools.count()
    while running or upcoming is not None:
        # A process joins when the merge reaches its start: the ones still to come wait on disk.
        while upcoming is not None and (not running or upcoming.info.start_at <= running[0][0]):
            info = upcoming.info
            template = Template.from_compiled(info, list(upcoming.records), upcoming.spans)
            player = ctx.replay(template, info.index, info.start_at)
            heapq.heappush(running, (player.next_due, next(order), player))
            upcoming = next(plays, None)
        due, _, player = heapq.heappop(running)
        for request in player.step():
            yield Export(due, request)
        if not player.ended and player.next_due is not None:
            heapq.heappush(running, (player.next_due, next(order), player))
