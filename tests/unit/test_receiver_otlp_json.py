"""OTLP/JSON bodies decoded without protobuf's generic parser: the same messages, the same refusals."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from google.protobuf.json_format import ParseDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Exemplar,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
    Summary,
    SummaryDataPoint,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from claude_telemetry_cli.otlp.json_lines import otlp_json_object
from claude_telemetry_cli.receiver import server
from claude_telemetry_cli.receiver.otlp_json import NotPlain, fill

SIGNALS = {s.name: s for s in server._SIGNALS}
TYPES = {
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
    "traces": ExportTraceServiceRequest,
}


def reference(signal: str, data):
    """protobuf's own reading, ids converted from hex wherever they are: the message, or None if refused."""
    data = copy.deepcopy(data)

    def hex_ids(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id") and (
                    isinstance(v, str)
                ):
                    node[k] = base64.b64encode(bytes.fromhex(v)).decode()
                else:
                    hex_ids(v)
        elif isinstance(node, list):
            for v in node:
                hex_ids(v)

    try:
        if not isinstance(data, dict):
            return None
        hex_ids(data)
        return ParseDict(data, TYPES[signal](), ignore_unknown_fields=True)
    except Exception:
        return None


def decoded(signal: str, data):
    try:
        return server._decode_json(SIGNALS[signal], json.dumps(data).encode())
    except server._Refused:
        return None


# ------------------------------------------------------------------ what senders write

scalars = (
    st.text(max_size=8).map(lambda s: AnyValue(string_value=s))
    | st.booleans().map(lambda b: AnyValue(bool_value=b))
    | st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i))
    | st.floats(allow_nan=False, allow_infinity=False).map(lambda f: AnyValue(double_value=f))
)
any_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs)))
        | st.lists(st.tuples(st.text(max_size=5), inner), max_size=3).map(
            lambda kvs: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kvs]))
        )
    ),
    max_leaves=6,
)
attributes = st.lists(
    st.tuples(st.text(max_size=6), any_values).map(lambda kv: KeyValue(key=kv[0], value=kv[1])), max_size=4
)
nanos = st.integers(0, 2**64 - 1)
ids16, ids8 = st.binary(min_size=16, max_size=16), st.binary(min_size=8, max_size=8)
numbers = st.floats(allow_nan=False, allow_infinity=False)


def _integer_text(value: str) -> bool:
    # str.isdigit() is true of digits int() refuses, such as '²'.
    digits = value.removeprefix("-")
    return digits.isascii() and digits.isdigit()


@st.composite
def metrics(draw):
    point = dict(attributes=draw(attributes), start_time_unix_nano=draw(nanos), time_unix_nano=draw(nanos))
    exemplar = Exemplar(time_unix_nano=draw(nanos), as_double=draw(numbers), trace_id=draw(ids16))
    kind = draw(st.sampled_from(["sum", "gauge", "histogram", "exponential_histogram", "summary"]))
    temporality = draw(st.integers(0, 2))
    if kind in ("sum", "gauge"):
        number = NumberDataPoint(**point, exemplars=[exemplar])
        if draw(st.booleans()):
            number.as_int = draw(st.integers(-(2**63), 2**63 - 1))
        else:
            number.as_double = draw(numbers)
        data = (
            Sum(data_points=[number], aggregation_temporality=temporality, is_monotonic=draw(st.booleans()))
            if kind == "sum"
            else Gauge(data_points=[number])
        )
    elif kind == "histogram":
        data = Histogram(
            data_points=[
                HistogramDataPoint(
                    **point,
                    count=draw(st.integers(0, 2**64 - 1)),
                    sum=draw(numbers),
                    bucket_counts=draw(st.lists(st.integers(0, 2**64 - 1), max_size=4)),
                    explicit_bounds=draw(st.lists(numbers, max_size=3)),
                )
            ],
            aggregation_temporality=temporality,
        )
    elif kind == "exponential_histogram":
        buckets = ExponentialHistogramDataPoint.Buckets(
            offset=draw(st.integers(-(2**31), 2**31 - 1)), bucket_counts=draw(st.lists(st.integers(0, 9)))
        )
        data = ExponentialHistogram(
            data_points=[
                ExponentialHistogramDataPoint(**point, scale=draw(st.integers(-10, 20)), positive=buckets)
            ],
            aggregation_temporality=temporality,
        )
    else:
        quantile = SummaryDataPoint.ValueAtQuantile(quantile=draw(numbers), value=draw(numbers))
        data = Summary(data_points=[SummaryDataPoint(**point, quantile_values=[quantile])])
    metric = Metric(name=draw(st.text(max_size=10)), unit=draw(st.text(max_size=3)), **{kind: data})
    return ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[metric])])]
    )


