"""OTLP protobuf requests -> plain decoded points, events and spans (the records a receiver tallies)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, NumberDataPoint
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from claude_telemetry_cli.content import STATUS

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
        return event_name(self.attributes, self.body)


def event_name(attributes: Pairs, body: object) -> str:
    for k, v in attributes:
        if k == "event.name":
            return str(v)
    return str(body or "").removeprefix("claude_code.")


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


# ---------------------------------------------------------------------------------------------- tallying

# A receiver tallying a metrics request needs far less than decode_metrics builds: per point, its series
# and value. A series' attributes arrive byte for byte the same in every export, so they are decoded once
# and looked up by their bytes afterwards. Protobuf's parser is handed a copy of the schema in which a
# Sum's and a Gauge's data points are bytes: each point comes undecoded, and the point's times and value,
# three fixed-size fields written before its attributes (the SDKs) or after them (prost, our encoder),
# are read in place. A point laid out otherwise is decoded in full.


def session_id(attributes: Pairs) -> str | None:
    """The first session.id among `attributes`, as text; None when there is none or it is empty."""
    for k, v in attributes:
        if k == "session.id":
            return str(v) or None
    return None


class Series:
    """One series of one metric, as Totals keys it; compared and hashed by identity (the cache hands out
    one per series)."""

    __slots__ = ("key", "attributes", "session")

    def __init__(self, name: str, attributes: Pairs) -> None:
        self.attributes = tuple(sorted(attributes, key=_BY_KEY))
        self.key = (name, self.attributes)  # a Totals.metrics key
        self.session = session_id(self.attributes)  # the first in sorted order: sorting is stable


class MetricPoints(NamedTuple):
    """The number points of one Metric message, in arrival order."""

    name: str
    temporality: str
    series: list[Series]
    values: list[float]
    starts: list[int] | None  # each point's start and time, for cumulative points only
    times: list[int] | None
    resource: Pairs = ()  # of the ResourceMetrics it came in: one tuple shared by its metrics


@dataclass(slots=True)
class MetricBatch:
    """A metrics request decoded for tallying (decode_metric_batch)."""

    metrics: list[MetricPoints] = field(default_factory=list)
    points: int = 0


_BY_KEY = itemgetter(0)
_CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
# start_time_unix_nano (2), time_unix_nano (3), then as_double (4) or as_int (6): tag and 8 bytes each.
_TIMES_SIZE = 27
_START, _TIME, _DOUBLE, _INT = 0x11, 0x19, 0x21, 0x31
_TIMES_DOUBLE = struct.Struct("<xQxQxd")
_TIMES_INT = struct.Struct("<xQxQxq")


def _read_as_bytes(request: type, modules, fields: set[tuple[str, str]], name: str | None = None):
    """`request` with each of `fields` ((message, field) names) read as bytes: the same wire format,
    every other field decoded (and checked) as the full schema does. With `name` (a message's full
    name), that message of the same schema instead."""
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, *modules):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        for message in proto.message_type:
            for f in message.field:
                if (message.name, f.name) in fields:
                    f.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                    f.ClearField("type_name")
        pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name or request.DESCRIPTOR.full_name))


_LeanMetricsRequest = _read_as_bytes(
    ExportMetricsServiceRequest,
    (metrics_pb2, metrics_service_pb2),
    {("Sum", "data_points"), ("Gauge", "data_points")},
)


class _SeriesCache:
    """One Series per metric name and attributes, found by the bytes of a point but its times and value.
    Forgotten all at once past LIMIT: memory stays bounded whatever the number of series (past it,
    series are decoded again as they come)."""

    LIMIT = 50_000

    def __init__(self) -> None:
        self.by_name: dict[str, dict[bytes, Series]] = {}
        self.by_key: dict[tuple, Series] = {}
        self.size = 0

    def of(self, name: str) -> dict[bytes, Series]:
        known = self.by_name.get(name)
        if known is None:
            known = self.by_name[name] = {}
        return known

    def series(self, name: str, attributes: Pairs) -> Series:
        """The Series of `name` and `attributes` (in any order)."""
        series = Series(name, attributes)
        # With the values' types: 0, 0.0 and False compare equal, but are different sessions.
        key = (series.key, tuple(type(v) for _, v in series.attributes))
        known = self.by_key.get(key)
        if known is not None:
            return known
        self._make_room()
        self.by_key[key] = series
        self.size += 1
        return series

    def add(self, known: dict[bytes, Series], name: str, rest: bytes) -> Series | None:
        """The series of a point whose times and value are cut off, leaving `rest`; None if `rest` holds a
        time or value too (then only the full decoding tells which counts). Raises what protobuf raises
        for bytes that do not decode."""
        if not _without_times(rest):
            return None
        series = self.series(name, pairs(NumberDataPoint.FromString(rest).attributes))
        self._make_room()
        known[rest] = series
        self.size += 1
        return series

    def _make_room(self) -> None:
        if self.size >= self.LIMIT:
            # Server threads decode side by side: a name may be added meanwhile.
            for known in list(self.by_name.values()):
                known.clear()
            self.by_key.clear()
            self.size = 0


_series = _SeriesCache()


def _without_times(rest: bytes) -> bool:
    """Whether `rest` is whole protobuf fields, none of them a point's times or value."""
    at, end = 0, len(rest)
    while at < end:
        tag, at = _varint(rest, at)
        if tag is None:
            return False
        number, wire = tag >> 3, tag & 7
        if number in (2, 3, 4, 6):
            return False
        if wire == 0:
            _, at = _varint(rest, at)
            if _ is None:
                return False
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        elif wire == 2:
            size, at = _varint(rest, at)
            if size is None:
                return False
            at += size
        else:
            return False
    return at == end


