"""The telemetry side of one simulated Claude Code process: its providers, instruments, and the
readers and processors that export only when the replay's clock says so."""

from __future__ import annotations

import time
from dataclasses import replace

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord
from opentelemetry.sdk.metrics import Counter
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator

from claude_telemetry_cli.contract import LOGGER_NAME, MAX_LOG_BATCH, METER_NAME, Profile
from claude_telemetry_cli.contract.spans import MAX_SPAN_BATCH, TRACER_NAME, TRACER_VERSION
from claude_telemetry_cli.otlp.encode import with_event_timestamp
from claude_telemetry_cli.pipeline.lanes import (
    ExportLane,
    TrackedLogExporter,
    TrackedMetricExporter,
    TrackedSpanExporter,
)
from claude_telemetry_cli.pipeline.prometheus import PrometheusEndpoint
from claude_telemetry_cli.pipeline.providers import logger_provider, meter_provider, tracer_provider
from claude_telemetry_cli.records import SessionInfo, SpanRecord, TraceRef

__all__ = ["ClockedLogProcessor", "ClockedMetricReader", "ClockedSpanProcessor", "SessionProcess"]


class ClockedMetricReader(MetricReader):
    """Collects and exports only when told to: on the replay's export ticks and at shutdown."""

    def __init__(self, exporter: TrackedMetricExporter, temporality: AggregationTemporality) -> None:
        super().__init__(preferred_temporality={Counter: temporality})
        self._exporter = exporter

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs) -> None:
        self._exporter.export(_on_whole_milliseconds(metrics_data), timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        self.collect(timeout_millis=timeout_millis)
        self._exporter.shutdown(timeout_millis=timeout_millis)


def _whole_ms(ns: int | None) -> int | None:
    return None if ns is None else ns - ns % 1_000_000


def _metric_on_whole_milliseconds(metric):
    points = [
        replace(
            p,
            start_time_unix_nano=_whole_ms(p.start_time_unix_nano),
            time_unix_nano=_whole_ms(p.time_unix_nano),
        )
        for p in metric.data.data_points
    ]
    return replace(metric, data=replace(metric.data, data_points=points))


def _on_whole_milliseconds(data: MetricsData) -> MetricsData:
    """`data` with every point's start and time on the millisecond at or before it.

    The SDK stamps points to the nanosecond; Claude Code's start and end on a whole millisecond. Both
    times of every point are cut alike, so a delta point still starts where the previous one ended.
    """
    resource_metrics = [
        replace(
            rm,
            scope_metrics=[
                replace(sm, metrics=[_metric_on_whole_milliseconds(m) for m in sm.metrics])
                for sm in rm.scope_metrics
            ],
        )
        for rm in data.resource_metrics
    ]
    return replace(data, resource_metrics=resource_metrics)


class _ClockedBatch:
    """A batch processor whose timer is the replay clock: items wait until flush() or a full batch."""

    max_batch: int

    def _start_batching(self, exporter) -> None:
        self._exporter = exporter
        self._pending: list = []

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _add(self, item) -> None:
        self._pending.append(item)
        if len(self._pending) >= self.max_batch:
            self.flush()

    def flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            self._exporter.export(batch)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.flush()
        return True

    def shutdown(self) -> None:
        self.flush()
        self._exporter.shutdown()


class ClockedLogProcessor(_ClockedBatch, LogRecordProcessor):
    max_batch = MAX_LOG_BATCH

    def __init__(self, exporter: TrackedLogExporter) -> None:
        self._start_batching(exporter)

    def on_emit(self, log_record) -> None:
        self._add(
            ReadableLogRecord(
                log_record=log_record.log_record,
                resource=log_record.resource,
                instrumentation_scope=log_record.instrumentation_scope,
                limits=log_record.limits,
            )
        )


class ClockedSpanProcessor(_ClockedBatch, SpanProcessor):
    max_batch = MAX_SPAN_BATCH

    def __init__(self, exporter: TrackedSpanExporter) -> None:
        self._start_batching(exporter)

    def on_start(self, span, parent_context=None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self._add(span)


class _ScriptedIds(IdGenerator):
    """Hands the tracer the ids the timeline chose, so a replay's trace and span ids are reproducible.

    The SDK asks for a trace id only for a root span (a child takes its parent's) and for one span id
    per span, right when the span starts; SessionProcess.span sets both just before.
    """

    def __init__(self) -> None:
        self.trace_id = trace_api.INVALID_TRACE_ID
        self.span_id = trace_api.INVALID_SPAN_ID

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


_SAMPLED = trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED)


def _context(trace_id: str, span_id: str) -> Context:
    """A context whose current span is the given one: how the SDK is told a parent or a log's trace."""
    parent = trace_api.SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False, trace_flags=_SAMPLED)
    return trace_api.set_span_in_context(trace_api.NonRecordingSpan(parent), Context())


