"""TelemetryConfig -> OpenTelemetry SDK providers and official exporters, one set per simulated process.

The only module that imports opentelemetry.sdk. It never sets global providers: every simulated
Claude Code process gets its own MeterProvider, LoggerProvider and (with tracing) TracerProvider, as
a real process would.
Exports happen only when the replay driver says so (its clock), never on SDK background threads, so
scenario time, not wall time, decides which measurements share an export request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator

from claude_telemetry_cli.contract import LOGGER_NAME, MAX_LOG_BATCH, METER_NAME, Profile
from claude_telemetry_cli.contract.spans import MAX_SPAN_BATCH, TRACER_NAME, TRACER_VERSION
from claude_telemetry_cli.errors import ConfigError, TelemetryError
from claude_telemetry_cli.grpc_tls import grpc_credentials
from claude_telemetry_cli.otlp.encode import with_event_timestamp
from claude_telemetry_cli.records import SessionInfo, SpanRecord, TraceRef
from claude_telemetry_cli.settings import SignalConfig, TelemetryConfig

# --------------------------------------------------------------------------- export accounting


@dataclass
class ExportStats:
    """What one exporter of one signal did over a whole replay."""

    signal: str
    exporter: str  # "otlp grpc", "otlp http/json", "console", "prometheus"
    destination: str = ""
    requests: int = 0
    failed_requests: int = 0
    items: int = 0  # data points, log records or spans sent successfully
    failed_items: int = 0
    last_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_requests == 0


class _ErrorCapture(logging.Handler):
    """Catches the OTel exporters' own log lines so failures become results, not stderr noise.

    Messages are kept per thread: exporters log on the thread that exports, and several processes'
    exports run at once. All of one export's lines are kept: the last one of a failure that was
    retried ("... due to timeout, max retries or shutdown") hides the cause, which an earlier
    "Transient error ..." line names.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().splitlines()[0] if record.getMessage() else record.levelname
        if record.exc_info and record.exc_info[1] is not None:
            message = f"{message}: {record.exc_info[1]}"
        self._messages().append(message)

    def _messages(self) -> list[str]:
        if not hasattr(self._local, "messages"):
            self._local.messages = []
        return self._local.messages

    def take(self) -> list[str]:
        """The lines logged on this thread since the last take, oldest first."""
        messages = self._messages()
        self._local.messages = []
        return messages


_capture = _ErrorCapture()
_stats_lock = threading.Lock()


def _install_capture() -> None:
    otel = logging.getLogger("opentelemetry")
    if _capture not in otel.handlers:
        otel.addHandler(_capture)
        otel.propagate = False
        otel.setLevel(logging.WARNING)


_REFUSED = ("connection refused", "errno 111", "econnrefused")
_UNRESOLVED = ("name or service not known", "nodename nor servname", "temporary failure in name resolution")