def _varint(data: bytes, at: int) -> tuple[int | None, int]:
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
    return None, at


def decode_metric_batch(request: ExportMetricsServiceRequest | bytes) -> MetricBatch:
    """The number points of a metrics request as Tally.add_batch takes them: the same points, series and
    values as decode_metrics. Raises what ExportMetricsServiceRequest.FromString raises for a body that
    does not decode."""
    return _lean_or_full(request, _LeanMetricsRequest, _lean_batch, ExportMetricsServiceRequest, _full_batch)


def _lean_or_full(request, lean_type: type, lean, full_type: type, full):
    """`lean(lean_type.FromString(body))`; should that refuse the body, `full(full_type.FromString(body))`,
    which raises what the full schema raises for a body that does not decode."""
    if not isinstance(request, (bytes, bytearray)):
        request = request.SerializeToString()
    try:
        return lean(lean_type.FromString(request))
    except Exception:
        # Whatever the lean reading refused, the full one words (or, should it decode after all, reads).
        return full(full_type.FromString(bytes(request)))


def _lean_batch(request) -> MetricBatch:
    batch = MetricBatch()
    for rm in request.resource_metrics:
        resource = pairs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind == "sum":
                    data = m.sum
                    temporality = _TEMPORALITY.get(data.aggregation_temporality, "unspecified")
                elif kind == "gauge":
                    data, temporality = m.gauge, "unspecified"
                else:
                    continue  # histograms and summaries carry no number points
                points = _number_points(m.name, temporality, data.data_points, resource)
                batch.points += len(points.series)
                batch.metrics.append(points)
    return batch


def _number_points(name: str, temporality: str, encoded, resource: Pairs = ()) -> MetricPoints:
    cache = _series
    known = cache.of(name)
    get = known.get
    series: list[Series] = []
    values: list[float] = []
    add_series, add_value = series.append, values.append
    times_double, times_int = _TIMES_DOUBLE.unpack_from, _TIMES_INT.unpack_from
    cumulative = temporality == "cumulative"
    starts: list[int] = []
    times: list[int] = []
    for point in encoded:
        s = None
        if len(point) >= _TIMES_SIZE:
            # The times and value first (the SDKs), or last (prost, our encoder).
            at = 0 if point[0] == _START and point[9] == _TIME else len(point) - _TIMES_SIZE
            tag = point[at + 18]
            if point[at] == _START and point[at + 9] == _TIME and (tag == _DOUBLE or tag == _INT):
                rest = point[_TIMES_SIZE:] if at == 0 else point[:at]
                s = get(rest)
                if s is None:
                    s = cache.add(known, name, rest)
        if s is None:
            s, start, time, value = _decoded_point(name, point)
        elif tag == _DOUBLE:
            start, time, value = times_double(point, at)
        else:
            start, time, value = times_int(point, at)
            value = float(value)
        add_series(s)
        add_value(value)
        if cumulative:
            starts.append(start)
            times.append(time)
    if cumulative:
        return MetricPoints(name, temporality, series, values, starts, times, resource)
    return MetricPoints(name, temporality, series, values, None, None, resource)


