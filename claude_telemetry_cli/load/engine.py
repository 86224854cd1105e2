"""The two ways `load` produces requests, inside one worker process.

Fleet mode: N simulated Claude Code processes (session.py), exporting on their own schedules; when one
ends a fresh session takes its place. Throughput mode: a pool of realistic requests, encoded once, sent in
a loop as fast as the collector takes them or at a given rate.

Each engine's `steps()` is its run as a sequence of requests to send and pauses to take, which a driver
plays: `drive()` on a thread with blocking hand-overs, or the worker's asyncio loop (runner.py). Either
way a request is handed over only when a sender is free: a collector that cannot keep up shows as the
schedule falling behind (lag), never as unbounded memory.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from claude_telemetry_cli.clock import Clock, RealClock
from claude_telemetry_cli.load.acknowledged import Batch, Carried, event_shape, span_shape
from claude_telemetry_cli.load.activity import Template
from claude_telemetry_cli.load.session import (
    Request,
    SessionContext,
    SessionPlayer,
    pick_template,
    session_identity,
    swap_identity,
)
from claude_telemetry_cli.otlp.encode import EventRecord, MetricPoint, OtlpEncoder, with_event_timestamp
from claude_telemetry_cli.records import Attributes, SpanRecord

__all__ = ["FleetEngine", "Request", "ThroughputEngine", "drive"]

Submit = Callable[[Request], None]


class _Polled:
    """should_stop(), asked at most 20 times a second: a stop event shared between processes costs a
    system call, too much to ask for every request."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self._should_stop = should_stop
        self._next = float("-inf")

    def __call__(self, now: float) -> bool:
        if now < self._next:
            return False
        self._next = now + 0.05
        return self._should_stop()


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
    traces_on: bool = False
    traces_interval_s: float = 5.0
    # Keep each template's own session.id and user.id (one session per template, as recorded).
    own_identity: bool = False
    replace_ended: bool = True  # a fresh session takes the place of each one that ends
    clock: Clock = field(default_factory=RealClock)
    wall_ns: Callable[[], int] = time.time_ns
    started: int = 0
    active: int = 0
    lag_max_s: float = 0.0

    def run(
        self,
        submit: Submit,
        should_stop: Callable[[], bool],
        deadline: float | None,
        stop: threading.Event | None = None,
    ) -> None:
        """Play until `deadline` (a clock value; None: until stopped), handing each request to `submit`;
        a pause ends early when `stop` is set."""
        drive(self.steps(should_stop, deadline), submit, self.clock, stop)

    def steps(self, should_stop: Callable[[], bool], deadline: float | None) -> Iterator[Request | float]:
        """The run as a sequence: each request to send, in order, or the seconds to sleep before the next
        is due. Ends at `deadline`, where every running session flushes what it holds, or when
        `should_stop()` says so (nothing more is sent)."""
        t0 = self.clock.now()
        ctx = SessionContext(
            self.encoder,
            self.metric_interval_s,
            self.logs_interval_s,
            clock0=t0,
            wall0_ns=self.wall_ns(),
            temporality=self.temporality,
            metrics_on=self.metrics_on,
            logs_on=self.logs_on,
            track_totals=self.track_totals,
            traces_on=self.traces_on,
            traces_interval_s=self.traces_interval_s,
        )
        # (due, order, session or None for "start a session"); one entry per session, at its next step.
        queue: list[tuple[float, int, SessionPlayer | None]] = []
        order = 0
        total = self.sessions * self.stride
        for k in range(self.sessions):
            # Spread over the ramp-up, interleaved across workers, so exports do not come in waves.
            order += 1
            queue.append(
                (t0 + self.ramp_up_s * (self.first_number + k * self.stride) / max(1, total), order, None)
            )
        heapq.heapify(queue)
        number = self.first_number
        stopping = _Polled(should_stop)
        while queue:
            now = self.clock.now()
            if stopping(now):
                break
            due, _, session = queue[0]
            if deadline is not None and due >= deadline:
                if now < deadline:
                    yield min(deadline - now, 0.25)
                    continue
                # The fleet's processes stop at the deadline, and each sends what it holds, as Claude
                # Code does at exit: a run shorter than an export interval still delivers its activity.
                for _, _, running in sorted(queue):
                    if running is not None:
                        yield from running.flush(deadline)
                break
            delay = due - now
            if delay > 0:
                yield min(delay, 0.25)
                continue
            heapq.heappop(queue)
            self.lag_max_s = max(self.lag_max_s, self.clock.now() - due)
            if session is None:
                session = ctx.begin(self.templates, self.seed, number, due, own_identity=self.own_identity)
                number += self.stride
                self.started += 1
                self.active += 1
            else:
                yield from session.step()
                if session.ended:
                    self.active -= 1
                    if self.replace_ended:
                        order += 1
                        heapq.heappush(queue, (due, order, None))
                    continue
            order += 1
            heapq.heappush(queue, (session.next_due, order, session))