def _host_port(destination: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(destination).netloc or destination


def _probe(host_port: str, timeout_s: float) -> str | None:
    """Why nothing answers at `host_port`, found by connecting once; None when something listens."""
    import socket
    from urllib.parse import urlsplit

    split = urlsplit(f"//{host_port}")
    if split.hostname is None or split.port is None:
        return None
    try:
        with socket.create_connection((split.hostname, split.port), timeout=timeout_s):
            return None
    except ConnectionRefusedError:
        return f"connection refused at {host_port}"
    except socket.gaierror:
        return f"cannot resolve the host of {host_port}"
    except OSError:
        return None


def failure_cause(messages: Sequence[str], destination: str, *, probe_timeout_s: float = 1.0) -> str:
    """One line on why an export failed, from the exporter's own log lines of that export.

    The SDK retries a refused connection until the export timeout and then reports only that it gave
    up; the cause, when its lines do not name it, is found by connecting once to the destination.
    """
    host_port = _host_port(destination)
    text = " ".join(messages).lower()
    if any(marker in text for marker in _REFUSED):
        return f"connection refused at {host_port}"
    if any(marker in text for marker in _UNRESOLVED):
        return f"cannot resolve the host of {host_port}"
    if not messages or "max retries or shutdown" in messages[-1]:
        probed = _probe(host_port, probe_timeout_s)
        if probed is not None:
            return probed
    if not messages:
        return "the exporter reported a failure"
    return messages[-1]


def _count_points(metrics_data: MetricsData) -> int:
    return sum(
        len(m.data.data_points)
        for rm in metrics_data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    )


class ExportLane:
    """Runs one process's exports in order, on a pool shared by all processes.

    Real Claude Code processes export independently: one slow request must not hold up the others,
    nor the replay's schedule. Within a process, order is kept (events are flushed before metrics
    at exit). Without a pool every job runs at once, on the caller's thread.

    `backlog`, shared by all lanes, bounds the jobs queued or running: when the collector is slower
    than the replay (always, with --instant), `run` waits for a free place instead of queueing every
    export of the rest of the scenario in memory.
    """

    def __init__(self, pool: ThreadPoolExecutor | None, backlog: threading.Semaphore | None = None) -> None:
        self._pool = pool
        self._backlog = backlog
        # Each job with what to do if it is dropped unstarted (a dropped request counts as failed).
        self._jobs: deque[tuple[Callable[[], None], Callable[[], None] | None]] = deque()
        self._lock = threading.Lock()
        self._running = False
        self._idle = threading.Event()
        self._idle.set()
        self._local = threading.local()
        self._sending = None  # the official exporter whose request is under way
        self.aborted = False

    def _inside(self) -> bool:
        return getattr(self._local, "inside", False)

    def run(self, job: Callable[[], None], on_discard: Callable[[], None] | None = None) -> None:
        if self._pool is None or self._inside():
            job()
            return
        if self._backlog is not None:
            self._backlog.acquire()
        with self._lock:
            self._jobs.append((job, on_discard))
            self._idle.clear()
            if not self._running:
                self._running = True
                self._pool.submit(self._drain)

    def _drain(self) -> None:
        self._local.inside = True
        try:
            while True:
                with self._lock:
                    if not self._jobs:
                        self._running = False
                        self._idle.set()
                        return
                    job, _ = self._jobs.popleft()
                try:
                    job()
                except Exception:  # a job records its own failure; the lane must keep draining
                    _LOGGER.debug("export job failed", exc_info=True)
                finally:
                    if self._backlog is not None:
                        self._backlog.release()
        finally:
            self._local.inside = False

    def discard(self) -> int:
        """Drop jobs not yet started (an aborted replay does not wait on a dead collector again)."""
        with self._lock:
            dropped = list(self._jobs)
            self._jobs.clear()
        for _, on_discard in dropped:
            if on_discard is not None:
                on_discard()
        if self._backlog is not None:
            for _ in dropped:
                self._backlog.release()
        return len(dropped)

    @contextlib.contextmanager
    def sending(self, exporter) -> Iterator[None]:
        """Marks `exporter`'s request as under way, so abort() can cut its retries short."""
        with self._lock:
            self._sending = exporter
        try:
            yield
        finally:
            with self._lock:
                self._sending = None

    def abort(self) -> int:
        """Drop the jobs not yet started and end the request under way: its exporter is shut down,
        which stops the SDK's retries and their backoff at once rather than at the export timeout."""
        self.aborted = True
        dropped = self.discard()
        with self._lock:
            sending = self._sending
        if sending is not None:
            with contextlib.suppress(Exception):
                sending.shutdown()
        return dropped

    def wait(self, timeout: float | None = None) -> bool:
        if self._inside():
            return True
        return self._idle.wait(timeout)


_LOGGER = logging.getLogger(__name__)


NOT_SENT = "not sent: the replay stopped before this request"


def first_failure(stats: Sequence[ExportStats]) -> ExportStats | None:
    """The exporter whose failure says why (a request that failed itself rather than one dropped)."""
    failing = [s for s in stats if not s.ok]
    return next((s for s in failing if s.last_error != NOT_SENT), failing[0] if failing else None)


def _record(stats: ExportStats, ok: bool, items: int, error: str | None) -> None:
    """Count one request's outcome. A failure without an error of its own (a request dropped when the
    replay stopped) counts as failed but keeps the cause an earlier one gave."""
    with _stats_lock:
        if ok:
            stats.items += items
        else:
            stats.failed_requests += 1
            stats.failed_items += items
            if error is not None or stats.last_error is None:
                stats.last_error = error or NOT_SENT


class _OnLane:
    """Sends through an official exporter on the process's lane and keeps score of requests and items.

    The SDK hands over a batch and moves on; the request itself runs on the lane, and its outcome
    (success, or the exporter's own error message after its retries) lands in the shared stats.
    """

    def _track(self, inner, stats: ExportStats, lane: ExportLane) -> None:
        self.inner = inner
        self.stats = stats
        self.lane = lane

    def _submit(self, items: int, call: Callable[[], object], success: object) -> None:
        with _stats_lock:
            self.stats.requests += 1

        def send() -> None:
            _capture.take()  # lines of an earlier job on this thread are not this request's
            if self.lane.aborted:
                _record(self.stats, False, items, None)
                return
            try:
                with self.lane.sending(self.inner):
                    result = call()
                messages = _capture.take()
            except Exception as exc:  # an exporter raising is a failed export, not a crash
                result, messages = None, [*_capture.take(), str(exc)]
            ok = result is success
            # A request cut short by abort() failed for the reason the replay stopped, not its own.
            cause = None if ok or self.lane.aborted else failure_cause(messages, self.stats.destination)
            _record(self.stats, ok, items, cause)

        self.lane.run(send, on_discard=lambda: _record(self.stats, False, items, None))

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        return self.lane.wait(timeout_millis / 1000)


class TrackedMetricExporter(_OnLane, MetricExporter):
    def __init__(
        self, inner: MetricExporter, stats: ExportStats, temporality: AggregationTemporality, lane: ExportLane
    ) -> None:
        MetricExporter.__init__(self, preferred_temporality={Counter: temporality})
        self._track(inner, stats, lane)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs
    ) -> MetricExportResult:
        points = _count_points(metrics_data)
        if points:
            self._submit(
                points,
                lambda: self.inner.export(metrics_data, timeout_millis=timeout_millis),
                MetricExportResult.SUCCESS,
            )
        return MetricExportResult.SUCCESS

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        self.lane.wait()
        self.inner.shutdown(timeout_millis=timeout_millis)


