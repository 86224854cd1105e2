"""Records -> OTLP protobuf request bytes, written directly: the load generator's fast path.

The replay builds one OpenTelemetry SDK pipeline per simulated process, which is faithful but costs
milliseconds per export. Load generation encodes the same requests straight to the protobuf wire format
instead, with every attribute and resource encoded once and reused. What it writes is held equal to what
the SDK path sends (tests/unit/test_encode.py decodes both): the same resource, scopes, metric names,
descriptions, units, temporality, monotonicity, attributes and values, the same event bodies and
attributes (event.timestamp included) and trace context.

Field numbers are those of opentelemetry-proto (collector/{metrics,logs}/v1, metrics/v1, logs/v1,
common/v1, resource/v1).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from claude_telemetry_cli.contract import LOGGER_NAME, METER_NAME, Profile
from claude_telemetry_cli.contract.spans import SPAN_FLAGS, TRACER_NAME, TRACER_VERSION
from claude_telemetry_cli.records import Attributes, AttrValue, TraceRef

__all__ = [
    "EventRecord",
    "LogRecordShape",
    "MetricPoint",
    "OtlpEncoder",
    "event_timestamp",
    "flag_spans",
    "sampled_protobuf_spans",
    "timestamp_attribute",
    "with_event_timestamp",
]

_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")
_POINT_TAIL = struct.Struct("<BQBQBd")  # a data point's times and value, each after its field tag

# Span.flags (field 16, fixed32) as Claude Code writes them: sampled, "has is_remote" known, not remote.
_SPAN_FLAGS = b"\x85\x01" + struct.pack("<I", SPAN_FLAGS)

# AggregationTemporality in metrics/v1.
DELTA, CUMULATIVE = 1, 2


def _encode_varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Field tags and the lengths of attributes, records and most requests: looked up, not computed.
_SMALL_VARINTS = tuple(_encode_varint(n) for n in range(1 << 14))


def _varint(n: int) -> bytes:
    return _SMALL_VARINTS[n] if n < 16384 else _encode_varint(n)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): strings, bytes and embedded messages."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, text: str) -> bytes:
    return _field(number, text.encode()) if text else b""


def _any_value(value: AttrValue) -> bytes:
    """An AnyValue message (common/v1)."""
    if isinstance(value, str):
        return _field(1, value.encode())
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    if isinstance(value, tuple):
        # ArrayValue { repeated AnyValue values = 1 }; an empty array is present, with no values.
        return _field(5, b"".join(_field(1, _any_value(v)) for v in value))
    raise TypeError(f"cannot encode attribute value {value!r}")


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One data point of a monotonic sum: what a collection of one process reports for one series."""

    name: str
    attributes: Attributes
    start_ns: int
    time_ns: int
    value: float


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event as a log record: `attributes` as the client sends them (event.timestamp included)."""

    time_ns: int
    name: str  # without the claude_code. prefix, which the body carries
    attributes: Attributes
    trace: TraceRef | None = None


def with_event_timestamp(attributes: Attributes, time_ns: int) -> Attributes:
    """Insert event.timestamp right after event.name, where Claude Code puts it (millisecond ISO-8601)."""
    if any(k == "event.timestamp" for k, _ in attributes):
        return attributes
    iso = event_timestamp(time_ns)
    out = []
    for pair in attributes:
        out.append(pair)
        if pair[0] == "event.name":
            out.append(("event.timestamp", iso))
    if len(out) == len(attributes):
        out.append(("event.timestamp", iso))
    return tuple(out)


class OtlpEncoder:
    """Encodes export requests for processes of one contract profile and one temporality.

    Every key/value pair, resource and scope is encoded once and kept: a fleet's sessions share most
    of their attribute values, so an encoded request is mostly joined bytes. The pairs kept are bounded
    (`cache_limit` per attribute field, then forgotten at once): a month of history meets millions of
    distinct values (request ids, costs, durations), and memory must not grow with the period.
    """

    def __init__(self, profile: Profile, temporality: str = "delta", *, cache_limit: int = 20_000) -> None:
        if temporality not in ("delta", "cumulative"):
            raise ValueError(f"temporality must be delta or cumulative, got {temporality!r}")
        self.profile = profile
        self._temporality = b"\x10" + bytes((DELTA if temporality == "delta" else CUMULATIVE,))
        # Metric { name = 1, description = 2, unit = 3 } up to its data, per metric name.
        self._metric_heads = {
            spec.name: _string(1, spec.name) + _string(2, spec.description) + _string(3, spec.unit)
            for spec in profile.metrics.values()
        }
        self._pairs: dict[tuple, bytes] = {}
        # Per attributes field number, each pair as that repeated field: (key, type, value) -> bytes.
        self._fields: dict[int, dict[tuple, bytes]] = {}
        self._cache_limit = cache_limit
        self._scopes: dict[tuple[str, str], bytes] = {}
        self._bodies: dict[str, bytes] = {}

    # -- pieces ----------------------------------------------------------------------------------

    def key_value(self, key: str, value: AttrValue) -> bytes:
        """A KeyValue message, from the cache. The type is part of the key: True is not 1."""
        cache_key = (key, type(value), value)
        encoded = self._pairs.get(cache_key)
        if encoded is None:
            encoded = _field(1, key.encode()) + _field(2, _any_value(value))
            if len(self._pairs) >= self._cache_limit:
                self._pairs.clear()
            self._pairs[cache_key] = encoded
        return encoded

    def attributes(self, number: int, attributes: Iterable[tuple[str, AttrValue]]) -> bytes:
        """Each pair as a repeated KeyValue field `number`."""
        fields = self._fields.get(number)
        if fields is None:
            fields = self._fields[number] = {}
        out = []
        for key, value in attributes:
            cache_key = (key, type(value), value)
            encoded = fields.get(cache_key)
            if encoded is None:
                kv = _field(1, key.encode()) + _field(2, _any_value(value))
                encoded = _varint(number << 3 | 2) + _varint(len(kv)) + kv
                if len(fields) >= self._cache_limit:
                    fields.clear()
                fields[cache_key] = encoded
            out.append(encoded)
        return b"".join(out)

    def resource(self, attributes: Attributes) -> bytes:
        """A Resource message; callers keep it per process."""
        return self.attributes(1, attributes)

    def _scope(self, name: str, version: str) -> bytes:
        scope = self._scopes.get((name, version))
        if scope is None:
            scope = self._scopes[(name, version)] = _field(1, _string(1, name) + _string(2, version))
        return scope

    # -- requests, from encoded pieces -----------------------------------------------------------
    #
    # The load generator keeps each series' and each event's attribute block encoded (attributes()),
    # so a request is assembled from bytes; metrics_request() and logs_request() go the same way.

    @staticmethod
    def point(attribute_block: bytes, start_ns: int, time_ns: int, value: float) -> bytes:
        """One NumberDataPoint, as a Sum's data_points field; `attribute_block` is attributes(7, ...)."""
        return OtlpEncoder.point_head(attribute_block) + OtlpEncoder.point_tail(start_ns, time_ns, value)

    @staticmethod
    def point_head(attribute_block: bytes) -> bytes:
        """A data point up to its times and value, which have a fixed size: kept per series, a point is
        `head + point_tail(start_ns, time_ns, value)`."""
        return _varint(1 << 3 | 2) + _varint(len(attribute_block) + _POINT_TAIL.size) + attribute_block

    @staticmethod
    def point_tail(start_ns: int, time_ns: int, value: float) -> bytes:
        """start_time_unix_nano (2), time_unix_nano (3), as_double (4)."""
        return _POINT_TAIL.pack(0x11, start_ns, 0x19, time_ns, 0x21, value)

    def metrics_group(self, resource: bytes, version: str, by_metric: dict[str, list[bytes]]) -> bytes:
        """One ResourceMetrics (as the request's field 1): the meter scope, one monotonic Sum per metric
        name with its points, in the order given."""
        metrics = b"".join(
            _field(
                2, self._metric_heads[name] + _field(7, b"".join(points) + self._temporality + b"\x18\x01")
            )
            for name, points in by_metric.items()
        )
        return _field(1, _field(1, resource) + _field(2, self._scope(METER_NAME, version) + metrics))

    def log_record(self, time_ns: int, name: str, attribute_block: bytes, trace: TraceRef | None) -> bytes:
        """One LogRecord, as a ScopeLogs log_records field; `attribute_block` is attributes(6, ...)."""
        stamp = _FIXED64.pack(time_ns)
        record = b"\x09" + stamp + _field(5, self._body(name)) + attribute_block + _trace_fields(trace)
        return _field(2, record + b"\x59" + stamp)  # observed_time_unix_nano = 11, the same instant

    def logs_group(self, resource: bytes, version: str, records: Sequence[bytes]) -> bytes:
        """One ResourceLogs (as the request's field 1): the event logger scope and its records."""
        scope_logs = _field(2, self._scope(LOGGER_NAME, version) + b"".join(records))
        return _field(1, _field(1, resource) + scope_logs)

    # -- requests, from records ------------------------------------------------------------------

    def metrics_request(self, groups: Sequence[tuple[bytes, str, Sequence[MetricPoint]]]) -> bytes:
        """An ExportMetricsServiceRequest: per group (encoded resource, client version, points), one
        ResourceMetrics with Claude Code's meter scope; points of one metric share one Metric, in the
        order their names first appear."""
        out = []
        for resource, version, points in groups:
            by_metric: dict[str, list[bytes]] = {}
            for p in points:
                point = self.point(self.attributes(7, p.attributes), p.start_ns, p.time_ns, p.value)
                by_metric.setdefault(p.name, []).append(point)
            out.append(self.metrics_group(resource, version, by_metric))
        return b"".join(out)

    def logs_request(self, groups: Sequence[tuple[bytes, str, Sequence[EventRecord]]]) -> bytes:
        """An ExportLogsServiceRequest: per group (encoded resource, client version, events), one
        ResourceLogs with Claude Code's event logger scope."""
        return b"".join(
            self.logs_group(
                resource,
                version,
                [
                    self.log_record(e.time_ns, e.name, self.attributes(6, e.attributes), e.trace)
                    for e in events
                ],
            )
            for resource, version, events in groups
        )

    # -- spans ----------------------------------------------------------------------------------

    def span(
        self,
        trace_id: str,
        span_id: str,
        parent_span_id: str | None,
        name: str,
        start_ns: int,
        end_ns: int,
        attribute_block: bytes,
        status: str = "unset",
        status_message: str = "",
        events: Sequence[bytes] = (),
    ) -> bytes:
        """One Span (trace/v1), as a ScopeSpans spans field; `attribute_block` is attributes(9, ...),
        `events` span_event()s. Kind INTERNAL, a status always present (empty when unset), flags as
        Claude Code writes them."""
        if status == "error":
            status_body = _string(2, status_message) + b"\x18\x02"  # STATUS_CODE_ERROR
        else:
            status_body = b""
        span = (
            _field(1, bytes.fromhex(trace_id))
            + _field(2, bytes.fromhex(span_id))
            + (_field(4, bytes.fromhex(parent_span_id)) if parent_span_id else b"")
            + _string(5, name)
            + b"\x30\x01"  # kind = SPAN_KIND_INTERNAL
            + b"\x39"
            + _FIXED64.pack(start_ns)
            + b"\x41"
            + _FIXED64.pack(end_ns)
            + attribute_block
            + b"".join(events)
            + _field(15, status_body)
            + _SPAN_FLAGS
        )
        return _field(2, span)

    @staticmethod
    def span_event(time_ns: int, name: str, attribute_block: bytes) -> bytes:
        """One Span.Event, as a Span's events field (11); `attribute_block` is attributes(3, ...)."""
        return _field(11, b"\x09" + _FIXED64.pack(time_ns) + _string(2, name) + attribute_block)

    def traces_group(self, resource: bytes, spans: Sequence[bytes]) -> bytes:
        """One ResourceSpans (as an ExportTraceServiceRequest's field 1): the tracer scope and its spans."""
        scope_spans = _field(2, self._scope(TRACER_NAME, TRACER_VERSION) + b"".join(spans))
        return _field(1, _field(1, resource) + scope_spans)

    def _body(self, name: str) -> bytes:
        body = self._bodies.get(name)
        if body is None:
            body = self._bodies[name] = _field(1, f"claude_code.{name}".encode())
        return body


