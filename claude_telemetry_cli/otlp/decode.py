"""OTLP protobuf requests -> plain decoded points, events and spans (the records a receiver tallies)."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

Pairs = tuple[tuple[str, object], ...]


_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value", "bytes_value"})


def any_value(v: AnyValue):
    kind = v.WhichOneof("value")
    if kind in _SCALARS:
        return getattr(v, kind)
    if kind == "array_value":
        return tuple(any_value(x) for x in v.array_value.values)
    if kind == "kvlist_value":
        return tuple((kv.key, any_value(kv.value)) for kv in v.kvlist_value.values)
    return None


def pairs(attributes) -> Pairs:
    # The receiver's hot loop: every attribute of every point passes here, hence no generator.
    out = []
    append = out.append
    for kv in attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        append((kv.key, getattr(v, kind) if kind in _SCALARS else any_value(v)))
    return tuple(out)


@dataclass(frozen=True)
class DecodedPoint:
    name: str
    description: str
    unit: str
    kind: str  # "sum", "gauge", ...
    temporality: str  # "delta" | "cumulative" | "unspecified"
    monotonic: bool
    value: float
    is_double: bool
    attributes: Pairs
    start_ns: int
    time_ns: int
    resource: Pairs
    scope_name: str
    scope_version: str
    scope_schema_url: str = ""


@dataclass(frozen=True)
class DecodedEvent:
    body: object
    attributes: Pairs
    time_ns: int
    observed_ns: int
    severity_number: int
    resource: Pairs
    scope_name: str
    scope_version: str
    # The record's trace context, lowercase hex; empty when it has none.
    trace_id: str = ""
    span_id: str = ""

    @property
    def name(self) -> str:
        """Event name without the `claude_code.` prefix, from event.name or the body."""
        for k, v in self.attributes:
            if k == "event.name":
                return str(v)
        body = str(self.body or "")
        return body.removeprefix("claude_code.")


@dataclass(frozen=True)
class DecodedSpan:
    name: str
    trace_id: str  # lowercase hex, as W3C trace context and OTLP/JSON write ids
    span_id: str
    parent_span_id: str  # empty for a root span
    kind: str  # "internal", "client", ...
    attributes: Pairs
    status: str  # "unset" | "ok" | "error"
    status_message: str
    start_ns: int
    end_ns: int
    resource: Pairs
    scope_name: str
    scope_version: str


_SPAN_KINDS = {
    Span.SPAN_KIND_UNSPECIFIED: "unspecified",
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}
_STATUS = {Status.STATUS_CODE_UNSET: "unset", Status.STATUS_CODE_OK: "ok", Status.STATUS_CODE_ERROR: "error"}


_TEMPORALITY = {
    AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA: "delta",
    AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE: "cumulative",
}


def decode_metrics(request: ExportMetricsServiceRequest | bytes) -> list[DecodedPoint]:
    if isinstance(request, (bytes, bytearray)):
        request = ExportMetricsServiceRequest.FromString(bytes(request))
    out: list[DecodedPoint] = []
    for rm in request.resource_metrics:
        resource = pairs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                data = getattr(m, kind) if kind else None
                if data is None or not hasattr(data, "data_points"):
                    continue
                temporality = _TEMPORALITY.get(getattr(data, "aggregation_temporality", 0), "unspecified")
                monotonic = bool(getattr(data, "is_monotonic", False))
                for p in data.data_points:
                    if not hasattr(p, "as_double"):
                        continue
                    is_double = p.WhichOneof("value") == "as_double"
                    out.append(
                        DecodedPoint(
                            name=m.name,
                            description=m.description,
                            unit=m.unit,
                            kind=kind,
                            temporality=temporality,
                            monotonic=monotonic,
                            value=p.as_double if is_double else float(p.as_int),
                            is_double=is_double,
                            attributes=pairs(p.attributes),
                            start_ns=p.start_time_unix_nano,
                            time_ns=p.time_unix_nano,
                            resource=resource,
                            scope_name=sm.scope.name,
                            scope_version=sm.scope.version,
                            scope_schema_url=sm.schema_url,
                        )
                    )
    return out


def decode_logs(request: ExportLogsServiceRequest | bytes) -> list[DecodedEvent]:
    if isinstance(request, (bytes, bytearray)):
        request = ExportLogsServiceRequest.FromString(bytes(request))
    out: list[DecodedEvent] = []
    for rl in request.resource_logs:
        resource = pairs(rl.resource.attributes)
        for sl in rl.scope_logs:
            for lr in sl.log_records:
                out.append(
                    DecodedEvent(
                        body=any_value(lr.body),
                        attributes=pairs(lr.attributes),
                        time_ns=lr.time_unix_nano,
                        observed_ns=lr.observed_time_unix_nano,
                        severity_number=lr.severity_number,
                        resource=resource,
                        scope_name=sl.scope.name,
                        scope_version=sl.scope.version,
                        trace_id=lr.trace_id.hex(),
                        span_id=lr.span_id.hex(),
                    )
                )
    return out


def decode_traces(request: ExportTraceServiceRequest | bytes) -> list[DecodedSpan]:
    if isinstance(request, (bytes, bytearray)):
        request = ExportTraceServiceRequest.FromString(bytes(request))
    out: list[DecodedSpan] = []
    for rs in request.resource_spans:
        resource = pairs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                out.append(
                    DecodedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        kind=_SPAN_KINDS.get(span.kind, "unspecified"),
                        attributes=pairs(span.attributes),
                        status=_STATUS.get(span.status.code, "unset"),
                        status_message=span.status.message,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        resource=resource,
                        scope_name=ss.scope.name,
                        scope_version=ss.scope.version,
                    )
                )
    return out