class TrackedLogExporter(_OnLane, LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, stats: ExportStats, lane: ExportLane) -> None:
        self._track(inner, stats, lane)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if batch:
            self._submit(len(batch), lambda: self.inner.export(batch), LogRecordExportResult.SUCCESS)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        self.lane.wait()
        self.inner.shutdown()


class TrackedSpanExporter(_OnLane, SpanExporter):
    def __init__(self, inner: SpanExporter, stats: ExportStats, lane: ExportLane) -> None:
        self._track(inner, stats, lane)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if spans:
            self._submit(len(spans), lambda: self.inner.export(spans), SpanExportResult.SUCCESS)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.lane.wait()
        self.inner.shutdown()


class ClockedMetricReader(MetricReader):
    """Collects and exports only when told to: on the replay's export ticks and at shutdown."""

    def __init__(self, exporter: TrackedMetricExporter, temporality: AggregationTemporality) -> None:
        super().__init__(preferred_temporality={Counter: temporality})
        self._exporter = exporter
        self.final_export = True

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs) -> None:
        self._exporter.export(metrics_data, timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        if self.final_export:
            self.collect(timeout_millis=timeout_millis)
        self._exporter.shutdown(timeout_millis=timeout_millis)


class _ClockedBatch:
    """A batch processor whose timer is the replay clock: items wait until flush() or a full batch."""

    max_batch: int

    def _start_batching(self, exporter) -> None:
        self._exporter = exporter
        self._pending: list = []
        self.final_export = True

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
        if self.final_export:
            self.flush()
        self._pending.clear()
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


# --------------------------------------------------------------------------- exporter construction


@contextlib.contextmanager
def _without_process_otel_env() -> Iterator[None]:
    """Hide OTEL_* variables while the SDK builds exporters and providers.

    The official exporters fall back to os.environ for anything passed as None or empty (headers,
    certificates, endpoints). Claude Code's managed settings may have removed some of those
    variables, so the SDK must see only what settings.py resolved, never the raw environment.
    """
    hidden = {k: v for k, v in os.environ.items() if k.startswith("OTEL_")}
    for key in hidden:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(hidden)


class _KeyMaterial:
    """Decrypts a passphrase-protected client key into a private temp file for the exporters."""

    def __init__(self) -> None:
        self._dir: str | None = None

    def plain_key(self, key_path: str, passphrase: str | None) -> str:
        if not passphrase:
            return key_path
        try:
            from cryptography.hazmat.primitives import serialization
        except ImportError:  # pragma: no cover - cryptography is a declared dependency
            raise ConfigError(
                "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE: decrypting the key needs the 'cryptography' package"
            ) from None
        try:
            with open(key_path, "rb") as fh:
                key = serialization.load_pem_private_key(fh.read(), password=passphrase.encode())
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"CLAUDE_CODE_CLIENT_KEY_PASSPHRASE: cannot decrypt {key_path}: {exc}"
            ) from None
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="claude-telemetry-key-")
        out = os.path.join(self._dir, "client.key")
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return out

    def close(self) -> None:
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _grpc_exporter_kwargs(sig: SignalConfig, timeout_s: float) -> dict:
    endpoint = sig.endpoint or "http://localhost:4317"
    secure = endpoint.startswith("https://")
    kwargs: dict = {
        "endpoint": endpoint,
        "insecure": not secure,
        # gRPC metadata keys must be lowercase.
        "headers": tuple((k.lower(), v) for k, v in sig.headers),
        "timeout": timeout_s,
    }
    if secure:
        kwargs["credentials"] = grpc_credentials(sig)
    return kwargs


