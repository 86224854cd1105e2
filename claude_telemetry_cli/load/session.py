"""One simulated Claude Code session: what it exports, and when. The one implementation of a session's
schedule, used by fleet mode (engine.FleetEngine plays thousands from one queue) and by Locust (each user
plays one and sleeps until its next export).

A session is a template (activity.py) with its own session.id and user.id. It exports its metrics every
metric interval from its start (one delta per series with something new; with cumulative temporality,
every series seen so far), its events a logs interval after the first one pending (at most
MAX_LOG_BATCH per request), and at its end the events, then the metrics, still pending: what the replay
does with the OpenTelemetry SDK, which tests/unit/test_encode.py holds it to.

Templates are encoded once (_Prepared): each series' and each event's attribute block, with the
template's own identity in them. A request is assembled from those bytes, and the session's own ids
(the same lengths) replace the template's in the finished request.
"""

from __future__ import annotations

import hashlib
import heapq
import operator
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from claude_telemetry_cli.contract import MAX_LOG_BATCH
from claude_telemetry_cli.contract.spans import MAX_SPAN_BATCH
from claude_telemetry_cli.load.acknowledged import Batch, Carried, Shape, event_shape, span_shape
from claude_telemetry_cli.load.activity import Template
from claude_telemetry_cli.otlp.encode import LogRecordShape, OtlpEncoder
from claude_telemetry_cli.records import Attributes

__all__ = ["Request", "SessionContext", "SessionPlayer", "pick_template", "prepare", "session_identity"]


@dataclass(slots=True)
class Request:
    signal: str  # metrics | logs | traces
    body: bytes
    points: int = 0
    events: int = 0
    spans: int = 0
    # What it carries, for the totals of what was acknowledged: (name, attributes, value) per point;
    # what its events or spans carry. None unless totals are tracked.
    metric_items: list | None = None
    carried: Carried | None = None
    repeated: bool = False  # the same request object is sent again and again (throughput mode)


def pick_template(templates: Sequence[Template], seed: int, number: int) -> Template:
    """The activity of simulated session `number`: the same for the same seed."""
    return templates[random.Random(f"{seed}/load/template/{number}").randrange(len(templates))]