class SessionProcess:
    """The telemetry side of one simulated Claude Code process."""

    def __init__(
        self,
        session: SessionInfo,
        lane: ExportLane,
        profile: Profile,
        metric_exporters: list[TrackedMetricExporter],
        log_exporters: list[TrackedLogExporter],
        temporality: AggregationTemporality,
        *,
        drop_units: bool,
        prometheus: PrometheusEndpoint | None,
        span_exporters: list[TrackedSpanExporter] | None = None,
    ) -> None:
        self.session = session
        self._lane = lane
        span_exporters = span_exporters or []
        self.otlp_exporters: list[
            tuple[str, TrackedMetricExporter | TrackedLogExporter | TrackedSpanExporter]
        ] = [
            (signal, e)
            for signal, exporters in (
                ("metrics", metric_exporters),
                ("logs", log_exporters),
                ("traces", span_exporters),
            )
            for e in exporters
            if e.stats.exporter.startswith("otlp")
        ]
        resource = Resource(dict(session.resource))
        self._readers = [ClockedMetricReader(e, temporality) for e in metric_exporters]
        self._meter_provider = meter_provider(resource, self._readers, shutdown_on_exit=False)
        meter = self._meter_provider.get_meter(METER_NAME, version=session.app_version)
        self._counters = {}
        for spec in profile.metrics.values():
            unit = "" if drop_units and spec.unit in ("USD", "tokens", "s") else spec.unit
            self._counters[spec.name] = meter.create_counter(
                spec.name, unit=unit, description=spec.description
            )
        self._processors = [ClockedLogProcessor(e) for e in log_exporters]
        self._logger = None
        if self._processors:
            self._logger_provider = logger_provider(resource)
            for p in self._processors:
                self._logger_provider.add_log_record_processor(p)
            self._logger = self._logger_provider.get_logger(LOGGER_NAME, version=session.app_version)
        self._span_processors = [ClockedSpanProcessor(e) for e in span_exporters]
        self._tracer = None
        if self._span_processors:
            self._ids = _ScriptedIds()
            self._tracer_provider = tracer_provider(resource, self._ids)
            for p in self._span_processors:
                self._tracer_provider.add_span_processor(p)
            self._tracer = self._tracer_provider.get_tracer(TRACER_NAME, TRACER_VERSION)
        # Parent span id -> the earliest start (ns) of its children replayed so far.
        self._child_starts: dict[str, int] = {}
        self._prometheus = prometheus
        self.closed = False
        self._exited = False

    @property
    def has_metric_readers(self) -> bool:
        return bool(self._readers)

    @property
    def pending_logs(self) -> int:
        return max((p.pending for p in self._processors), default=0)

    @property
    def pending_spans(self) -> int:
        return max((p.pending for p in self._span_processors), default=0)

    def add(self, name: str, value: float, attributes: dict) -> None:
        if self._readers:
            self._counters[name].add(value, attributes)
        if self._prometheus is not None:
            self._prometheus.add(name, value, attributes)

    def emit(
        self, name: str, attributes: dict, time_ns: int | None = None, trace: TraceRef | None = None
    ) -> None:
        """Emit one event now; `trace` (its interaction's span) goes on the record's trace context."""
        if self._logger is None:
            return
        # Claude Code stamps events with millisecond precision and the same observed time.
        now_ns = time.time_ns() if time_ns is None else time_ns
        now_ns -= now_ns % 1_000_000
        stamped = attributes if "event.timestamp" in attributes else _with_timestamp(attributes, now_ns)
        self._logger.emit(
            timestamp=now_ns,
            observed_timestamp=now_ns,
            # An empty context, not the ambient one, when the event is outside any interaction.
            context=_context(trace.trace_id, trace.span_id) if trace is not None else Context(),
            body=f"claude_code.{name}",
            attributes=stamped,
        )

    def span(self, record: SpanRecord, end_ns: int | None = None) -> None:
        """Create and end one span now, at its end, with the ids, times and status the timeline gives.

        It ends now (real time, like events) and starts its scenario duration earlier. A parent is
        replayed after its children and starts no later than the earliest of them, so replay jitter
        never puts a child outside its parent.
        """
        if self._tracer is None:
            return
        end = time.time_ns() if end_ns is None else end_ns
        start = end - round((record.end_at - record.start_at) * 1_000_000) * 1000
        start = min(start, self._child_starts.pop(record.span_id, start))
        if record.parent_span_id is not None:
            earliest = self._child_starts.get(record.parent_span_id, start)
            self._child_starts[record.parent_span_id] = min(earliest, start)
            context = _context(record.trace_id, record.parent_span_id)
        else:
            context = Context()
            self._ids.trace_id = int(record.trace_id, 16)
        self._ids.span_id = int(record.span_id, 16)
        span = self._tracer.start_span(
            record.name, context=context, attributes=dict(record.attributes), start_time=start
        )
        for event in record.events:
            at = start + round((event.at - record.start_at) * 1_000_000) * 1000
            span.add_event(event.name, dict(event.attributes), timestamp=min(at, end))
        if record.status == "error":
            span.set_status(trace_api.Status(trace_api.StatusCode.ERROR, record.status_message or None))
        span.end(end_time=end)

    def replace_exporter(self, tracked, inner) -> None:
        """Swap in a new official exporter between two exports of this process."""

        def swap() -> None:
            old, tracked.inner = tracked.inner, inner
            old.shutdown()

        self._lane.run(swap)

    def export_metrics(self) -> None:
        for reader in self._readers:
            reader.collect()

    def flush_logs(self) -> None:
        for p in self._processors:
            p.flush()

    def flush_spans(self) -> None:
        for p in self._span_processors:
            p.flush()

    def shutdown(self) -> None:
        """Exit: flush events and spans, then metrics, as Claude Code does.

        The exit runs on the process's export lane, after its queued exports; the replay goes on. On a
        lane that has stopped exporting (the replay is stopping), what the exit would have sent is
        counted as not sent instead.
        """
        if self.closed:
            return
        self._lane.run(self._exit, on_discard=self._exit_unsent)
        # Only once the exit is on its way: one interrupted before that is still to be made.
        self.closed = True

    def _exit(self) -> None:
        if self._exited:
            return
        self._exited = True
        if self._processors:
            self._logger_provider.shutdown()
        if self._span_processors:
            self._tracer_provider.shutdown()
        self._meter_provider.shutdown()

    def _exit_unsent(self) -> None:
        if self._exited:
            return
        self._exited = True
        # Into a stopped lane each export is counted as a failed request at once, and nothing is sent.
        self.flush_logs()
        self.flush_spans()
        self.export_metrics()


def _with_timestamp(attributes: dict, now_ns: int) -> dict:
    """Insert event.timestamp right after event.name, where Claude Code puts it."""
    return dict(with_event_timestamp(tuple(attributes.items()), now_ns))