def _http_exporter_kwargs(sig: SignalConfig, timeout_s: float, keys: _KeyMaterial) -> dict:
    kwargs: dict = {"endpoint": sig.endpoint, "headers": dict(sig.headers), "timeout": timeout_s}
    if sig.http_ca_certs:
        kwargs["certificate_file"] = sig.http_ca_certs
    if sig.http_client_cert and sig.http_client_key:
        kwargs["client_certificate_file"] = sig.http_client_cert
        kwargs["client_key_file"] = keys.plain_key(sig.http_client_key, sig.http_client_key_passphrase)
    return kwargs


def _requests_session(sig: SignalConfig) -> dict:
    """A requests session that honours the configured CA file.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment override a session's own
    `verify`, so NODE_EXTRA_CA_CERTS would be silently ignored on machines that set them.
    """
    if not sig.http_ca_certs:
        return {}
    import requests

    session = requests.Session()
    session.trust_env = False
    return {"session": session}


def build_metric_exporter(sig: SignalConfig, timeout_s: float, keys: _KeyMaterial, temporality):
    preferred = {Counter: temporality}
    if sig.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(preferred_temporality=preferred, **_grpc_exporter_kwargs(sig, timeout_s))
    if sig.protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(
            preferred_temporality=preferred,
            **_requests_session(sig),
            **_http_exporter_kwargs(sig, timeout_s, keys),
        )
    if sig.protocol == "http/json":
        from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter

        _encode_json_like_claude_code()
        return OTLPMetricExporter(
            preferred_temporality=preferred, **_http_exporter_kwargs(sig, timeout_s, keys)
        )
    raise ValueError(f"unsupported protocol {sig.protocol!r}")