def _decoded_point(name: str, point: bytes) -> tuple[Series, int, int, float]:
    p = NumberDataPoint.FromString(point)
    value = float(p.as_int) if p.WhichOneof("value") == "as_int" else p.as_double
    return _series.series(name, pairs(p.attributes)), p.start_time_unix_nano, p.time_unix_nano, value


def _full_batch(request: ExportMetricsServiceRequest) -> MetricBatch:
    batch = MetricBatch()
    for p in decode_metrics(request):
        cumulative = p.temporality == "cumulative"
        batch.metrics.append(
            MetricPoints(
                p.name,
                p.temporality,
                [_series.series(p.name, p.attributes)],
                [p.value],
                [p.start_ns] if cumulative else None,
                [p.time_ns] if cumulative else None,
                p.resource,
            )
        )
        batch.points += 1
    return batch


# Events: each attribute (a KeyValue) is decoded once and looked up by its bytes afterwards; the values
# that vary from event to event (timestamps, ids) are decoded each time, and long ones are not kept.


@dataclass(slots=True)
class EventBatch:
    """A logs request decoded for tallying (decode_event_batch): each event's name, attributes, content
    key (content_key()), and whether the same record came before (then it is likely to come again)."""

    events: list[tuple[str, Pairs, tuple, bool]] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    # The resources the events came under, in order: (resource attributes, how many events).
    resources: list[tuple[Pairs, int]] = field(default_factory=list)


_VALUE = itemgetter(1)


def content_key(kind: str, name: str, attributes: Pairs) -> tuple:
    """What a record of `kind` ("event", "span") is tallied by: its Content's key, its attributes, and
    their values' types (1, 1.0 and True compare equal, but are different values)."""
    types = tuple(map(type, map(_VALUE, attributes)))
    # Records of one name mostly share their types: one tuple for all of them, not one each.
    types = _TYPES.setdefault(types, types)
    if len(_TYPES) > _TYPES_LIMIT:
        _TYPES.clear()
    return ((kind, name), attributes, types)


_TYPES: dict[tuple, tuple] = {}
_TYPES_LIMIT = 10_000


# A log record, and a span, is read as bytes, and each distinct one is decoded once: a load test sends the
# same records again and again. A record is decoded with its attributes as bytes, each attribute decoded
# once and looked up by its bytes afterwards (the values that vary from record to record, timestamps and
# ids, are decoded each time; long ones are not kept).

_LeanLogsRequest = _read_as_bytes(
    ExportLogsServiceRequest, (logs_pb2, logs_service_pb2), {("ScopeLogs", "log_records")}
)
_LeanLogRecord = _read_as_bytes(
    ExportLogsServiceRequest,
    (logs_pb2, logs_service_pb2),
    {("LogRecord", "attributes")},
    name="opentelemetry.proto.logs.v1.LogRecord",
)


class _Pairs(dict):
    """(key, value) by the bytes of a KeyValue; forgotten all at once past LIMIT."""

    LIMIT = 50_000
    LONGEST = 256  # bytes: a longer attribute (a prompt) is decoded each time, never kept

    def __missing__(self, encoded: bytes) -> tuple[str, object]:
        pair = pairs((KeyValue.FromString(encoded),))[0]
        if len(encoded) <= self.LONGEST:
            if len(self) >= self.LIMIT:
                self.clear()
            self[encoded] = pair
        return pair


_pairs = _Pairs()


class _Records(dict):
    """What a record's bytes decode to, by those bytes, with one more item: whether it was seen before
    (True when taken from here, False when just decoded); forgotten all at once past LIMIT."""

    LIMIT = 50_000  # a load test's pool of records fits
    LONGEST = 2048  # bytes: a longer record (one with a prompt) is decoded each time, never kept

    def __init__(self, decode) -> None:
        super().__init__()
        self._decode = decode

    def __missing__(self, encoded: bytes):
        decoded = self._decode(encoded)
        if len(encoded) <= self.LONGEST:
            if len(self) >= self.LIMIT:
                self.clear()
            self[encoded] = (*decoded, True)
        return (*decoded, False)


def _log_record(encoded: bytes) -> tuple[str, Pairs, tuple, str | None]:
    """(name, attributes, content key, session.id) of one LogRecord's bytes."""
    record = _LeanLogRecord.FromString(encoded)
    attributes = tuple(map(_pairs.__getitem__, record.attributes))
    name = session = None
    for k, v in attributes:
        if k == "event.name" and name is None:
            name = str(v)
        elif k == "session.id" and session is None:
            session = str(v)
    if name is None:
        name = event_name((), any_value(record.body))
    return name, attributes, content_key("event", name, attributes), session or None


