"""A scenario as the export requests its processes would have made, at its own times, in time order.

Each session is one Claude Code process (load/session.py's SessionPlayer, the schedule `load` and
Locust use, held equal to the SDK path by tests/unit/test_encode.py): its metrics every metric interval
from its start, its events and spans an interval after the first one pending, and at its end what it
still holds. Every timestamp is its scenario time shifted into the window (when.HistoryWindow). The
processes are read in the order they start and merged by the time each request was due, so memory
follows the processes running at once, not the length of the period.

Encoding a session's attributes is most of the work before its requests can be made. A scenario
compiled with a HistorySpooler has it done already, where the session was compiled (for a preset, in
the compile's worker processes, beside the others): the stream then reads each session ready to send.
"""

from __future__ import annotations

import heapq
import itertools
import pickle
from collections.abc import Iterator
from dataclasses import dataclass

from claude_telemetry_cli.load.activity import Template
from claude_telemetry_cli.load.session import Request, SessionContext, SessionPlayer, prepare
from claude_telemetry_cli.otlp.encode import OtlpEncoder
from claude_telemetry_cli.records import Playable, Record, SessionInfo, SpanRecord

__all__ = ["Export", "HistoryPlan", "HistorySpooler", "scenario_exports"]


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


class HistorySpooler:
    """A compiled process kept as history sends it: its template encoded for `profile` (a Spooler for
    compile_preset)."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.format = _prepared_format(profile)
        self._encoder: OtlpEncoder | None = None

    def __getstate__(self) -> str:
        return self.profile

    def __setstate__(self, profile: str) -> None:
        self.__init__(profile)

    def __call__(self, info: SessionInfo, records: list[Record], spans: list[SpanRecord]) -> bytes:
        if self._encoder is None:
            from claude_telemetry_cli.contract import get_profile

            # The attributes are all a session's template encodes: the temporality plays no part.
            self._encoder = OtlpEncoder(get_profile(self.profile))
        prepared = _prepared(info, records, spans, self._encoder)
        return pickle.dumps((info, prepared), protocol=pickle.HIGHEST_PROTOCOL)


def _prepared(info: SessionInfo, records, spans, encoder: OtlpEncoder):
    """A compiled process's template, encoded for replay()."""
    return prepare(Template.from_compiled(info, list(records), spans), encoder)


def _prepared_format(profile: str) -> str:
    return f"history templates ({profile})"


def _sessions(playable: Playable, encoder: OtlpEncoder) -> Iterator[tuple[SessionInfo, object]]:
    """(info, the session prepared for `encoder`) of each process, in the order they start."""
    if getattr(playable, "spool_format", None) == _prepared_format(encoder.profile.name):
        for blob in playable.blobs():  # type: ignore[attr-defined]
            yield pickle.loads(blob)
        return
    for play in playable.plays():
        yield play.info, _prepared(play.info, play.records, play.spans, encoder)


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
    sessions = _sessions(playable, encoder)
    upcoming = next(sessions, None)
    running: list[tuple[float, int, SessionPlayer]] = []
    order = itertools.count()
    while running or upcoming is not None:
        # A process joins when the merge reaches its start: the ones still to come wait on disk.
        while upcoming is not None and (not running or upcoming[0].start_at <= running[0][0]):
            info, prepared = upcoming
            player = ctx.replay(prepared, info.index, info.start_at)
            heapq.heappush(running, (player.next_due, next(order), player))
            upcoming = next(sessions, None)
        due, _, player = heapq.heappop(running)
        for request in player.step():
            yield Export(due, request)
        if not player.ended and player.next_due is not None:
            heapq.heappush(running, (player.next_due, next(order), player))
