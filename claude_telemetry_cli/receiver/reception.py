"""What a receiver has accepted so far: tally, counts per name and protocol, errors, and the dump.

Servers (gRPC and HTTP threads) call accept_*/reject concurrently; readers take snapshots. A request
is accepted whole or not at all: with a dump, it is counted only once its line is written. A worker
process's Reception hands what it counted to the one that judges (take_part, merge).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from claude_telemetry_cli.clock import Clock, RealClock
from claude_telemetry_cli.otlp.decode import (
    DecodedEvent,
    DecodedPoint,
    DecodedSpan,
    EventBatch,
    MetricBatch,
    SpanBatch,
    decode_event_batch,
    decode_logs,
    decode_metric_batch,
    decode_metrics,
    decode_span_batch,
    decode_traces,
    session_id,
)
from claude_telemetry_cli.receiver.dump import DumpFailed, DumpFile
from claude_telemetry_cli.receiver.tally import Tally, TallyPart
from claude_telemetry_cli.records import Totals

PROTOCOLS = ("grpc", "http/protobuf", "http/json")
_SESSION = attrgetter("session")


@dataclass
class ReceptionPart:
    """What a Reception accepted and refused since its last take_part: a worker process's share."""

    tally: TallyPart
    requests: Counter[tuple[str, str]]
    errors: Counter[tuple[str, str]]
    points_by_name: Counter[str]
    events_by_name: Counter[str]
    spans_by_name: Counter[str]
    sessions: set[str]
    spans: int
    accepted: int


def dump_failure(e: DumpFailed) -> str:
    """What a dump that cannot be written means for the verdict."""
    return f"{e.message}; the request was refused, not counted, and receiving stopped"