_json_patched = False


def _encode_json_like_claude_code() -> None:
    """Make the official OTLP/JSON encoder write attribute values as Claude Code's JS exporter does.

    Two differences matter to receivers: Claude Code writes `intValue` as a plain JSON number (the
    Python codec writes a string, as proto3 JSON allows), and always writes an empty array as
    {"arrayValue": {"values": []}} (the Python codec omits the empty field, which strict receivers,
    rotel among them, reject with HTTP 400, losing the whole batch; every start-up
    `managed_settings_resolved` event carries an empty array).
    """
    global _json_patched
    if _json_patched:
        return
    from opentelemetry.proto_json.common.v1 import common

    array_to_dict, any_to_dict = common.ArrayValue.to_dict, common.AnyValue.to_dict

    def array_value_to_dict(self):
        out = array_to_dict(self)
        out.setdefault("values", [])
        return out

    def any_value_to_dict(self):
        out = any_to_dict(self)
        if "intValue" in out:
            out["intValue"] = int(out["intValue"])
        return out

    common.ArrayValue.to_dict = array_value_to_dict
    common.AnyValue.to_dict = any_value_to_dict
    _json_patched = True


def build_span_exporter(sig: SignalConfig, timeout_s: float, keys: _KeyMaterial):
    if sig.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(**_grpc_exporter_kwargs(sig, timeout_s))
    if sig.protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(**_requests_session(sig), **_http_exporter_kwargs(sig, timeout_s, keys))
    if sig.protocol == "http/json":
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter

        _encode_json_like_claude_code()
        return OTLPSpanExporter(**_http_exporter_kwargs(sig, timeout_s, keys))
    raise ValueError(f"unsupported protocol {sig.protocol!r}")


def build_log_exporter(sig: SignalConfig, timeout_s: float, keys: _KeyMaterial):
    if sig.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(**_grpc_exporter_kwargs(sig, timeout_s))
    if sig.protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        return OTLPLogExporter(**_requests_session(sig), **_http_exporter_kwargs(sig, timeout_s, keys))
    if sig.protocol == "http/json":
        from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter

        _encode_json_like_claude_code()
        return OTLPLogExporter(**_http_exporter_kwargs(sig, timeout_s, keys))
    raise ValueError(f"unsupported protocol {sig.protocol!r}")


# --------------------------------------------------------------------------- processes


@dataclass
class _Sink:
    stats: ExportStats
    metric_exporter: TrackedMetricExporter | None = None
    log_exporter: TrackedLogExporter | None = None