class _Packer:
    """Fills requests of `batch` items from (resource, client version, items) groups, several sessions
    per request when they are small; `make(groups)` builds a full request, appended to `out`."""

    def __init__(self, batch: int, make: Callable[[list], Request], out: list[Request]) -> None:
        self.batch, self.make, self.out = batch, make, out
        self.groups: list[tuple[bytes, str, list]] = []
        self.pending = 0

    def add(self, resource: bytes, version: str, items: list) -> None:
        while items:
            taken, items = items[: self.batch - self.pending], items[self.batch - self.pending :]
            self.groups.append((resource, version, taken))
            self.pending += len(taken)
            if self.pending >= self.batch:
                self.flush()

    def flush(self) -> None:
        if self.groups:
            self.out.append(self.make(self.groups))
            self.groups, self.pending = [], 0


@dataclass
class ThroughputEngine:
    """A pool of realistic requests of about `batch` points (or events, or spans) each, sent round and
    round."""

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
    traces_on: bool = False
    clock: Clock = field(default_factory=RealClock)
    wall_ns: Callable[[], int] = time.time_ns
    started: int = 0
    active: int = 0
    lag_max_s: float = 0.0
    # Each pool session's encoded resource -> its attributes, for the totals of what was acknowledged.
    _resource_attributes: dict = field(default_factory=dict, repr=False)

    def build_pool(self) -> list[Request]:
        """Each pool session's whole activity: its points summed per series (one delta each), its events,
        its spans; packed into requests of up to `batch` items, several sessions per request when they
        are small."""
        now_ns = self.wall_ns()
        # Metric points start and end, and events happen, on a whole millisecond, as Claude Code stamps.
        stamp_ns = now_ns - now_ns % 1_000_000
        start_ns = stamp_ns - 60_000_000_000
        pool: list[Request] = []
        metrics, logs = _Packer(self.batch, self._metrics, pool), _Packer(self.batch, self._logs, pool)
        traces = _Packer(self.batch, self._traces, pool)
        for k in range(self.pool_sessions):
            number = self.first_number + k * self.stride
            template = pick_template(self.templates, self.seed, number)
            sid, uid = session_identity(self.seed, number, len(template.user_id))
            resource = self.encoder.resource(template.resource)
            self._resource_attributes[resource] = template.resource
            sums: dict[tuple[str, Attributes], float] = {}
            for _, name, value, attributes in template.metrics:
                sums[(name, attributes)] = sums.get((name, attributes), 0.0) + value
            if self.metrics_on:
                points = [
                    MetricPoint(name, swap_identity(a, sid, uid), start_ns, stamp_ns, v)
                    for (name, a), v in sums.items()
                ]
                metrics.add(resource, template.app_version, points)
            if self.logs_on:
                # With tracing, each event in the trace context of its interaction, as Claude Code sends it.
                events = [
                    EventRecord(
                        stamp_ns, name, with_event_timestamp(swap_identity(a, sid, uid), stamp_ns), trace
                    )
                    for _, name, a, trace in template.events
                ]
                logs.add(resource, template.app_version, events)
            if self.traces_on and template.spans:
                # The session's spans as if it ended now.
                origin_ns = now_ns - round(template.duration * 1e9)
                spans = [
                    _PoolSpan(
                        span,
                        swap_identity(span.attributes, sid, uid),
                        origin_ns + round(span.start_at * 1e9),
                        origin_ns + round(span.end_at * 1e9),
                    )
                    for span in template.spans
                ]
                traces.add(resource, template.app_version, spans)
        metrics.flush()
        logs.flush()
        traces.flush()
        for request in pool:
            request.repeated = True
        self.started = self.active = self.pool_sessions
        return pool

    def _resources_of(self, groups) -> tuple[tuple[tuple, int], ...]:
        """The resource attributes of a request's groups, each with its number of records."""
        return tuple((self._resource_attributes[resource], len(items)) for resource, _, items in groups)

    def _metrics(self, groups) -> Request:
        points = [p for _, _, ps in groups for p in ps]
        items = [(p.name, p.attributes, p.value) for p in points] if self.track_totals else None
        return Request(
            "metrics", self.encoder.metrics_request(groups), points=len(points), metric_items=items
        )

    def _logs(self, groups) -> Request:
        events = [e for _, _, es in groups for e in es]
        carried = None
        if self.track_totals:
            # The identity is in the attributes already: each pool request is sent as it is, again and again.
            carried = Carried(
                Batch([event_shape(e.name, e.attributes, identity=False) for e in events]),
                resources=self._resources_of(groups),
            )
        return Request("logs", self.encoder.logs_request(groups), events=len(events), carried=carried)

    def _traces(self, groups) -> Request:
        encoder = self.encoder
        body = b"".join(
            encoder.traces_group(
                resource,
                [
                    encoder.span(
                        s.span.trace_id,
                        s.span.span_id,
                        s.span.parent_span_id,
                        s.span.name,
                        s.start_ns,
                        s.end_ns,
                        encoder.attributes(9, s.attributes),
                        s.span.status,
                        s.span.status_message,
                        [
                            encoder.span_event(
                                s.start_ns + round((e.at - s.span.start_at) * 1e9),
                                e.name,
                                encoder.attributes(3, e.attributes),
                            )
                            for e in s.span.events
                        ],
                    )
                    for s in spans
                ],
            )
            for resource, _, spans in groups
        )
        spans = [s for _, _, ss in groups for s in ss]
        carried = None
        if self.track_totals:
            shapes = [
                span_shape(s.span.name, s.attributes, s.span.status, s.span.status_message, identity=False)
                for s in spans
            ]
            carried = Carried(Batch(shapes), resources=self._resources_of(groups))
        return Request("traces", body, spans=len(spans), carried=carried)

    def run(
        self,
        submit: Submit,
        should_stop: Callable[[], bool],
        deadline: float | None,
        stop: threading.Event | None = None,
    ) -> None:
        """Send round the pool until `deadline` or a stop; see FleetEngine.run."""
        drive(self.steps(should_stop, deadline), submit, self.clock, stop)

    def steps(self, should_stop: Callable[[], bool], deadline: float | None) -> Iterator[Request | float]:
        """As FleetEngine.steps."""
        pool = self.build_pool()
        if not pool:
            return
        t0 = self.clock.now()
        sent = 0
        stopping = _Polled(should_stop)
        while True:
            now = self.clock.now()
            if stopping(now):
                break
            if deadline is not None and now >= deadline:
                break
            if self.rate:
                due = t0 + sent / self.rate
                if due > now:
                    yield min(due - now, 0.25)
                    continue
                self.lag_max_s = max(self.lag_max_s, now - due)
            yield pool[sent % len(pool)]
            sent += 1


def drive(
    steps: Iterator[Request | float], submit: Submit, clock: Clock, stop: threading.Event | None = None
) -> None:
    """Play an engine's steps on this thread: submit each request, pause on `clock` when told (stopping
    early once `stop` is set)."""
    stop = stop if stop is not None else threading.Event()
    for item in steps:
        if isinstance(item, Request):
            submit(item)
        elif clock.wait(stop, item):
            break


@dataclass(frozen=True, slots=True)
class _PoolSpan:
    """A pool session's span: the template's, with the session's identity and times."""

    span: SpanRecord
    attributes: Attributes
    start_ns: int
    end_ns: int