_log_records = _Records(_log_record)


def decode_event_batch(request: ExportLogsServiceRequest | bytes) -> EventBatch:
    """The events of a logs request as Tally.add_event_batch takes them: the same names and attributes as
    decode_logs. Raises what ExportLogsServiceRequest.FromString raises for a body that does not decode."""
    return _lean_or_full(request, _LeanLogsRequest, _lean_events, ExportLogsServiceRequest, _full_events)


def _lean_events(request) -> EventBatch:
    batch = EventBatch()
    events, sessions = batch.events, batch.sessions
    record = _log_records.__getitem__
    for rl in request.resource_logs:
        before = len(events)
        for sl in rl.scope_logs:
            for name, attributes, key, session, again in map(record, sl.log_records):
                events.append((name, attributes, key, again))
                if session:
                    sessions.add(session)
        if len(events) > before:
            batch.resources.append((pairs(rl.resource.attributes), len(events) - before))
    return batch


def _full_events(request: ExportLogsServiceRequest) -> EventBatch:
    batch = EventBatch()
    for e in decode_logs(request):
        batch.events.append((e.name, e.attributes, content_key("event", e.name, e.attributes), False))
        _one_more(batch.resources, e.resource)
        session = session_id(e.attributes)
        if session:
            batch.sessions.add(session)
    return batch


# Spans, as events: each attribute decoded once and looked up by its bytes afterwards.


@dataclass(slots=True)
class SpanBatch:
    """A traces request decoded for tallying (decode_span_batch): each span's name, content key
    (content_key() of its attributes and, as one more, its status), and whether it came before."""

    spans: list[tuple[str, tuple, bool]] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    # The resources the spans came under, in order: (resource attributes, how many spans).
    resources: list[tuple[Pairs, int]] = field(default_factory=list)


_LeanTracesRequest = _read_as_bytes(
    ExportTraceServiceRequest, (trace_pb2, trace_service_pb2), {("ScopeSpans", "spans")}
)
_LeanSpan = _read_as_bytes(
    ExportTraceServiceRequest,
    (trace_pb2, trace_service_pb2),
    {("Span", "attributes")},
    name="opentelemetry.proto.trace.v1.Span",
)


def _span_entry(name: str, attributes: Pairs, status: str, message: str) -> tuple[str, tuple]:
    carried = (*attributes, (STATUS, f"{status}: {message}" if message else status))
    return name, content_key("span", name, carried)


def _span(encoded: bytes) -> tuple[str, tuple, str | None]:
    """(name, content key, session.id) of one Span's bytes."""
    span = _LeanSpan.FromString(encoded)
    attributes = tuple(map(_pairs.__getitem__, span.attributes))
    status = span.status
    name, key = _span_entry(span.name, attributes, _STATUS.get(status.code, "unset"), status.message)
    return name, key, session_id(attributes)


_spans = _Records(_span)


def decode_span_batch(request: ExportTraceServiceRequest | bytes) -> SpanBatch:
    """The spans of a traces request as Tally.add_span_batch takes them: the same names, attributes and
    statuses as decode_traces. Raises what ExportTraceServiceRequest.FromString raises for a body that
    does not decode."""
    return _lean_or_full(request, _LeanTracesRequest, _lean_spans, ExportTraceServiceRequest, _full_spans)


def _lean_spans(request) -> SpanBatch:
    batch = SpanBatch()
    spans, sessions = batch.spans, batch.sessions
    span = _spans.__getitem__
    for rs in request.resource_spans:
        before = len(spans)
        for ss in rs.scope_spans:
            for name, key, session, again in map(span, ss.spans):
                spans.append((name, key, again))
                if session:
                    sessions.add(session)
        if len(spans) > before:
            batch.resources.append((pairs(rs.resource.attributes), len(spans) - before))
    return batch


def _full_spans(request: ExportTraceServiceRequest) -> SpanBatch:
    batch = SpanBatch()
    for s in decode_traces(request):
        batch.spans.append((*_span_entry(s.name, s.attributes, s.status, s.status_message), False))
        _one_more(batch.resources, s.resource)
        session = session_id(s.attributes)
        if session:
            batch.sessions.add(session)
    return batch


def _one_more(resources: list[tuple[Pairs, int]], resource: Pairs) -> None:
    """One more record under `resource`: (resource, how many) runs, in the order they came."""
    if resources and resources[-1][0] is resource:
        resources[-1] = (resource, resources[-1][1] + 1)
    else:
        resources.append((resource, 1))