@st.composite
def logs(draw):
    record = LogRecord(
        time_unix_nano=draw(nanos),
        observed_time_unix_nano=draw(nanos),
        severity_number=draw(st.integers(0, 24)),
        severity_text=draw(st.text(max_size=5)),
        body=draw(any_values),
        attributes=draw(attributes),
        flags=draw(st.integers(0, 2**32 - 1)),
        trace_id=draw(ids16 | st.just(b"")),
        span_id=draw(ids8 | st.just(b"")),
    )
    scope = ScopeLogs(log_records=[record])
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[scope])])


@st.composite
def traces(draw):
    span = Span(
        trace_id=draw(ids16),
        span_id=draw(ids8),
        parent_span_id=draw(ids8 | st.just(b"")),
        name=draw(st.text(max_size=8)),
        kind=draw(st.integers(0, 5)),
        start_time_unix_nano=draw(nanos),
        end_time_unix_nano=draw(nanos),
        attributes=draw(attributes),
        events=[Span.Event(name="e", time_unix_nano=draw(nanos), attributes=draw(attributes))],
        links=[Span.Link(trace_id=draw(ids16), span_id=draw(ids8))],
        status=Status(code=draw(st.integers(0, 2)), message=draw(st.text(max_size=5))),
    )
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])


requests = st.one_of(
    metrics().map(lambda r: ("metrics", r)),
    logs().map(lambda r: ("logs", r)),
    traces().map(lambda r: ("traces", r)),
)


def as_json(signal: str, request) -> dict:
    return otlp_json_object(signal, request.SerializeToString())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)
other_forms = st.sampled_from(["snake_case key", "number for a string", "enum by name", "float integer"])


@st.composite
def mutated(draw, data):
    """`data` with one node somewhere replaced by a random JSON value, or written in another form."""
    data = copy.deepcopy(data)
    node = data
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return data
        key = draw(st.sampled_from(keys))
        if isinstance(node[key], (dict, list)) and node[key] and draw(st.booleans()):
            node = node[key]
            continue
        value = node[key]
        form = draw(other_forms)
        if isinstance(node, dict) and form == "snake_case key":
            snake = "".join("_" + c.lower() if c.isupper() else c for c in key)
            node[snake] = node.pop(key)
        elif form == "number for a string" and isinstance(value, str) and _integer_text(value):
            node[key] = int(value)
        elif form == "float integer" and isinstance(value, str) and _integer_text(value):
            node[key] = float(int(value))
        else:
            node[key] = draw(json_values)
        return data


# ------------------------------------------------------------------ the tests


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signal_request=requests)
def test_what_senders_write_is_read_without_protobufs_parser_and_alike(signal_request):
    signal, request = signal_request
    data = as_json(signal, request)
    message = TYPES[signal]()
    try:
        fill(copy.deepcopy(data), message)
    except NotPlain:
        # Only what protobuf's JSON form writes other than as a plain number or string may go that way.
        assert "NaN" in json.dumps(data) or "Infinity" in json.dumps(data) or "bytesValue" in json.dumps(data)
        return
    assert message == request == reference(signal, data)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), signal_request=requests)
def test_any_body_is_accepted_or_refused_as_protobufs_parser_would(data, signal_request):
    signal, request = signal_request
    body = data.draw(mutated(as_json(signal, request)))
    assert decoded(signal, body) == reference(signal, body)


def _log_record(record) -> dict:
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}


@pytest.mark.parametrize(
    "body",
    [
        _log_record({"traceId": "0g"}),
        _log_record({"traceId": "00", "trace_id": "01"}),
        _log_record({"body": {"stringValue": "a", "intValue": "1"}}),
        _log_record({"timeUnixNano": "-1"}),
        _log_record({"severityText": "\ud800"}),
        _log_record({"severityNumber": "SEVERITY_NUMBER_INFO"}),
        _log_record({"flags": True}),
        _log_record({"unknown": {"traceId": "zz"}}),
        _log_record({"timeUnixNano": 5.0}),
        _log_record("not an object"),
        {"resourceLogs": None},
        {"resource_logs": [{"scope_logs": [{"log_records": [{"time_unix_nano": "7"}]}]}]},
    ],
)
def test_edges_are_decided_as_protobufs_parser_decides_them(body):
    assert decoded("logs", body) == reference("logs", body)


def test_deep_nesting_is_left_to_protobufs_parser():
    value: dict = {"stringValue": "leaf"}
    for _ in range(40):  # three messages deep each: past protobuf's limit of 100
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": value}]}]}]}
    with pytest.raises(NotPlain):
        fill(body, ExportLogsServiceRequest())
    assert decoded("logs", body) is None and reference("logs", body) is None
