"""PipelineFactory: one SessionProcess per simulated Claude Code process, its exporters built from the
TelemetryConfig, the export lanes and accounting shared by all of them."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field, replace

from opentelemetry.sdk.metrics.export import AggregationTemporality

from claude_telemetry_cli.contract import Profile
from claude_telemetry_cli.errors import TelemetryError
from claude_telemetry_cli.pipeline.accounting import CUT_OFF, ExportStats, install_capture
from claude_telemetry_cli.pipeline.exporters import (
    KeyMaterial,
    build_log_exporter,
    build_metric_exporter,
    build_span_exporter,
    console_log_exporter,
    console_metric_exporter,
    console_span_exporter,
)
from claude_telemetry_cli.pipeline.lanes import (
    ExportLane,
    ExportPool,
    TrackedLogExporter,
    TrackedMetricExporter,
    TrackedSpanExporter,
)
from claude_telemetry_cli.pipeline.process import SessionProcess
from claude_telemetry_cli.pipeline.prometheus import PrometheusEndpoint
from claude_telemetry_cli.records import SessionInfo
from claude_telemetry_cli.settings import TelemetryConfig, merge_headers, run_headers_helper

__all__ = ["PipelineFactory"]

# After an abort, how long requests already sent may take to be answered before they count as cut off
# (a request cannot be called back once sent; its exporter gives up on it within the export timeout).
_ANSWER_GRACE_S = 1.0


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
    _keys: KeyMaterial = field(default_factory=KeyMaterial)

    def __post_init__(self) -> None:
        install_capture()
        self._pool = ExportPool(self.concurrency) if self.concurrency > 0 else None
        # Set when a request fails on its own: the replay stops at once, even while it waits.
        self.failure = threading.Event()
        self.aborted = False
        self._graced = False  # requests under way at the abort had their moment to be answered
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
            # settings leaves traces without exporters unless the beta flag is on as well.
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
        lane = ExportLane(self._pool, self._backlog, self.failure)
        if self.aborted:
            lane.abort()
        self._lanes.append(lane)
        out = self.console_out or sys.stdout
        for name, stats in self._metric_stats.items():
            if name == "otlp":
                inner = self._otlp_exporter("metrics")
            elif name == "console":
                inner = console_metric_exporter(out, self._temporality)
            else:
                continue
            metric_exporters.append(TrackedMetricExporter(inner, stats, self._temporality, lane))
        for name, stats in self._log_stats.items():
            inner = self._otlp_exporter("logs") if name == "otlp" else console_log_exporter(out)
            log_exporters.append(TrackedLogExporter(inner, stats, lane))
        for name, stats in self._span_stats.items():
            inner = self._otlp_exporter("traces") if name == "otlp" else console_span_exporter(out)
            span_exporters.append(TrackedSpanExporter(inner, stats, lane))
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
        for process in self._processes:
            for signal, tracked in process.otlp_exporters:
                if signal in changed:
                    process.replace_exporter(tracked, self._otlp_exporter(signal))

    def drain(self, *, stop_on_failure: bool = False) -> None:
        """Wait until every process's queued exports (and exits) are done, but never on a collector
        that has stopped answering.

        With `stop_on_failure`, the first failed export aborts the rest (see abort()): a replay that
        outran its exports (--instant queues a day's worth at once) must not then wait out the export
        timeout of every queued request against a collector that is gone. Every request gives up
        within the export timeout, retries included, so a lane with no answer for longer is aborted
        as well. After an abort, requests already sent have a moment to be answered, and then count
        as cut off: once drain returns, every request is counted as sent or failed.
        """
        stalled_after_s = self.export_timeout_s + _ANSWER_GRACE_S
        progress, since = None, time.monotonic()
        why = CUT_OFF
        while not self.aborted:
            busy = [lane for lane in self._lanes if not lane.wait(0)]
            if not busy:
                break
            if stop_on_failure and self.failure.is_set():
                self.abort()
                break
            answered = sum(s.sent_requests + s.failed_requests for s in self.stats)
            if (answered, len(busy)) != progress:
                progress, since = (answered, len(busy)), time.monotonic()
            elif time.monotonic() - since > stalled_after_s:
                why = f"no answer within the export timeout ({self.export_timeout_s:g}s)"
                self.abort()
                break
            # Polled: the outcome of a request lands in shared stats, on the pool's threads.
            busy[0].wait(0.05)
        if self.aborted:
            try:
                if not self._graced:
                    self._graced = True
                    deadline = time.monotonic() + _ANSWER_GRACE_S
                    for lane in self._lanes:
                        lane.wait(max(0.0, deadline - time.monotonic()))
            finally:  # interrupted or not, what is still unanswered is counted now
                for lane in self._lanes:
                    lane.cut_off(why)
        self._lanes = [lane for lane in self._lanes if not lane.wait(0)]

    def abort(self) -> None:
        """Stop exporting: drop every queued export and cut the requests under way short, each
        counted as failed, so a dead collector costs no more than the request that found it dead.
        From now on, whatever a process would export is counted as failed, and not sent."""
        self.aborted = True
        for lane in self._lanes:
            lane.abort()

    def close(self) -> None:
        self.drain()
        if self._pool is not None:
            # After an abort, a request still under way is counted as cut off; the program does not
            # wait for its exporter to give up on it.
            self._pool.shutdown(wait=not self.aborted)
        if self.prometheus is not None:
            self.prometheus.close()
            self.prometheus = None
        self._keys.close()