@dataclass
class PipelineFactory:
    """Builds one SessionProcess per simulated Claude Code process, sharing export accounting."""

    config: TelemetryConfig
    profile: Profile
    export_timeout_s: float = 10.0
    console_out: object = None  # a text stream for the console exporters (default stdout)
    # Processes exporting at once (0: every export on the replay's own thread, one at a time).
    concurrency: int = 16
    stats: list[ExportStats] = field(default_factory=list)
    prometheus: PrometheusEndpoint | None = None
    _keys: _KeyMaterial = field(default_factory=_KeyMaterial)

    def __post_init__(self) -> None:
        _install_capture()
        self._pool = (
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="otlp-export")
            if self.concurrency > 0
            else None
        )
        # Exports queued or running at once, over all processes (see ExportLane).
        self._backlog = threading.Semaphore(max(64, 8 * self.concurrency))
        self._lanes: list[ExportLane] = []
        self._processes: list[SessionProcess] = []
        self._live_mark = 64
        self._signals = {
            "metrics": self.config.metrics,
            "logs": self.config.logs,
            "traces": self.config.traces,
        }
        self.warnings: list[str] = []
        cfg = self.config
        self._temporality = (
            AggregationTemporality.CUMULATIVE
            if cfg.temporality == "cumulative"
            else AggregationTemporality.DELTA
        )
        self._metric_stats: dict[str, ExportStats] = {}
        self._log_stats: dict[str, ExportStats] = {}
        self._span_stats: dict[str, ExportStats] = {}
        if not cfg.enabled:
            return
        for name in cfg.metrics.exporters:
            if name == "otlp" and cfg.metrics.otlp_enabled:
                self._metric_stats[name] = self._new_stats(
                    "metrics", f"otlp {cfg.metrics.protocol}", cfg.metrics.endpoint or ""
                )
            elif name == "console":
                self._metric_stats[name] = self._new_stats("metrics", "console", "stdout")
            elif name == "prometheus":
                dest = f"http://{cfg.prometheus_host}:{cfg.prometheus_port}/metrics"
                self._metric_stats[name] = self._new_stats("metrics", "prometheus", dest)
        if self.profile.emits_events:
            for name in cfg.logs.exporters:
                if name == "otlp" and cfg.logs.otlp_enabled:
                    self._log_stats[name] = self._new_stats(
                        "logs", f"otlp {cfg.logs.protocol}", cfg.logs.endpoint or ""
                    )
                elif name == "console":
                    self._log_stats[name] = self._new_stats("logs", "console", "stdout")
            # settings.py leaves traces without exporters unless the beta flag is on as well.
            for name in cfg.traces.exporters:
                if name == "otlp" and cfg.traces.otlp_enabled:
                    self._span_stats[name] = self._new_stats(
                        "traces", f"otlp {cfg.traces.protocol}", cfg.traces.endpoint or ""
                    )
                elif name == "console":
                    self._span_stats[name] = self._new_stats("traces", "console", "stdout")

    def _new_stats(self, signal: str, exporter: str, destination: str) -> ExportStats:
        s = ExportStats(signal, exporter, destination)
        self.stats.append(s)
        return s

    @property
    def exports_metrics(self) -> bool:
        return bool(self._metric_stats)

    @property
    def exports_logs(self) -> bool:
        return bool(self._log_stats)

    @property
    def exports_traces(self) -> bool:
        return bool(self._span_stats)

    @property
    def prometheus_only(self) -> bool:
        return set(self._metric_stats) == {"prometheus"}

    def start_prometheus(self, first_session: SessionInfo) -> None:
        if "prometheus" in self._metric_stats and self.prometheus is None:
            self.prometheus = PrometheusEndpoint(
                self.config.prometheus_host,
                self.config.prometheus_port,
                self.profile,
                first_session,
                self._metric_stats["prometheus"],
            )

    def open(self, session: SessionInfo) -> SessionProcess:
        if len(self._processes) >= 2 * self._live_mark:
            # A month of sessions opens tens of thousands of processes; keep only those still running
            # (and lanes still sending), so memory follows the sessions alive at once.
            self._processes = [p for p in self._processes if not p.closed]
            live = {id(p._lane) for p in self._processes}
            self._lanes = [lane for lane in self._lanes if id(lane) in live or not lane.wait(0)]
            self._live_mark = max(64, len(self._processes))
        metric_exporters: list[TrackedMetricExporter] = []
        log_exporters: list[TrackedLogExporter] = []
        span_exporters: list[TrackedSpanExporter] = []
        lane = ExportLane(self._pool, self._backlog)
        self._lanes.append(lane)
        with _without_process_otel_env():
            for name, stats in self._metric_stats.items():
                if name == "otlp":
                    inner = self._otlp_exporter("metrics")
                elif name == "console":
                    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

                    inner = ConsoleMetricExporter(
                        out=self.console_out or _stdout(),
                        preferred_temporality={Counter: self._temporality},
                    )
                else:
                    continue
                metric_exporters.append(TrackedMetricExporter(inner, stats, self._temporality, lane))
            for name, stats in self._log_stats.items():
                if name == "otlp":
                    inner = self._otlp_exporter("logs")
                else:
                    from opentelemetry.sdk._logs.export import ConsoleLogExporter

                    inner = ConsoleLogExporter(out=self.console_out or _stdout())
                log_exporters.append(TrackedLogExporter(inner, stats, lane))
            for name, stats in self._span_stats.items():
                if name == "otlp":
                    inner = self._otlp_exporter("traces")
                else:
                    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

                    inner = ConsoleSpanExporter(out=self.console_out or _stdout())
                span_exporters.append(TrackedSpanExporter(inner, stats, lane))
            # Built here, where the SDK cannot read OTEL_TRACES_SAMPLER or span limits from os.environ.
            process = SessionProcess(
                session,
                lane,
                self.profile,
                metric_exporters,
                log_exporters,
                self._temporality,
                span_exporters=span_exporters,
                # Claude Code drops units only when prometheus is its ONLY metrics exporter.
                drop_units=self.prometheus_only,
                prometheus=self.prometheus,
            )
        self._processes.append(process)
        return process

    def _otlp_exporter(self, signal: str):
        sig = self._signals[signal]
        if signal == "metrics":
            return build_metric_exporter(sig, self.export_timeout_s, self._keys, self._temporality)
        if signal == "traces":
            return build_span_exporter(sig, self.export_timeout_s, self._keys)
        return build_log_exporter(sig, self.export_timeout_s, self._keys)

    @property
    def headers_refresh_s(self) -> float | None:
        """How often Claude Code would re-run otelHeadersHelper here (None: it would not)."""
        if not self.config.headers_helper:
            return None
        http = [s for s in self._signals.values() if s.otlp_enabled and s.protocol != "grpc"]
        return self.config.headers_helper_debounce_ms / 1000 if http else None

    def refresh_headers(self) -> None:
        """Re-run otelHeadersHelper and send its new headers from now on, as Claude Code does.

        A failing helper keeps the previous headers and is reported, as Claude Code reports it.
        """
        from claude_telemetry_cli.settings import merge_headers, run_headers_helper

        try:
            fresh = run_headers_helper(self.config.headers_helper, source=self.config.headers_helper_source)
        except TelemetryError as exc:
            self.warnings.append(exc.message)
            return
        changed = []
        for name, sig in self._signals.items():
            if sig.otlp_enabled and sig.protocol != "grpc":
                self._signals[name] = replace(sig, headers=merge_headers(sig.headers, fresh))
                changed.append(name)
        self._processes = [p for p in self._processes if not p.closed]
        with _without_process_otel_env():
            for process in self._processes:
                for signal, tracked in process.otlp_exporters:
                    if signal in changed:
                        process.replace_exporter(tracked, self._otlp_exporter(signal))

    def drain(self, *, stop_on_failure: bool = False, grace_s: float | None = None) -> None:
        """Wait until every process's queued exports (and exits) are done.

        With `stop_on_failure`, the first failed export aborts the rest (see abort()): a replay that
        outran its exports (--instant queues a day's worth at once) must not then wait out the export
        timeout of every queued request against a collector that is gone. With `grace_s`, wait no
        longer than that (after abort(), for requests already sent).
        """
        if grace_s is not None:
            deadline = time.monotonic() + grace_s
            for lane in self._lanes:
                lane.wait(max(0.0, deadline - time.monotonic()))
            return
        if stop_on_failure:
            # Polled: the outcome of a request lands in shared stats, on the pool's threads.
            while not all(lane.wait(0.05) for lane in self._lanes):
                if any(not s.ok for s in self.stats):
                    self.abort()
                    break
        for lane in self._lanes:
            lane.wait()
        self._lanes = [lane for lane in self._lanes if not lane.wait(0)]

    def abort(self) -> None:
        """Stop exporting: drop every queued export and cut the requests under way short, each
        counted as failed, so a dead collector costs no more than the request that found it dead."""
        for lane in self._lanes:
            lane.abort()

    def close(self) -> None:
        aborted = any(lane.aborted for lane in self._lanes)
        # After abort(), a request already sent ends on its own within the export timeout; waiting for
        # it would only delay the summary (the process still lets it end before exiting).
        self.drain(grace_s=0.0 if aborted else None)
        if self._pool is not None:
            self._pool.shutdown(wait=not aborted)
        if self.prometheus is not None:
            self.prometheus.close()
            self.prometheus = None
        self._keys.close()