class Reception:
    def __init__(self, *, dump: DumpFile | None = None, keep_decoded: bool = False) -> None:
        self._lock = threading.Condition()
        self._dump = dump
        self.keep_decoded = keep_decoded
        # Why the reception cannot go on as asked (the dump cannot be written); None while it can.
        self.failure: str | None = None
        self._expect_listeners: list[Callable[[Totals], None]] = []
        self.reset()

    def reset(self) -> None:
        """Forget everything received (a new verification starts from nothing)."""
        with self._lock:
            self.tally = Tally()
            self.requests: Counter[tuple[str, str]] = Counter()  # (signal, protocol) -> requests
            self.errors: Counter[tuple[str, str]] = Counter()  # (protocol, reason) -> requests
            self.points_by_name: Counter[str] = Counter()
            self.events_by_name: Counter[str] = Counter()
            self.spans_by_name: Counter[str] = Counter()
            self.sessions: set[str] = set()
            self.spans = 0  # how many spans arrived
            self.points: list[DecodedPoint] = []
            self.events: list[DecodedEvent] = []
            self.decoded_spans: list[DecodedSpan] = []
            self.accepted = 0  # requests accepted: what arrived, refusals aside
            self.generation = 0
            self._lock.notify_all()

    # ------------------------------------------------------------------ writers (server threads)

    def decode(self, request_type: type, raw: bytes):
        """A request's body decoded into what its accept_* method takes; raises what
        `request_type.FromString` raises for a body that does not decode."""
        if self._dump is None and not self.keep_decoded:
            if request_type is ExportMetricsServiceRequest:
                return decode_metric_batch(raw)
            if request_type is ExportLogsServiceRequest:
                return decode_event_batch(raw)
            if request_type is ExportTraceServiceRequest:
                return decode_span_batch(raw)
        return request_type.FromString(raw)

    def accept_metrics(self, request, protocol: str) -> None:
        """A metrics request (ExportMetricsServiceRequest, its bytes, or what decode() made of them)."""
        if not self.keep_decoded:
            batch = request if isinstance(request, MetricBatch) else decode_metric_batch(request)
            if self._dump is not None:
                self._write_dump("metrics", protocol, request)
            self._accept_batch(batch, protocol)
            return
        points = decode_metrics(request)
        self._write_dump("metrics", protocol, request)
        with self._lock:
            self.tally.add_points(points)
            self.requests["metrics", protocol] += 1
            for p in points:
                self.points_by_name[p.name] += 1
                sid = session_id(p.attributes)
                if sid:
                    self.sessions.add(sid)
            if self.keep_decoded:
                self.points.extend(points)
            self._arrived()

    def _accept_batch(self, batch: MetricBatch, protocol: str) -> None:
        sessions = set()
        with self._lock:
            self.tally.add_batch(batch)
            self.requests["metrics", protocol] += 1
            for m in batch.metrics:
                if m.series:
                    self.points_by_name[m.name] += len(m.series)
                    sessions.update(map(_SESSION, m.series))
            sessions.discard(None)
            self.sessions |= sessions
            self._arrived()

    def accept_logs(self, request, protocol: str) -> None:
        """A logs request (ExportLogsServiceRequest, its bytes, or what decode() made of them)."""
        if not self.keep_decoded:
            batch = request if isinstance(request, EventBatch) else decode_event_batch(request)
            if self._dump is not None:
                self._write_dump("logs", protocol, request)
            with self._lock:
                self.tally.add_event_batch(batch)
                self.requests["logs", protocol] += 1
                self.events_by_name.update(name for name, *_ in batch.events)
                self.sessions |= batch.sessions
                self._arrived()
            return
        events = decode_logs(request)
        self._write_dump("logs", protocol, request)
        with self._lock:
            self.tally.add_events(events)
            self.requests["logs", protocol] += 1
            for e in events:
                self.events_by_name[e.name] += 1
                sid = session_id(e.attributes)
                if sid:
                    self.sessions.add(sid)
            if self.keep_decoded:
                self.events.extend(events)
            self._arrived()

    def accept_traces(self, request, protocol: str) -> None:
        """Spans (Claude Code's beta tracing) are tallied per name; verified when spans are expected."""
        if not self.keep_decoded:
            batch = request if isinstance(request, SpanBatch) else decode_span_batch(request)
            if self._dump is not None:
                self._write_dump("traces", protocol, request)
            with self._lock:
                self.tally.add_span_batch(batch)
                self.requests["traces", protocol] += 1
                self.spans += len(batch.spans)
                self.spans_by_name.update(name for name, *_ in batch.spans)
                self.sessions |= batch.sessions
                self._arrived()
            return
        spans = decode_traces(request)
        self._write_dump("traces", protocol, request)
        with self._lock:
            self.tally.add_spans(spans)
            self.requests["traces", protocol] += 1
            self.spans += len(spans)
            for s in spans:
                self.spans_by_name[s.name] += 1
                sid = session_id(s.attributes)
                if sid:
                    self.sessions.add(sid)
            if self.keep_decoded:
                self.decoded_spans.extend(spans)
            self._arrived()

    def reject(self, protocol: str, reason: str) -> None:
        with self._lock:
            self.errors[protocol, reason] += 1
            self.generation += 1
            self._lock.notify_all()

    def _arrived(self) -> None:
        self.accepted += 1
        self.generation += 1
        self._lock.notify_all()

    def _write_dump(self, signal: str, protocol: str, request) -> None:
        """The request's dump line, written before it is counted: raises DumpFailed (and records the
        failure) if it cannot be, and the request is then refused, not counted."""
        if self._dump is None:
            return
        from google.protobuf.json_format import MessageToDict

        line = {"signal": signal, "protocol": protocol, "received_ns": time.time_ns()}
        line["body"] = MessageToDict(request)
        # Written at once, not buffered: an interrupted receiver loses nothing it accepted.
        self.write_dump_line(json.dumps(line, separators=(",", ":")).encode() + b"\n")

    @property
    def dumps(self) -> bool:
        return self._dump is not None

    def write_dump_line(self, line: bytes) -> None:
        """Append a request's line to the dump, or raise DumpFailed and record the failure."""
        if self._dump is None:
            raise DumpFailed("no --dump file to write to")
        try:
            self._dump.write(line)
        except DumpFailed as e:
            self.fail(dump_failure(e))
            raise

    def fail(self, reason: str) -> None:
        """The reception cannot go on as asked (its dump cannot be written, a worker is gone): `reason`
        is what the verdict reports. The first reason stands."""
        with self._lock:
            if self.failure is None:
                self.failure = reason
            self.generation += 1
            self._lock.notify_all()

    # ------------------------------------------------------------------ parts (worker processes)

    def take_part(self) -> ReceptionPart | None:
        """What arrived since the last take_part, which this Reception then forgets (a worker's share,
        for the Reception that judges to merge); None if nothing did."""
        with self._lock:
            if not self.accepted and not self.errors:
                return None
            part = ReceptionPart(
                self.tally.take(),
                self.requests,
                self.errors,
                self.points_by_name,
                self.events_by_name,
                self.spans_by_name,
                self.sessions,
                self.spans,
                self.accepted,
            )
            self.requests, self.errors = Counter(), Counter()
            self.points_by_name, self.events_by_name, self.spans_by_name = Counter(), Counter(), Counter()
            self.sessions, self.spans, self.accepted = set(), 0, 0
            return part

    def merge(self, part: ReceptionPart) -> None:
        """Count what another Reception took (take_part) as if it had arrived here."""
        with self._lock:
            self.tally.merge(part.tally)
            self.requests.update(part.requests)
            self.errors.update(part.errors)
            self.points_by_name.update(part.points_by_name)
            self.events_by_name.update(part.events_by_name)
            self.spans_by_name.update(part.spans_by_name)
            self.sessions |= part.sessions
            self.spans += part.spans
            self.accepted += part.accepted
            self.generation += 1
            self._lock.notify_all()

    # ------------------------------------------------------------------ readers

    def wait_for_change(self, seen_generation: int, timeout: float, clock: Clock | None = None) -> int:
        """Block until something arrives after `seen_generation` (or `timeout` passes on `clock`); return
        the generation."""
        with self._lock:
            if self.generation == seen_generation:
                (clock if clock is not None else RealClock()).wait(self._lock, timeout)
            return self.generation

    def expect(self, expected) -> None:
        """Count exactly the values `expected` (Totals) counts exactly: see Tally.expect."""
        with self._lock:
            self.tally.expect(expected)
            listeners = list(self._expect_listeners)
        for listener in listeners:
            listener(expected)

    def on_expect(self, listener: Callable[[Totals], None]) -> None:
        """Call `listener` with the totals passed to every later expect() (workers count alike)."""
        with self._lock:
            self._expect_listeners.append(listener)

    def event_total(self) -> int:
        with self._lock:
            return self.tally.event_count

    def totals(self):
        with self._lock:
            return self.tally.totals()

    def decoded(self) -> tuple[list[DecodedPoint], list[DecodedEvent]]:
        with self._lock:
            return list(self.points), list(self.events)

    def spans_decoded(self) -> list[DecodedSpan]:
        """The spans kept (with keep_decoded), in arrival order."""
        with self._lock:
            return list(self.decoded_spans)

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "sessions": len(self.sessions),
                "points": self.tally.points,
                "events": self.tally.event_count,
                "spans": self.spans,
                "requests": {f"{s} {p}": n for (s, p), n in sorted(self.requests.items())},
                "errors": {f"{p}: {r}": n for (p, r), n in sorted(self.errors.items())},
                "points_by_name": dict(sorted(self.points_by_name.items())),
                "events_by_name": dict(sorted(self.events_by_name.items())),
                "spans_by_name": dict(sorted(self.spans_by_name.items())),
            }