def flag_spans(request) -> None:
    """Every span of an ExportTraceServiceRequest (the SDK's) given Claude Code's flags: the Python SDK's
    encoders leave the sampled bit out."""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                span.flags |= SPAN_FLAGS


def sampled_protobuf_spans(body: bytes) -> bytes:
    """An OTLP protobuf traces body from the official exporter, its spans flagged as Claude Code's."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest.FromString(body)
    flag_spans(request)
    return request.SerializePartialToString()


def _trace_fields(trace: TraceRef | None) -> bytes:
    """A LogRecord's trace context: flags (fixed32, the sampled bit), trace_id and span_id as raw bytes."""
    if trace is None:
        return b""
    return (
        b"\x45\x01\x00\x00\x00"
        + _field(9, bytes.fromhex(trace.trace_id))
        + _field(10, bytes.fromhex(trace.span_id))
    )


def _second_text(seconds: int) -> bytes:
    """ "YYYY-MM-DDTHH:MM:SS" of a Unix second, UTC; the last one is kept, as events come in time order."""
    if _second_cache[0] != seconds:
        _second_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode()
        _second_cache[0] = seconds
    return _second_cache[1]


_second_cache: list = [None, b""]  # the last second formatted, and its text


def _millis_text(time_ns: int) -> bytes:
    """Claude Code's event.timestamp: ISO-8601 UTC to the millisecond (24 bytes)."""
    return _second_text(time_ns // 1_000_000_000) + b".%03dZ" % ((time_ns // 1_000_000) % 1000)


def event_timestamp(time_ns: int) -> str:
    """Claude Code's event.timestamp: ISO-8601 UTC to the millisecond."""
    return _millis_text(time_ns).decode()


_TIMESTAMP_KEY = _field(1, b"event.timestamp")
# The KeyValue's length never changes ("2026-11-25T03:24:46.123Z" is 24 bytes): all but the text is fixed.
_TIMESTAMP_HEAD = _field(6, _TIMESTAMP_KEY + _field(2, _field(1, b"x" * 24)))[:-24]


def timestamp_attribute(time_ns: int) -> bytes:
    """The event.timestamp KeyValue as a LogRecord attributes field (6)."""
    return _TIMESTAMP_HEAD + _millis_text(time_ns)


class LogRecordShape:
    """One event's LogRecord with everything but its instant encoded: `encode(time_ns)` gives the same
    bytes as OtlpEncoder.log_record with the event.timestamp attribute inserted (when `after` is not
    None) between the `before` and `after` attribute blocks. Its length does not depend on the instant."""

    __slots__ = ("_head", "_middle", "_tail", "_stamped")

    def __init__(self, encoder: OtlpEncoder, name: str, before: bytes, after: bytes | None, trace) -> None:
        self._stamped = after is not None
        self._middle = _field(5, encoder._body(name)) + before
        self._tail = (after or b"") + _trace_fields(trace) + b"\x59"
        size = 9 + len(self._middle) + len(self._tail) + 8
        if self._stamped:
            size += len(_TIMESTAMP_HEAD) + 24
        self._head = _varint(2 << 3 | 2) + _varint(size) + b"\x09"

    def __reduce__(self):
        return _restore_shape, (self._head, self._middle, self._tail, self._stamped)

    def encode(self, time_ns: int) -> bytes:
        stamp = _FIXED64.pack(time_ns)
        if self._stamped:
            return self._head + stamp + self._middle + timestamp_attribute(time_ns) + self._tail + stamp
        return self._head + stamp + self._middle + self._tail + stamp


def _restore_shape(head: bytes, middle: bytes, tail: bytes, stamped: bool) -> LogRecordShape:
    shape = LogRecordShape.__new__(LogRecordShape)
    shape._head, shape._middle, shape._tail, shape._stamped = head, middle, tail, stamped
    return shape
