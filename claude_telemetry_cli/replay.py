"""Timeline x pipeline x clock -> ReplayResult: plays records in scenario time and exports on schedule."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from claude_telemetry_cli.clock import Clock
from claude_telemetry_cli.errors import ExportError, Interrupted, TelemetryError
from claude_telemetry_cli.records import METRIC, Playable, SessionInfo, SessionPlay, Totals, TotalsBuilder

# Order of work due at the same instant: a process starts, records happen, spans end (after the records
# they enclose), exports run, it exits.
_HEADERS, _START, _RECORD, _SPAN, _LOG_FLUSH, _SPAN_FLUSH, _METRIC_TICK, _END = range(8)
_TIMERS = frozenset((_LOG_FLUSH, _SPAN_FLUSH, _METRIC_TICK))


@dataclass
class ReplayResult:
    sessions: int = 0  # the sessions started: all of them unless the replay stopped early
    metric_records: int = 0
    event_records: int = 0
    span_records: int = 0
    simulated_seconds: float = 0.0
    aborted: str | None = None  # why the replay stopped early (an export failed)
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM; what was recorded was still delivered
    abandoned: bool = False  # interrupted while delivering: what was not sent yet was dropped
    stats: list = field(default_factory=list)  # pipeline.ExportStats per exporter
    # What was replayed, record by record: the scenario's totals only when the replay went to its end.
    totals: Totals = field(default_factory=Totals)

    @property
    def export_failed(self) -> bool:
        return self.aborted is not None or any(not s.ok for s in self.stats)

    def summary(self, timeline: Playable) -> dict:
        """What `run` reports of this replay of `timeline`."""
        # What was replayed, not the scenario's totals: they differ when the replay stopped early.
        totals = self.totals
        sums, series = totals.metric_sums(), totals.series_count()
        return {
            "scenario": timeline.name,
            "sessions": self.sessions,
            "simulated_seconds": round(self.simulated_seconds, 3),
            "metric_records": self.metric_records,
            "event_records": self.event_records,
            "metrics": {name: {"series": series[name], "total": sums[name]} for name in sums},
            "events": dict(sorted(totals.events.items())),
            # With tracing only, so a summary without it keeps its shape.
            **(
                {"span_records": self.span_records, "spans": dict(sorted(totals.spans.items()))}
                if timeline.has_spans
                else {}
            ),
            "aborted": self.aborted,
            "interrupted": self.interrupted,
        }


def replay_ending(results: Sequence[ReplayResult]) -> TelemetryError | None:
    """How replays played one after another (the last stopped the rest if it stopped early) end: a
    signal that cut the delivery short, the first failed export, an interrupt, or None when every
    export went through."""
    if not results:
        return None
    last = results[-1]
    # Requests dropped by a signal during the delivery are counted as failed, but they are the user's
    # choice: the signal decides the ending, whatever failed before it.
    if last.abandoned:
        return Interrupted(
            "interrupted while delivering: exports not delivered by then were dropped (counted as failed)"
        )
    aborted = next((r.aborted for r in results if r.aborted), None)
    if aborted is not None or any(not s.ok for s in last.stats):
        from claude_telemetry_cli.pipeline import first_failure

        first = first_failure(last.stats)
        return ExportError(f"{first.signal}: {first.last_error}" if first is not None else aborted)
    if last.interrupted:
        return Interrupted("interrupted: what was recorded until then was delivered")
    return None


Progress = Callable[[int, int], None]


def replay(
    timeline: Playable,
    factory,
    clock: Clock,
    *,
    metric_interval_s: float,
    logs_interval_s: float,
    traces_interval_s: float = 5.0,
    progress: Progress | None = None,
    stop_on_export_failure: bool = True,
) -> ReplayResult:
    """Play `timeline` through processes built by `factory` (a pipeline.PipelineFactory).

    Each session is one process: it starts at its start time, exports metrics every
    `metric_interval_s` of scenario time from its start (a collection with nothing new sends nothing),
    exports events `logs_interval_s` after the first one pending (spans likewise, `traces_interval_s`
    after the first ended span), and at its end flushes events and spans, then metrics. A span is
    replayed when it ends. `progress` counts records, not spans. With an export failure (the
    exporters have already retried) the replay stops at once, even in the middle of a wait.

    Whichever way it ends, the delivery at the end waits on no collector longer than the export
    timeout (see PipelineFactory.drain), and a signal during it ends it at once; every request is then
    counted as sent or failed.
    """
    result = ReplayResult(stats=factory.stats)
    # Counts and sums of what was replayed; what the records carried is the scenario's totals' to say.
    replayed = TotalsBuilder(content=False)
    total = timeline.record_count
    queue: list[tuple] = []
    seq = itertools.count()

    def push(at: float, kind: int, session: int, payload=None) -> None:
        heapq.heappush(queue, (at, kind, next(seq), session, payload))

    # Processes join the queue as the replay reaches their start, so only those running at once are
    # held in memory (a spooled month of sessions is read back one process at a time).
    plays = timeline.plays()
    upcoming = next(plays, None)
    sessions: dict[int, SessionInfo] = {}

    def admit(play: SessionPlay) -> None:
        info = play.info
        sessions[info.index] = info
        push(info.start_at, _START, info.index)
        push(info.end_at, _END, info.index)
        for r in play.records:
            push(r.at, _RECORD, info.index, r)
        for span in play.spans:  # in the order they end, so at one instant children end first
            push(span.end_at, _SPAN, info.index, span)

    if upcoming is not None:
        factory.start_prometheus(upcoming.info)
    refresh_s = factory.headers_refresh_s
    processes: dict[int, object] = {}
    stop = factory.failure if stop_on_export_failure else None
    log_flush_due: set[int] = set()
    span_flush_due: set[int] = set()
    done = 0

    def failed() -> str | None:
        from claude_telemetry_cli.pipeline import first_failure

        s = first_failure(factory.stats)
        if s is None:
            return None
        return f"{s.signal} export via {s.exporter} to {s.destination} failed: {s.last_error}"

    try:
        if upcoming is not None:
            admit(upcoming)
            upcoming = next(plays, None)
            if refresh_s:
                push(refresh_s, _HEADERS, -1)
        while queue or upcoming is not None:
            while upcoming is not None and (not queue or upcoming.info.start_at <= queue[0][0]):
                admit(upcoming)
                upcoming = next(plays, None)
            at, kind, _, index, payload = heapq.heappop(queue)
            if kind in _TIMERS and (index not in processes or processes[index].closed):
                continue  # a timer of a process that has exited: the replay does not wait for it
            if stop is None:
                clock.sleep_until(at)
            elif at > clock.now() and clock.wait(stop, at - clock.now()):
                break  # an export failed meanwhile: a quiet hour ahead must not keep the replay going
            if kind == _HEADERS:
                if queue or upcoming is not None:  # only while the replay goes on
                    factory.refresh_headers()
                    push(at + refresh_s, _HEADERS, -1)
                continue
            if kind == _START:
                session = sessions[index]
                proc = factory.open(session)
                processes[index] = proc
                result.sessions += 1
                # A process exporting at exit needs no tick there; the shutdown collects what is left.
                if proc.has_metric_readers and at + metric_interval_s < session.end_at:
                    push(at + metric_interval_s, _METRIC_TICK, index)
            elif kind == _RECORD:
                proc = processes[index]
                attributes = dict(payload.attributes)
                if payload.signal == METRIC:
                    proc.add(payload.name, payload.value, attributes)
                    replayed.add_metric(payload.name, payload.attributes, float(payload.value or 0.0))
                    result.metric_records += 1
                else:
                    proc.emit(payload.name, attributes, trace=payload.trace)
                    replayed.add_event(payload.name)
                    result.event_records += 1
                    if index not in log_flush_due and proc.pending_logs:
                        log_flush_due.add(index)
                        push(at + logs_interval_s, _LOG_FLUSH, index)
                done += 1
                if progress is not None:
                    progress(done, total)
            elif kind == _SPAN:
                proc = processes[index]
                proc.span(payload)
                replayed.add_span(payload.name)
                result.span_records += 1
                if index not in span_flush_due and proc.pending_spans:
                    span_flush_due.add(index)
                    push(at + traces_interval_s, _SPAN_FLUSH, index)
            elif kind == _SPAN_FLUSH:
                span_flush_due.discard(index)
                proc = processes.get(index)
                if proc is not None and not proc.closed:
                    proc.flush_spans()
            elif kind == _LOG_FLUSH:
                log_flush_due.discard(index)
                proc = processes.get(index)
                if proc is not None and not proc.closed:
                    proc.flush_logs()
            elif kind == _METRIC_TICK:
                proc = processes.get(index)
                if proc is not None and not proc.closed:
                    proc.export_metrics()
                    if at + metric_interval_s < sessions[index].end_at:
                        push(at + metric_interval_s, _METRIC_TICK, index)
            elif kind == _END:
                proc = processes.get(index)
                if proc is not None:
                    proc.shutdown()  # still open if interrupted before its exit was on its way
                processes.pop(index, None)
                sessions.pop(index, None)
            result.simulated_seconds = at
            if stop is not None and stop.is_set():
                break
        if stop is not None and stop.is_set():
            result.aborted = failed()
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        # On an abort, close what is open without waiting on a dead collector again (exports queued by
        # processes that already ended included): what they would send is counted as failed. On Ctrl-C,
        # deliver what was recorded, unless an export has failed by then.
        try:
            aborting = result.aborted is not None
            if aborting:
                factory.abort()
            for proc in processes.values():
                if not aborting and stop is not None and stop.is_set():
                    aborting = True
                    factory.abort()
                proc.shutdown()
            factory.drain(stop_on_failure=stop_on_export_failure)
        except KeyboardInterrupt:
            # Interrupted while delivering: give up on what is not sent yet (counted as failed) and end
            # with what was delivered, rather than wait on every request.
            result.interrupted = result.abandoned = True
            _give_up(factory, processes.values())
    if result.aborted is None and (why := failed()) and not result.abandoned:
        result.aborted = why
    result.totals = replayed.totals()
    return result


def _give_up(factory, processes: Collection) -> None:
    """Stop exporting and count what is left as failed (what the open processes would send at exit
    included), leaving requests already sent a moment to be answered.

    Every step is quick, and can be taken again: a further signal (`timeout` signals the process, then
    its group, so one often follows at once) only ends that moment, and the summary still comes.
    """
    while True:
        try:
            factory.abort()
            for proc in processes:
                proc.shutdown()
            factory.drain()
            return
        except KeyboardInterrupt:
            continue
