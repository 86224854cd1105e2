"""SDK providers built from explicit values only: OTEL_* variables in the process environment (limits,
the sampler, the exemplar filter, OTEL_SDK_DISABLED) change nothing, as settings resolved none of them."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits
from opentelemetry.sdk.metrics import MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import DEFAULT_ON

__all__ = ["logger_provider", "meter_provider", "tracer_provider"]

# The SDKs' defaults (Claude Code's JS SDK has the same): 128 attributes, of any length.
_ATTRIBUTE_COUNT = 128
_LOG_LIMITS = LogRecordLimits(
    max_attributes=_ATTRIBUTE_COUNT,
    max_attribute_length=LogRecordLimits.UNSET,
    max_log_record_attributes=_ATTRIBUTE_COUNT,
    max_log_record_attribute_length=LogRecordLimits.UNSET,
)
_SPAN_LIMITS = SpanLimits(
    max_attributes=_ATTRIBUTE_COUNT,
    max_events=_ATTRIBUTE_COUNT,
    max_links=_ATTRIBUTE_COUNT,
    max_span_attributes=_ATTRIBUTE_COUNT,
    max_event_attributes=_ATTRIBUTE_COUNT,
    max_link_attributes=_ATTRIBUTE_COUNT,
    max_attribute_length=SpanLimits.UNSET,
    max_span_attribute_length=SpanLimits.UNSET,
)
# The providers' own metrics about themselves go nowhere, rather than to a global provider that
# OTEL_PYTHON_METER_PROVIDER could name.
_NO_INTERNAL_METRICS = NoOpMeterProvider()


def meter_provider(
    resource: Resource, readers: Sequence[MetricReader], *, shutdown_on_exit: bool = True
) -> MeterProvider:
    provider = MeterProvider(
        metric_readers=readers,
        resource=resource,
        exemplar_filter=TraceBasedExemplarFilter(),
        shutdown_on_exit=shutdown_on_exit,
    )
    return _enabled(provider)


def logger_provider(resource: Resource) -> LoggerProvider:
    # No atexit hook: the replay shuts each process down itself, in Claude Code's order.
    provider = LoggerProvider(
        resource=resource,
        shutdown_on_exit=False,
        meter_provider=_NO_INTERNAL_METRICS,
        log_record_limits=_LOG_LIMITS,
    )
    return _enabled(provider)


def tracer_provider(resource: Resource, ids: IdGenerator) -> TracerProvider:
    # No atexit hook: the replay shuts each process down itself, in Claude Code's order.
    provider = TracerProvider(
        sampler=DEFAULT_ON,
        resource=resource,
        shutdown_on_exit=False,
        id_generator=ids,
        span_limits=_SPAN_LIMITS,
        meter_provider=_NO_INTERNAL_METRICS,
    )
    return _enabled(provider)


def _enabled(provider):
    # Each provider reads OTEL_SDK_DISABLED from os.environ, with no parameter to say otherwise, and
    # turns itself into a no-op; the replay's telemetry is on exactly when settings says it is.
    provider._disabled = False
    return provider
