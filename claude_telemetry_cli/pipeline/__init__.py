"""TelemetryConfig -> OpenTelemetry SDK providers and official exporters, one set per simulated process.

The only package that imports opentelemetry.sdk. It never sets global providers: every simulated
Claude Code process gets its own MeterProvider, LoggerProvider and (with tracing) TracerProvider, as
a real process would. Every value the providers and exporters use is given to them, as settings
resolved it: whatever OTEL_* variables the process environment holds, none takes effect here.
Exports happen only when the replay driver says so (its clock), never on SDK background threads, so
scenario time, not wall time, decides which measurements share an export request.

factory.py builds the processes; process.py is one of them, over the providers of providers.py;
exporters.py builds the exporters (OTLP over gRPC, HTTP/protobuf and HTTP/JSON, console), lanes.py
runs their requests and accounting.py counts the outcomes; prometheus.py serves the pull endpoint.
"""

from __future__ import annotations

from claude_telemetry_cli.pipeline.accounting import (
    CUT_OFF,
    NOT_SENT,
    ExportRequest,
    ExportStats,
    failure_cause,
    first_failure,
)
from claude_telemetry_cli.pipeline.exporters import (
    build_log_exporter,
    build_metric_exporter,
    build_span_exporter,
    claude_code_json,
)
from claude_telemetry_cli.pipeline.factory import PipelineFactory
from claude_telemetry_cli.pipeline.lanes import (
    ExportLane,
    ExportPool,
    TrackedLogExporter,
    TrackedMetricExporter,
    TrackedSpanExporter,
)
from claude_telemetry_cli.pipeline.process import (
    ClockedLogProcessor,
    ClockedMetricReader,
    ClockedSpanProcessor,
    SessionProcess,
)
from claude_telemetry_cli.pipeline.prometheus import PrometheusEndpoint

__all__ = [
    "CUT_OFF",
    "NOT_SENT",
    "ClockedLogProcessor",
    "ClockedMetricReader",
    "ClockedSpanProcessor",
    "ExportLane",
    "ExportPool",
    "ExportRequest",
    "ExportStats",
    "PipelineFactory",
    "PrometheusEndpoint",
    "SessionProcess",
    "TrackedLogExporter",
    "TrackedMetricExporter",
    "TrackedSpanExporter",
    "build_log_exporter",
    "build_metric_exporter",
    "build_span_exporter",
    "claude_code_json",
    "failure_cause",
    "first_failure",
]
