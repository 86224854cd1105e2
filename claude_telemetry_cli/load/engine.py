"""The two ways `load` produces requests, inside one worker process.

Fleet mode: N simulated Claude Code processes, each a template (activity.py) with its own session.id and
user.id, exporting its metrics every metric interval from its start and its events a logs interval after
the first one pending, as the replay does; at its end it flushes events, then metrics, and a fresh
session takes its place. Throughput mode: a pool of realistic requests, encoded once, sent in a loop as
fast as the collector takes them or at a given rate.

Both hand Requests to `submit`, which blocks while every sender is busy: a collector that cannot keep
up shows as the schedule falling behind (lag), never as unbounded memory.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from claude_telemetry_cli.contract import MAX_LOG_BATCH
from claude_telemetry_cli.load.activity import Template, session_identity
from claude_telemetry_cli.otlp.encode import (
    EventRecord,
    MetricPoint,
    OtlpEncoder,
    timestamp_attribute,
    with_event_timestamp,
)
from claude_telemetry_cli.records import Attributes, TotalsBuilder

__all__ = ["FleetEngine", "Request", "ThroughputEngine"]


@dataclass(slots=True)
class Request:
    signal: str  # metrics | logs
    body: bytes
    points: int = 0
    events: int = 0
    # What it carries, for the totals of what was acknowledged: (name, attributes, value) per point,
    # event names; None unless totals are tracked.
    metric_items: list | None = None
    event_names: list | None = None


Submit = Callable[[Request], None]


def _swap(attributes: Attributes, session_id: str, user_id: str) -> Attributes:
    """The template's attributes with this session's identity."""
    return tuple(
        (k, session_id if k == "session.id" else user_id if k == "user.id" else v) for k, v in attributes
    )


class _Prepared:
    """A template encoded once: each series' and each event's attribute block, with the template's own
    identity in them. A session's requests are assembled from these bytes, and its own session.id and
    user.id (the same lengths) replace the template's in the finished request."""

    __slots__ = (
        "template",
        "resource",
        "series_names",
        "series_attributes",
        "series_blocks",
        "metric_rows",
        "event_rows",
        "identity",
    )

    def __init__(self, template: Template, encoder: OtlpEncoder) -> None:
        self.template = template
        self.resource = encoder.resource(template.resource)
        index: dict[tuple[str, Attributes], int] = {}
        self.series_names: list[str] = []
        self.series_attributes: list[Attributes] = []
        self.series_blocks: list[bytes] = []
        self.metric_rows: list[tuple[float, int, float]] = []  # (offset, series, value)
        for offset, name, value, attributes in template.metrics:
            key = (name, attributes)
            series = index.get(key)
            if series is None:
                series = index[key] = len(self.series_names)
                self.series_names.append(name)
                self.series_attributes.append(attributes)
                self.series_blocks.append(encoder.attributes(7, attributes))
            self.metric_rows.append((offset, series, value))
        # (offset, name, attributes, block before event.timestamp, block after it or None, trace)
        self.event_rows: list[tuple] = []
        for offset, name, attributes, trace in template.events:
            keys = [k for k, _ in attributes]
            if "event.timestamp" in keys:
                before, after = encoder.attributes(6, attributes), None
            else:
                cut = keys.index("event.name") + 1 if "event.name" in keys else len(keys)
                before = encoder.attributes(6, attributes[:cut])
                after = encoder.attributes(6, attributes[cut:])
            self.event_rows.append((offset, name, attributes, before, after, trace))
        self.identity = (template.session_id.encode(), template.user_id.encode())

    def identity_like(self, seed: int, number: int) -> tuple[str, str]:
        """Session `number`'s own session.id and user.id, as long as the template's, so they can take
        their place in encoded bytes."""
        session_id, user_id = session_identity(seed, number)
        want = len(self.identity[1])
        user_id = (user_id * (want // len(user_id) + 1))[:want]
        return session_id, user_id


def pick_template(templates: Sequence[Template], seed: int, number: int) -> Template:
    """The activity of simulated session `number`: the same for the same seed."""
    return templates[random.Random(f"{seed}/load/template/{number}").randrange(len(templates))]


class _Session:
    __slots__ = (
        "number",
        "template",
        "session_id",
        "user_id",
        "identity_bytes",
        "prepared",
        "start",
        "metric_cursor",
        "event_cursor",
        "last_export_ns",
        "running",
        "log_flush_due",
    )

    def __init__(self, number: int, prepared: _Prepared, start: float, identity: tuple[str, str]):
        self.number = number
        self.prepared = prepared
        self.template = prepared.template
        self.session_id, self.user_id = identity
        self.identity_bytes = (self.session_id.encode(), self.user_id.encode())
        self.start = start
        self.metric_cursor = 0
        self.event_cursor = 0
        self.last_export_ns = 0
        self.running: dict | None = None  # cumulative temporality: series -> total so far
        self.log_flush_due = False


# Work due at one instant: events before metrics at exit, as Claude Code flushes.
_START, _EVENT_PENDING, _LOG_FLUSH, _METRIC_TICK, _END = range(5)


@dataclass
class FleetEngine:
    templates: Sequence[Template]
    encoder: OtlpEncoder
    sessions: int  # concurrent sessions of this worker
    metric_interval_s: float
    logs_interval_s: float
    ramp_up_s: float = 0.0
    seed: int = 1
    first_number: int = 0  # this worker's sessions are numbered first_number, + stride, ...
    stride: int = 1
    temporality: str = "delta"
    track_totals: bool = False
    metrics_on: bool = True
    logs_on: bool = True
    # Keep each template's own session.id and user.id (one session per template, as recorded).
    own_identity: bool = False
    replace_ended: bool = True  # a fresh session takes the place of each one that ends
    clock: Callable[[], float] = time.monotonic
    wall_ns: Callable[[], int] = time.time_ns
    started: int = 0
    active: int = 0
    lag_max_s: float = 0.0
    _queue: list = field(default_factory=list)
    _prepared: dict = field(default_factory=dict)

    def run(self, submit: Submit, should_stop: Callable[[], bool], deadline: float | None, wait) -> None:
        """Play until `deadline` (a clock value; None: until stopped). `wait(seconds)` sleeps and returns
        True when the run is being stopped."""
        self._t0 = self.clock()
        self._wall0 = self.wall_ns()
        self._seq = 0
        self._next_number = self.first_number
        for k in range(self.sessions):
            # Spread over the ramp-up, interleaved across workers, so exports do not come in waves.
            global_k = self.first_number + k * self.stride
            total = self.sessions * self.stride
            self._push(self._t0 + self.ramp_up_s * global_k / max(1, total), _START, None)
        check_at = self._t0
        while self._queue:
            now = self.clock()
            if now >= check_at:
                # A stop event shared between processes costs a system call: look at it 20 times a second.
                if should_stop():
                    break
                check_at = now + 0.05
            due, kind, _, session = self._queue[0]
            if deadline is not None and due >= deadline:
                break
            delay = due - self.clock()
            if delay > 0 and wait(min(delay, 0.25)):
                break
            if delay > 0.25:
                continue
            heapq.heappop(self._queue)
            lag = self.clock() - due
            if lag > self.lag_max_s:
                self.lag_max_s = lag
            self._handle(due, kind, session, submit)

    # -- scheduling ------------------------------------------------------------------------------

    def _push(self, due: float, kind: int, session: _Session | None) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (due, kind, self._seq, session))

    def _ns(self, t: float) -> int:
        return self._wall0 + round((t - self._t0) * 1e9)

    def _start(self, due: float) -> None:
        number = self._next_number
        self._next_number += self.stride
        template = pick_template(self.templates, self.seed, number)
        prepared = self._prepared.get(id(template))
        if prepared is None:
            prepared = self._prepared[id(template)] = _Prepared(template, self.encoder)
        identity = (
            (template.session_id, template.user_id)
            if self.own_identity
            else prepared.identity_like(self.seed, number)
        )
        s = _Session(number, prepared, due, identity)
        s.last_export_ns = self._ns(due)
        if self.temporality == "cumulative":
            s.running = {}
        self.started += 1
        self.active += 1
        end = due + template.duration
        if self.metrics_on and template.metrics and due + self.metric_interval_s < end:
            self._push(due + self.metric_interval_s, _METRIC_TICK, s)
        if self.logs_on and template.events:
            self._push(due + template.events[0][0], _EVENT_PENDING, s)
        self._push(end, _END, s)

    def _handle(self, due: float, kind: int, s: _Session | None, submit: Submit) -> None:
        if kind == _START:
            self._start(due)
        elif kind == _METRIC_TICK:
            self._export_metrics(s, due, submit)
            if due + self.metric_interval_s < s.start + s.template.duration:
                self._push(due + self.metric_interval_s, _METRIC_TICK, s)
        elif kind == _EVENT_PENDING:
            if not s.log_flush_due:
                s.log_flush_due = True
                self._push(due + self.logs_interval_s, _LOG_FLUSH, s)
        elif kind == _LOG_FLUSH:
            s.log_flush_due = False
            self._export_events(s, due, submit)
            events = s.template.events
            if s.event_cursor < len(events):
                self._push(s.start + events[s.event_cursor][0], _EVENT_PENDING, s)
        elif kind == _END:
            if self.logs_on:
                self._export_events(s, due, submit)
            if self.metrics_on:
                self._export_metrics(s, due, submit)
            self.active -= 1
            if self.replace_ended:
                self._push(due, _START, None)

    # -- encoding --------------------------------------------------------------------------------

    def _export_metrics(self, s: _Session, due: float, submit: Submit) -> None:
        prepared = s.prepared
        rows = prepared.metric_rows
        elapsed = due - s.start
        i = s.metric_cursor
        sums: dict[int, float] = {}
        while i < len(rows) and rows[i][0] <= elapsed:
            _, series, value = rows[i]
            sums[series] = sums.get(series, 0.0) + value
            i += 1
        s.metric_cursor = i
        now_ns = self._ns(due)
        if s.running is not None:
            for series, value in sums.items():
                s.running[series] = s.running.get(series, 0.0) + value
            # A cumulative reader reports every series seen so far, from the process start.
            reported, start_ns = s.running, self._ns(s.start)
        else:
            reported, start_ns = sums, s.last_export_ns
        s.last_export_ns = now_ns
        if not sums:
            return  # a collection with nothing new sends nothing
        names, blocks = prepared.series_names, prepared.series_blocks
        by_metric: dict[str, list[bytes]] = {}
        for series, value in reported.items():
            point = self.encoder.point(blocks[series], start_ns, now_ns, value)
            by_metric.setdefault(names[series], []).append(point)
        body = self.encoder.metrics_group(prepared.resource, s.template.app_version, by_metric)
        items = None
        if self.track_totals:
            items = [
                (names[k], _swap(prepared.series_attributes[k], s.session_id, s.user_id), v)
                for k, v in reported.items()
            ]
        submit(Request("metrics", self._own(s, body), points=len(reported), metric_items=items))

    def _export_events(self, s: _Session, due: float, submit: Submit) -> None:
        prepared = s.prepared
        rows = prepared.event_rows
        elapsed = due - s.start
        i = s.event_cursor
        records: list[bytes] = []
        names: list[str] = []
        while i < len(rows) and rows[i][0] <= elapsed:
            offset, name, _, before, after, trace = rows[i]
            at_ns = self._ns(s.start + offset)
            at_ns -= at_ns % 1_000_000  # Claude Code stamps events to the millisecond
            block = before if after is None else before + timestamp_attribute(at_ns) + after
            records.append(self.encoder.log_record(at_ns, name, block, trace))
            names.append(name)
            i += 1
        s.event_cursor = i
        for n in range(0, len(records), MAX_LOG_BATCH):
            chunk = records[n : n + MAX_LOG_BATCH]
            body = self.encoder.logs_group(prepared.resource, s.template.app_version, chunk)
            tracked = names[n : n + MAX_LOG_BATCH] if self.track_totals else None
            submit(Request("logs", self._own(s, body), events=len(chunk), event_names=tracked))

    @staticmethod
    def _own(s: _Session, body: bytes) -> bytes:
        """The request with the session's identity in place of the template's (same lengths)."""
        (template_sid, template_uid), (sid, uid) = s.prepared.identity, s.identity_bytes
        if sid != template_sid and template_sid:
            body = body.replace(template_sid, sid)
        if uid != template_uid and template_uid:
            body = body.replace(template_uid, uid)
        return body


@dataclass
class ThroughputEngine:
    """A pool of realistic requests of about `batch` points (or events) each, sent round and round."""

    templates: Sequence[Template]
    encoder: OtlpEncoder
    batch: int = 100
    rate: float | None = None  # requests per second of this worker; None: as fast as accepted
    seed: int = 1
    first_number: int = 0
    stride: int = 1
    pool_sessions: int = 64
    track_totals: bool = False
    metrics_on: bool = True
    logs_on: bool = True
    clock: Callable[[], float] = time.monotonic
    wall_ns: Callable[[], int] = time.time_ns
    started: int = 0
    active: int = 0
    lag_max_s: float = 0.0

    def build_pool(self) -> list[Request]:
        """Each pool session's whole activity: its points summed per series (one delta each), its events;
        packed into requests of up to `batch` items, several sessions per request when they are small."""
        now_ns = self.wall_ns()
        start_ns = now_ns - 60_000_000_000
        metric_groups: list[tuple[bytes, str, list[MetricPoint]]] = []
        event_groups: list[tuple[bytes, str, list[EventRecord]]] = []
        pool: list[Request] = []
        pending_points = pending_events = 0
        for k in range(self.pool_sessions):
            number = self.first_number + k * self.stride
            template = self.templates[
                random.Random(f"{self.seed}/load/template/{number}").randrange(len(self.templates))
            ]
            sid, uid = session_identity(self.seed, number)
            resource = self.encoder.resource(template.resource)
            sums: dict[tuple[str, Attributes], float] = {}
            for _, name, value, attributes in template.metrics:
                sums[(name, attributes)] = sums.get((name, attributes), 0.0) + value
            points = [
                MetricPoint(name, _swap(a, sid, uid), start_ns, now_ns, v) for (name, a), v in sums.items()
            ]
            events = [
                EventRecord(now_ns, name, with_event_timestamp(_swap(a, sid, uid), now_ns))
                for _, name, a, _ in template.events
            ]
            while points and self.metrics_on:
                room = self.batch - pending_points
                metric_groups.append((resource, template.app_version, points[:room]))
                pending_points += len(points[:room])
                points = points[room:]
                if pending_points >= self.batch:
                    pool.append(self._metrics(metric_groups))
                    metric_groups, pending_points = [], 0
            while events and self.logs_on:
                room = self.batch - pending_events
                event_groups.append((resource, template.app_version, events[:room]))
                pending_events += len(events[:room])
                events = events[room:]
                if pending_events >= self.batch:
                    pool.append(self._logs(event_groups))
                    event_groups, pending_events = [], 0
        if metric_groups:
            pool.append(self._metrics(metric_groups))
        if event_groups:
            pool.append(self._logs(event_groups))
        self.started = self.active = self.pool_sessions
        return pool

    def _metrics(self, groups) -> Request:
        points = [p for _, _, ps in groups for p in ps]
        items = [(p.name, p.attributes, p.value) for p in points] if self.track_totals else None
        return Request(
            "metrics", self.encoder.metrics_request(groups), points=len(points), metric_items=items
        )

    def _logs(self, groups) -> Request:
        events = [e for _, _, es in groups for e in es]
        names = [e.name for e in events] if self.track_totals else None
        return Request("logs", self.encoder.logs_request(groups), events=len(events), event_names=names)

    def run(self, submit: Submit, should_stop: Callable[[], bool], deadline: float | None, wait) -> None:
        pool = self.build_pool()
        if not pool:
            return
        t0 = self.clock()
        sent = 0
        check_at = t0
        while True:
            now = self.clock()
            if now >= check_at:
                # A stop event shared between processes costs a system call: look at it 20 times a second.
                if should_stop():
                    break
                check_at = now + 0.05
            if deadline is not None and now >= deadline:
                break
            if self.rate:
                due = t0 + sent / self.rate
                if due > now:
                    if wait(min(due - now, 0.25)):
                        break
                    continue
                self.lag_max_s = max(self.lag_max_s, now - due)
            submit(pool[sent % len(pool)])
            sent += 1


def add_acknowledged(totals: TotalsBuilder | None, request: Request) -> None:
    """Count an acknowledged request's points and events in the totals of what arrived."""
    if totals is None:
        return
    if request.metric_items:
        for name, attributes, value in request.metric_items:
            totals.add_metric(name, attributes, value)
    if request.event_names:
        for name in request.event_names:
            totals.add_event(name)