def _stdout():
    import sys

    return sys.stdout


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
        self._meter_provider = MeterProvider(
            resource=resource, metric_readers=self._readers, shutdown_on_exit=False
        )
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
            self._logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
            for p in self._processors:
                self._logger_provider.add_log_record_processor(p)
            self._logger = self._logger_provider.get_logger(LOGGER_NAME, version=session.app_version)
        self._span_processors = [ClockedSpanProcessor(e) for e in span_exporters]
        self._tracer = None
        if self._span_processors:
            self._ids = _ScriptedIds()
            # No atexit hook: the replay shuts each process down itself, in Claude Code's order.
            self._tracer_provider = TracerProvider(
                resource=resource, id_generator=self._ids, shutdown_on_exit=False
            )
            for p in self._span_processors:
                self._tracer_provider.add_span_processor(p)
            self._tracer = self._tracer_provider.get_tracer(TRACER_NAME, TRACER_VERSION)
        # Parent span id -> the earliest start (ns) of its children replayed so far.
        self._child_starts: dict[str, int] = {}
        self._prometheus = prometheus
        self.closed = False

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

    def shutdown(self, *, flush: bool = True) -> None:
        """Exit: flush events and spans, then metrics, as Claude Code does (or drop what is queued when
        aborting).

        The exit runs on the process's export lane, after its queued exports; the replay goes on.
        """
        if self.closed:
            return
        self.closed = True
        if not flush:
            self._lane.discard()
        for p in (*self._processors, *self._span_processors):
            p.final_export = flush
        for r in self._readers:
            r.final_export = flush

        def exit_process() -> None:
            if self._processors:
                self._logger_provider.shutdown()
            if self._span_processors:
                self._tracer_provider.shutdown()
            self._meter_provider.shutdown()

        self._lane.run(exit_process)