def session_identity(seed: int, number: int, user_id_length: int = 64) -> tuple[str, str]:
    """(session.id, user.id) of simulated session `number`: distinct, and the same for the same seed."""
    digest = hashlib.sha256(f"{seed}/load/{number}".encode()).digest()
    session_id = str(uuid.UUID(bytes=digest[:16], version=4))
    user_id = hashlib.sha256(digest).hexdigest()
    return session_id, (user_id * (user_id_length // 64 + 1))[:user_id_length]


def swap_identity(attributes: Attributes, session_id: str, user_id: str) -> Attributes:
    """The template's attributes with a session's own identity."""
    return tuple(
        (k, session_id if k in _SESSION_KEYS else user_id if k == "user.id" else v) for k, v in attributes
    )


# The keys whose value is the session id: the standard attribute, and the spans' conversation id.
_SESSION_KEYS = frozenset({"session.id", "gen_ai.conversation.id"})


_key = operator.itemgetter(0)


class _Prepared:
    """A template encoded once. It pickles without the template (what a session's requests are made of,
    not what its totals count), so sessions can be prepared where they are compiled."""

    __slots__ = (
        "template",
        "duration",
        "app_version",
        "resource",
        "series_names",
        "series_attributes",
        "series_heads",
        "metric_rows",
        "event_rows",
        "span_rows",
        "identity",
        "_shapes",
        "_batches",
    )

    def __init__(self, template: Template, encoder: OtlpEncoder) -> None:
        self.template: Template | None = template
        self.duration = template.duration
        self.app_version = template.app_version
        self.resource = encoder.resource(template.resource)
        index: dict[tuple[str, Attributes], int] = {}
        self.series_names: list[str] = []
        self.series_attributes: list[Attributes] = []
        self.series_heads: list[bytes] = []  # each series' data point up to its times and value
        self.metric_rows: list[tuple[float, int, float]] = []  # (offset, series, value)
        for offset, name, value, attributes in template.metrics:
            key = (name, attributes)
            series = index.get(key)
            if series is None:
                series = index[key] = len(self.series_names)
                self.series_names.append(name)
                self.series_attributes.append(attributes)
                self.series_heads.append(encoder.point_head(encoder.attributes(7, attributes)))
            self.metric_rows.append((offset, series, value))
        # (offset, name, the record encoded but for its instant)
        self.event_rows: list[tuple[float, str, LogRecordShape]] = []
        # An event's attributes up to event.name (the session's standard attributes, then the name)
        # repeat across its events: encoded once per session and name.
        heads: dict[Attributes, bytes] = {}
        for offset, name, attributes, trace in template.events:
            keys = list(map(_key, attributes))
            if "event.timestamp" in keys:
                before, after = encoder.attributes(6, attributes), None
            else:
                cut = keys.index("event.name") + 1 if "event.name" in keys else len(keys)
                head = attributes[:cut]
                before = heads.get(head)
                if before is None:
                    before = heads[head] = encoder.attributes(6, head)
                after = encoder.attributes(6, attributes[cut:])
            self.event_rows.append((offset, name, LogRecordShape(encoder, name, before, after, trace)))
        # (end offset, start offset, the span encoded but for its times: its arguments to
        # OtlpEncoder.span, and its events as (offset, name, attributes(3, ...)))
        self.span_rows: list[tuple[float, float, tuple, tuple, tuple]] = [
            (
                span.end_at,
                span.start_at,
                (span.trace_id, span.span_id, span.parent_span_id, span.name),
                (encoder.attributes(9, span.attributes), span.status, span.status_message),
                tuple((e.at, e.name, encoder.attributes(3, e.attributes)) for e in span.events),
            )
            for span in template.spans
        ]
        self.identity = (template.session_id.encode(), template.user_id.encode())
        self._shapes: dict[str, list[Shape]] | None = None
        self._batches: dict[tuple[str, int, int], Batch] = {}

    _STATE = (
        "duration",
        "app_version",
        "resource",
        "series_names",
        "series_heads",
        "metric_rows",
        "event_rows",
        "span_rows",
        "identity",
    )

    def __reduce__(self):
        return _restore_prepared, tuple(getattr(self, name) for name in self._STATE)

    def batch(self, kind: str, first: int, end: int) -> Batch:
        """The records of event (or span) rows first..end-1, as the totals count them: shared by every
        session of this template that sends those rows, whatever its identity."""
        found = self._batches.get((kind, first, end))
        if found is None:
            if self._shapes is None:
                template = self.template
                if template is None:
                    raise RuntimeError("a prepared session read back carries no totals")
                self._shapes = {
                    "event": [event_shape(name, attributes) for _, name, attributes, _ in template.events],
                    "span": [
                        span_shape(s.name, s.attributes, s.status, s.status_message) for s in template.spans
                    ],
                }
            found = self._batches[(kind, first, end)] = Batch(self._shapes[kind][first:end])
        return found


def prepare(template: Template, encoder: OtlpEncoder) -> _Prepared:
    """`template` encoded once by `encoder`, for SessionContext.replay(); it pickles compactly
    (without what totals need), so it can be made in another process."""
    return _Prepared(template, encoder)


def _restore_prepared(*state) -> _Prepared:
    prepared = _Prepared.__new__(_Prepared)
    for name, value in zip(_Prepared._STATE, state, strict=True):
        setattr(prepared, name, value)
    prepared.template = None
    prepared.series_attributes = []
    prepared._shapes = None
    prepared._batches = {}
    return prepared


@dataclass
class SessionContext:
    """What the sessions of one process share: the encoder, the intervals, the clock's origin."""

    encoder: OtlpEncoder
    metric_interval_s: float
    logs_interval_s: float
    clock0: float  # a reading of the engine's Clock ...
    wall0_ns: int  # ... and the wall time it stands for, which the exports carry
    temporality: str = "delta"
    metrics_on: bool = True
    logs_on: bool = True
    track_totals: bool = False
    traces_interval_s: float = 5.0
    traces_on: bool = False
    _prepared: dict = field(default_factory=dict)

    def ns(self, t: float) -> int:
        return self.wall0_ns + round((t - self.clock0) * 1e9)

    def ms(self, t: float) -> int:
        """ns(t) on the millisecond at or before it: Claude Code's metric points start and end on one."""
        at_ns = self.ns(t)
        return at_ns - at_ns % 1_000_000

    def begin(
        self,
        templates: Sequence[Template],
        seed: int,
        number: int,
        start: float,
        *,
        own_identity: bool = False,
    ) -> SessionPlayer:
        """Simulated session `number`, starting at clock value `start`. With `own_identity` it keeps the
        template's ids (to replay one recorded session as it was)."""
        template = pick_template(templates, seed, number)
        prepared = self._prepared.get(id(template))
        if prepared is None:
            prepared = self._prepared[id(template)] = _Prepared(template, self.encoder)
        if own_identity:
            identity = (template.session_id, template.user_id)
        else:
            identity = session_identity(seed, number, len(template.user_id))
        return SessionPlayer(self, prepared, number, identity, start)

    def replay(self, prepared: _Prepared, number: int, start: float) -> SessionPlayer:
        """One recorded or compiled session as it was (its own ids), starting at clock value `start`,
        encoded for it alone (prepare(), perhaps in another process): a scenario's sessions are each
        played once."""
        sid, uid = prepared.identity
        return SessionPlayer(self, prepared, number, (sid.decode(), uid.decode()), start)


# Work due at one instant, in this order: records happen (events, then spans ending after the records
# they enclose), exports run (events, spans, metrics), the process exits, as the replay and Claude Code do.
_EVENT_PENDING, _SPAN_PENDING, _LOG_FLUSH, _SPAN_FLUSH, _METRIC_TICK, _END = range(6)


class SessionPlayer:
    """The exports of one simulated session, one scheduled step at a time: `next_due` is when the next
    step is due (a clock value), `step()` does it and returns the requests to send, in order; after the
    end step `ended` is True. The times exported are the scheduled ones, whenever step() is called."""

    __slots__ = (
        "ctx",
        "prepared",
        "number",
        "session_id",
        "user_id",
        "_identity",
        "start",
        "end",
        "ended",
        "_metric_cursor",
        "_event_cursor",
        "_last_export_ns",
        "_running",
        "_log_flush_due",
        "_span_cursor",
        "_span_flush_due",
        "_queue",
        "_seq",
    )

    def __init__(
        self, ctx: SessionContext, prepared: _Prepared, number: int, identity: tuple[str, str], start: float
    ) -> None:
        self.ctx = ctx
        self.prepared = prepared
        self.number = number
        self.session_id, self.user_id = identity
        self._identity = (self.session_id.encode(), self.user_id.encode())
        self.start = start
        self.end = start + prepared.duration
        self.ended = False
        self._metric_cursor = 0
        self._event_cursor = 0
        self._last_export_ns = ctx.ms(start)
        self._running: dict[int, float] | None = {} if ctx.temporality == "cumulative" else None
        self._log_flush_due = False
        self._span_cursor = 0
        self._span_flush_due = False
        self._queue: list[tuple[float, int, int]] = []
        self._seq = 0
        if ctx.metrics_on and prepared.metric_rows and start + ctx.metric_interval_s < self.end:
            self._push(start + ctx.metric_interval_s, _METRIC_TICK)
        if ctx.logs_on and prepared.event_rows:
            self._push(start + prepared.event_rows[0][0], _EVENT_PENDING)
        if ctx.traces_on and prepared.span_rows:
            self._push(start + prepared.span_rows[0][0], _SPAN_PENDING)
        self._push(self.end, _END)

    @property
    def next_due(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def _push(self, due: float, kind: int) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (due, kind, self._seq))

    def step(self) -> list[Request]:
        if not self._queue:
            return []
        due, kind, _ = heapq.heappop(self._queue)
        ctx = self.ctx
        out: list[Request] = []
        if kind == _METRIC_TICK:
            self._export_metrics(due, out)
            if due + ctx.metric_interval_s < self.end:
                self._push(due + ctx.metric_interval_s, _METRIC_TICK)
        elif kind == _EVENT_PENDING:
            if not self._log_flush_due:
                self._log_flush_due = True
                self._push(due + ctx.logs_interval_s, _LOG_FLUSH)
        elif kind == _LOG_FLUSH:
            self._log_flush_due = False
            self._export_events(due, out)
            rows = self.prepared.event_rows
            if self._event_cursor < len(rows):
                self._push(self.start + rows[self._event_cursor][0], _EVENT_PENDING)
        elif kind == _SPAN_PENDING:
            if not self._span_flush_due:
                self._span_flush_due = True
                self._push(due + ctx.traces_interval_s, _SPAN_FLUSH)
        elif kind == _SPAN_FLUSH:
            self._span_flush_due = False
            self._export_spans(due, out)
            rows = self.prepared.span_rows
            if self._span_cursor < len(rows):
                self._push(self.start + rows[self._span_cursor][0], _SPAN_PENDING)
        else:
            self._exit(due, out)
        return out

    def flush(self, at: float) -> list[Request]:
        """The session's process stops at clock value `at` (the run ends before its activity does): what
        it holds goes out as at its exit, events then metrics, as Claude Code flushes when it exits."""
        out: list[Request] = []
        if not self.ended:
            self._exit(at, out)
        return out

    def _exit(self, due: float, out: list[Request]) -> None:
        """Events, spans, then metrics; a flush still scheduled has nothing left to send."""
        if self.ctx.logs_on:
            self._export_events(due, out)
        if self.ctx.traces_on:
            self._export_spans(due, out)
        if self.ctx.metrics_on:
            self._export_metrics(due, out)
        self._queue.clear()
        self.ended = True

    def _export_metrics(self, due: float, out: list[Request]) -> None:
        ctx, prepared = self.ctx, self.prepared
        rows = prepared.metric_rows
        elapsed = due - self.start
        i = self._metric_cursor
        sums: dict[int, float] = {}
        while i < len(rows) and rows[i][0] <= elapsed:
            _, series, value = rows[i]
            sums[series] = sums.get(series, 0.0) + value
            i += 1
        self._metric_cursor = i
        now_ns = ctx.ms(due)
        if self._running is not None:
            for series, value in sums.items():
                self._running[series] = self._running.get(series, 0.0) + value
            # A cumulative reader reports every series seen so far, from the process start.
            reported, start_ns = self._running, ctx.ms(self.start)
        else:
            reported, start_ns = sums, self._last_export_ns
        self._last_export_ns = now_ns
        if not sums:
            return  # a collection with nothing new sends nothing
        names, heads, tail = prepared.series_names, prepared.series_heads, ctx.encoder.point_tail
        by_metric: dict[str, list[bytes]] = {}
        for series, value in reported.items():
            by_metric.setdefault(names[series], []).append(heads[series] + tail(start_ns, now_ns, value))
        body = ctx.encoder.metrics_group(prepared.resource, prepared.app_version, by_metric)
        items = None
        if ctx.track_totals:
            items = [
                (names[k], swap_identity(prepared.series_attributes[k], self.session_id, self.user_id), v)
                for k, v in reported.items()
            ]
        out.append(Request("metrics", self._own(body), points=len(reported), metric_items=items))

    def _export_events(self, due: float, out: list[Request]) -> None:
        ctx, prepared = self.ctx, self.prepared
        rows = prepared.event_rows
        elapsed = due - self.start
        first = i = self._event_cursor
        records: list[bytes] = []
        while i < len(rows) and rows[i][0] <= elapsed:
            offset, _, shape = rows[i]
            at_ns = ctx.ms(self.start + offset)  # Claude Code stamps events to the millisecond
            records.append(shape.encode(at_ns))
            i += 1
        self._event_cursor = i
        for n in range(0, len(records), MAX_LOG_BATCH):
            chunk = records[n : n + MAX_LOG_BATCH]
            body = ctx.encoder.logs_group(prepared.resource, prepared.app_version, chunk)
            carried = self._carried("event", first + n, first + n + len(chunk)) if ctx.track_totals else None
            out.append(Request("logs", self._own(body), events=len(chunk), carried=carried))

    def _export_spans(self, due: float, out: list[Request]) -> None:
        ctx, prepared = self.ctx, self.prepared
        rows = prepared.span_rows
        elapsed = due - self.start
        first = i = self._span_cursor
        spans: list[bytes] = []
        while i < len(rows) and rows[i][0] <= elapsed:
            end, begin, (trace_id, span_id, parent, name), (block, status, message), events = rows[i]
            start_ns, end_ns = ctx.ns(self.start + begin), ctx.ns(self.start + end)
            encoded = [ctx.encoder.span_event(ctx.ns(self.start + at), n, b) for at, n, b in events]
            spans.append(
                ctx.encoder.span(
                    trace_id, span_id, parent, name, start_ns, end_ns, block, status, message, encoded
                )
            )
            i += 1
        self._span_cursor = i
        for n in range(0, len(spans), MAX_SPAN_BATCH):
            chunk = spans[n : n + MAX_SPAN_BATCH]
            body = ctx.encoder.traces_group(prepared.resource, chunk)
            carried = self._carried("span", first + n, first + n + len(chunk)) if ctx.track_totals else None
            out.append(Request("traces", self._own(body), spans=len(chunk), carried=carried))

    def _carried(self, kind: str, first: int, end: int) -> Carried:
        template = self.prepared.template
        assert template is not None  # totals are tracked of templates prepared here
        resources = ((template.resource, end - first),)
        return Carried(self.prepared.batch(kind, first, end), self.session_id, self.user_id, resources)

    def _own(self, body: bytes) -> bytes:
        """The request with this session's identity in place of the template's (same lengths)."""
        (template_sid, template_uid), (sid, uid) = self.prepared.identity, self._identity
        if template_sid and sid != template_sid:
            body = body.replace(template_sid, sid)
        if template_uid and uid != template_uid:
            body = body.replace(template_uid, uid)
        return body