def _with_timestamp(attributes: dict, now_ns: int) -> dict:
    """Insert event.timestamp right after event.name, where Claude Code puts it."""
    return dict(with_event_timestamp(tuple(attributes.items()), now_ns))


class PrometheusEndpoint:
    """One /metrics endpoint for the whole replay, as one Claude Code process would serve.

    It has its own MeterProvider with unit-less instruments: Claude Code's Prometheus scrape never
    carries unit suffixes in metric names.
    """

    def __init__(self, host: str, port: int, profile: Profile, session: SessionInfo, stats: ExportStats):
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry, start_http_server

        self.host, self.stats = host, stats
        self.registry = CollectorRegistry()
        self._reader = PrometheusMetricReader(registry=self.registry)
        # Count scrapes: for a pull exporter, a scrape is what a request is to a push exporter.
        collector, collect = self._reader._collector, self._reader._collector.collect

        def counted_collect():
            with _stats_lock:
                stats.requests += 1
            return collect()

        collector.collect = counted_collect
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(
                f"OTEL_EXPORTER_PROMETHEUS_PORT: cannot serve Prometheus metrics on {host}:{port}:"
                f" {exc.strerror}"
            ) from None
        self.port = self._server.server_address[1]
        stats.destination = f"http://{host}:{self.port}/metrics"
        with _without_process_otel_env():
            self._provider = MeterProvider(
                resource=Resource(dict(session.resource)), metric_readers=[self._reader]
            )
        meter = self._provider.get_meter(METER_NAME, version=session.app_version)
        self._counters = {
            s.name: meter.create_counter(s.name, unit="", description=s.description)
            for s in profile.metrics.values()
        }
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def add(self, name: str, value: float, attributes: dict) -> None:
        with self._lock:
            self._counters[name].add(value, attributes)
            self.stats.items += 1

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._provider.shutdown()
