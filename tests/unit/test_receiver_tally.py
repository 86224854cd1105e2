"""The receiver's fast tallying path counts exactly what the full decoding counts, for any layout of the
points, any events and any body; a tally taken in parts merges back, expected values counted exactly."""

from __future__ import annotations

import math

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Exemplar,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from claude_telemetry_cli.content import Content
from claude_telemetry_cli.contract.profiles import get_profile
from claude_telemetry_cli.otlp import decode
from claude_telemetry_cli.otlp.encode import MetricPoint, OtlpEncoder
from claude_telemetry_cli.receiver.reception import Reception
from claude_telemetry_cli.records import Totals
from tests.unit.test_receiver_server import logs_request, metrics_request

DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE

# ------------------------------------------------------------------ requests of every shape

keys = st.sampled_from(["session.id", "model", "type", "user.id", "tool_name", "n"])
values = st.one_of(
    st.sampled_from(["s-1", "s-2", "claude-opus", "input", ""]),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, -0.0, 1e300]),
    st.lists(st.sampled_from(["a", "b"]), max_size=2).map(tuple),
)


def _any(value) -> AnyValue:
    if isinstance(value, tuple):
        return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=value)


@st.composite
def number_points(draw):
    point = NumberDataPoint(
        attributes=[
            KeyValue(key=k, value=_any(v)) for k, v in draw(st.lists(st.tuples(keys, values), max_size=4))
        ],
        start_time_unix_nano=draw(st.sampled_from([0, 1, 7])),
        time_unix_nano=draw(st.sampled_from([0, 5, 9])),
    )
    value = draw(
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(-1e6, 1e6, allow_nan=False))
    )
    if isinstance(value, int):
        point.as_int = value
    elif isinstance(value, float):
        point.as_double = value
    if draw(st.booleans()):
        point.flags = 1
    if draw(st.integers(0, 4)) == 0:
        point.exemplars.append(Exemplar(as_double=1.0, time_unix_nano=3))
    return point


@st.composite
def metrics(draw):
    name = draw(st.sampled_from(["claude_code.token.usage", "claude_code.cost.usage", "up"]))
    points = draw(st.lists(number_points(), max_size=4))
    kind = draw(st.sampled_from(["sum", "sum", "gauge", "histogram", "none"]))
    if kind == "sum":
        temporality = draw(st.sampled_from([DELTA, CUMULATIVE, 0]))
        return Metric(name=name, sum=Sum(data_points=points, aggregation_temporality=temporality))
    if kind == "gauge":
        return Metric(name=name, gauge=Gauge(data_points=points))
    if kind == "histogram":
        return Metric(name=name, histogram=Histogram(data_points=[HistogramDataPoint(count=2, sum=3.0)]))
    return Metric(name=name)


requests = st.lists(st.lists(metrics(), max_size=4), min_size=1, max_size=2).map(
    lambda groups: ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=m)]) for m in groups]
    )
)


def _points_last(request: ExportMetricsServiceRequest) -> bytes:
    """The request as prost (rotel) and our encoder lay points out: attributes first, times and value last."""
    from claude_telemetry_cli.otlp.encode import _field

    def point_bytes(p: NumberDataPoint) -> bytes:
        head = NumberDataPoint(attributes=p.attributes, exemplars=p.exemplars, flags=p.flags)
        times = NumberDataPoint(start_time_unix_nano=p.start_time_unix_nano, time_unix_nano=p.time_unix_nano)
        if p.WhichOneof("value") == "as_int":
            times.as_int = p.as_int
        elif p.WhichOneof("value") == "as_double":
            times.as_double = p.as_double
        return head.SerializeToString() + times.SerializeToString()

    out = b""
    for rm in request.resource_metrics:
        metrics_bytes = b""
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind in ("sum", "gauge"):
                    data = getattr(m, kind)
                    points = b"".join(_field(1, point_bytes(p)) for p in data.data_points)
                    rest = type(data)()
                    rest.CopyFrom(data)
                    rest.ClearField("data_points")
                    number = 7 if kind == "sum" else 5
                    body = Metric(name=m.name).SerializeToString() + _field(
                        number, points + rest.SerializeToString()
                    )
                else:
                    body = m.SerializeToString()
                metrics_bytes += _field(2, body)
        out += _field(1, _field(2, metrics_bytes))
    return out


def _mutated(encoded: bytes, at: int, how: str, junk: bytes) -> bytes:
    raw = bytearray(encoded)
    at = at % (len(raw) + 1)
    if how == "truncate":
        return bytes(raw[:at])
    if how == "flip" and at < len(raw):
        raw[at] ^= junk[0] if junk else 0xFF
        return bytes(raw)
    return bytes(raw[:at] + junk + raw[at:])


def _same_totals(a: Totals, b: Totals) -> bool:
    return a.metrics.keys() == b.metrics.keys() and all(
        math.isclose(v, b.metrics[k], rel_tol=1e-12, abs_tol=1e-12) for k, v in a.metrics.items()
    )


def _received(bodies, *, full: bool) -> Reception:
    # keep_decoded: the full decoding, point by point, as `record` reads requests.
    reception = Reception(keep_decoded=full)
    for body in bodies:
        reception.accept_metrics(ExportMetricsServiceRequest.FromString(body) if full else body, "grpc")
    return reception


def _snapshot(reception: Reception) -> dict:
    return {k: v for k, v in reception.snapshot().items()}


# ------------------------------------------------------------------ the same totals


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests, min_size=1, max_size=3), st.booleans())
def test_the_fast_path_counts_what_the_full_decoding_counts(sent, points_last):
    bodies = [_points_last(r) if points_last else r.SerializeToString() for r in sent]
    # The rewritten layout is the same request, read by the full schema.
    assert [ExportMetricsServiceRequest.FromString(b) for b in bodies] == sent
    fast, full = _received(bodies, full=False), _received(bodies, full=True)
    assert _same_totals(fast.totals(), full.totals())
    assert _snapshot(fast) == _snapshot(full)


@settings(max_examples=300, deadline=None)
@given(
    requests, st.integers(0, 10_000), st.sampled_from(["truncate", "flip", "insert"]), st.binary(max_size=4)
)
def test_any_body_is_refused_or_counted_as_the_full_decoding_would(request, at, how, junk):
    body = _mutated(request.SerializeToString(), at, how, junk)
    try:
        expected = ExportMetricsServiceRequest.FromString(body)
    except DecodeError as e:
        with pytest.raises(DecodeError) as refused:
            decode.decode_metric_batch(body)
        assert str(refused.value) == str(e)  # what the sender is told
        return
    fast, full = Reception(), Reception(keep_decoded=True)
    fast.accept_metrics(decode.decode_metric_batch(body), "grpc")
    full.accept_metrics(expected, "grpc")
    assert _same_totals(fast.totals(), full.totals())
    assert _snapshot(fast) == _snapshot(full)


def test_sums_are_exact_and_sessions_counted_across_many_requests():
    attrs = (("session.id", "s-1"), ("type", "input"))
    bodies = [
        metrics_request([("t", attrs, 0.1), ("t", (("session.id", "s-2"),), 3)]).SerializeToString()
    ] * 10
    fast, full = _received(bodies, full=False), _received(bodies, full=True)
    assert fast.totals().metrics == full.totals().metrics  # the same additions in the same order
    assert fast.snapshot()["sessions"] == 2 and fast.snapshot()["points"] == 20


def test_past_the_cache_limit_series_are_decoded_again_and_counted_the_same(monkeypatch):
    monkeypatch.setattr(decode._SeriesCache, "LIMIT", 3)
    monkeypatch.setattr(decode, "_series", decode._SeriesCache())
    points = [("t", (("session.id", f"s-{i % 5}"),), i) for i in range(20)]
    bodies = [metrics_request(points).SerializeToString()] * 3
    fast, full = _received(bodies, full=False), _received(bodies, full=True)
    assert _same_totals(fast.totals(), full.totals())
    assert fast.snapshot() == full.snapshot()
    assert decode._series.size <= 3


@pytest.mark.parametrize("layout", ["sdk", "encoder"])
def test_the_senders_layouts_are_read_in_place_and_each_series_decoded_once(monkeypatch, layout):
    """What Claude Code's SDK and our load generator send never needs the full decoding per point."""
    monkeypatch.setattr(decode, "_series", decode._SeriesCache())
    points = [("claude_code.token.usage", (("session.id", "s"), ("type", t)), 5) for t in ("input", "output")]
    if layout == "sdk":
        body = metrics_request(points).SerializeToString()
    else:
        encoder = OtlpEncoder(get_profile("current"))
        body = encoder.metrics_request(
            [
                (
                    encoder.resource((("service.name", "claude-code"),)),
                    "2.0.0",
                    [MetricPoint(n, a, 1, 2, v) for n, a, v in points],
                )
            ]
        )

    def refuse(*_):
        raise AssertionError("decoded in full")

    monkeypatch.setattr(decode, "_decoded_point", refuse)
    monkeypatch.setattr(decode, "_full_batch", refuse)
    decoded = []
    real = decode.NumberDataPoint.FromString
    monkeypatch.setattr(
        decode, "NumberDataPoint", type("P", (), {"FromString": lambda b: decoded.append(b) or real(b)})
    )
    reception = Reception()
    for _ in range(5):
        reception.accept_metrics(body, "grpc")
    assert len(decoded) == 2  # once per series
    assert reception.totals().metrics == {
        ("claude_code.token.usage", (("session.id", "s"), ("type", t))): 25.0 for t in ("input", "output")
    }


# ------------------------------------------------------------------ a tally split across workers


def test_expected_values_stay_exact_in_worker_parts_past_the_cap():
    """A verdict tells how many records changed even when several workers counted them: each worker counts
    the expected values exactly, as the judging process does, however many others arrive first."""
    tools = [f"tool-{i}" for i in range(10)]
    expected_content = Content()
    for tool in tools:
        expected_content.add([("tool_name", tool)])
    parent, worker = Reception(), Reception()
    for reception in (parent, worker):
        reception.expect(Totals(content={("event", "tool_result"): expected_content}))

    def arrive(tool: str) -> None:
        request = logs_request(["tool_result"])
        record = request.resource_logs[0].scope_logs[0].log_records[0]
        record.attributes.add(key="tool_name", value=AnyValue(string_value=tool))
        worker.accept_logs(request, "grpc")

    arrive("first")
    parent.merge(worker.take_part())
    for tool in [f"other-{i}" for i in range(70)] + tools:  # more distinct values than are counted exactly
        arrive(tool)
    parent.merge(worker.take_part())
    received = parent.totals().content["event", "tool_result"].attributes["tool_name"]
    assert {tool: received.values.get(("string", tool)) for tool in tools} == dict.fromkeys(tools, 1)


# ------------------------------------------------------------------ events


@st.composite
def log_records(draw):
    attributes = draw(
        st.lists(
            st.tuples(st.sampled_from(["event.name", "session.id", "tool_name", "prompt"]), values),
            max_size=5,
        )
    )
    if draw(st.booleans()):
        attributes.append(("prompt", draw(st.text(min_size=200, max_size=400))))  # long: never kept
    body = draw(
        st.one_of(
            st.none(), st.sampled_from(["claude_code.user_prompt", "api_request", ""]), st.integers(0, 2)
        )
    )
    record = LogRecord(attributes=[KeyValue(key=k, value=_any(v)) for k, v in attributes], time_unix_nano=5)
    if body is not None:
        record.body.CopyFrom(_any(body))
    return record


log_requests = st.lists(st.lists(log_records(), max_size=4), min_size=1, max_size=2).map(
    lambda groups: ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)]) for records in groups]
    )
)


def _received_logs(bodies, *, full: bool) -> Reception:
    reception = Reception(keep_decoded=full)
    for body in bodies:
        reception.accept_logs(ExportLogsServiceRequest.FromString(body) if full else body, "grpc")
    return reception


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(log_requests, min_size=1, max_size=3))
def test_events_are_counted_as_the_full_decoding_counts_them(sent):
    bodies = [r.SerializeToString() for r in sent]
    fast, full = _received_logs(bodies, full=False), _received_logs(bodies, full=True)
    assert fast.totals().equals(full.totals(), content=True)
    assert fast.totals().content.keys() == full.totals().content.keys()
    assert _snapshot(fast) == _snapshot(full)


@settings(max_examples=300, deadline=None)
@given(
    log_requests,
    st.integers(0, 10_000),
    st.sampled_from(["truncate", "flip", "insert"]),
    st.binary(max_size=4),
)
def test_any_logs_body_is_refused_or_counted_as_the_full_decoding_would(request, at, how, junk):
    body = _mutated(request.SerializeToString(), at, how, junk)
    try:
        expected = ExportLogsServiceRequest.FromString(body)
    except DecodeError as e:
        with pytest.raises(DecodeError) as refused:
            decode.decode_event_batch(body)
        assert str(refused.value) == str(e)
        return
    fast, full = Reception(), Reception(keep_decoded=True)
    fast.accept_logs(decode.decode_event_batch(body), "grpc")
    full.accept_logs(expected, "grpc")
    assert fast.totals().equals(full.totals(), content=True)
    assert _snapshot(fast) == _snapshot(full)


def test_each_attribute_and_each_record_of_the_events_is_decoded_once(monkeypatch):
    monkeypatch.setattr(decode, "_pairs", decode._Pairs())
    records = []
    monkeypatch.setattr(
        decode, "_log_records", decode._Records(lambda b: records.append(b) or decode._log_record(b))
    )

    def refuse(*_):
        raise AssertionError("decoded in full")

    monkeypatch.setattr(decode, "_full_events", refuse)
    monkeypatch.setattr(decode, "decode_logs", refuse)
    decoded = []
    real = decode.KeyValue.FromString
    monkeypatch.setattr(
        decode, "KeyValue", type("K", (), {"FromString": lambda b: decoded.append(b) or real(b)})
    )
    request = logs_request(["user_prompt", "api_request", "api_request"])
    reception = Reception()
    for _ in range(5):
        reception.accept_logs(request.SerializeToString(), "grpc")
    assert len(decoded) == 3  # event.name twice, session.id once
    assert len(records) == 2  # the two api_request records are the same
    assert reception.totals().events == {"user_prompt": 5, "api_request": 10}


@pytest.mark.parametrize("pending", [20_000, 2])
def test_records_counted_by_what_they_carry_give_each_records_own_content(monkeypatch, pending):
    """Repeated records are added to their Content n at a time: the same content, counts and verdict
    details as one at a time, however the values' types mix (1, 1.0 and True compare equal)."""
    from claude_telemetry_cli.content import Content
    from claude_telemetry_cli.otlp.decode import EventBatch, content_key
    from claude_telemetry_cli.receiver.tally import Tally

    monkeypatch.setattr(Tally, "PENDING", pending)
    carried = [
        (("event.name", "api_request"), ("cost", 1)),
        (("event.name", "api_request"), ("cost", True)),
        (("event.name", "api_request"), ("cost", 1.0)),
        (("event.name", "api_request"), ("cost", "1")),
    ]
    arrivals = [carried[n % 4] for n in (0, 1, 0, 2, 3, 0, 1, 2, 2, 3, 0)]
    tally, seen = Tally(), set()
    for attributes in arrivals:
        again = attributes in seen  # as the decoder says of a record it has cached
        seen.add(attributes)
        entry = ("api_request", attributes, content_key("event", "api_request", attributes), again)
        tally.add_event_batch(EventBatch(events=[entry]))
    one_by_one = Content()
    for attributes in arrivals:
        one_by_one.add(attributes)
    got = tally.totals().content[("event", "api_request")]
    assert got == one_by_one
    assert got.attributes["cost"].types == one_by_one.attributes["cost"].types
    assert sorted(got.attributes["cost"].types.items()) == [
        ("bool", 2),
        ("double", 3),
        ("int", 4),
        ("string", 2),
    ]


# ------------------------------------------------------------------ spans


@st.composite
def spans(draw):
    attributes = draw(
        st.lists(st.tuples(st.sampled_from(["session.id", "tool_name", "span.type"]), values), max_size=4)
    )
    if draw(st.booleans()):
        attributes.append(("input", draw(st.text(min_size=200, max_size=400))))  # long: never kept
    span = Span(
        name=draw(st.sampled_from(["claude_code.interaction", "claude_code.tool", ""])),
        attributes=[KeyValue(key=k, value=_any(v)) for k, v in attributes],
        start_time_unix_nano=5,
        end_time_unix_nano=draw(st.sampled_from([6, 7])),
    )
    span.status.code = draw(st.sampled_from([0, 1, 2]))
    span.status.message = draw(st.sampled_from(["", "boom"]))
    return span


trace_requests = st.lists(st.lists(spans(), max_size=4), min_size=1, max_size=2).map(
    lambda groups: ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[KeyValue(key="service.name", value=_any(f"s{n}"))]),
                scope_spans=[ScopeSpans(spans=group)],
            )
            for n, group in enumerate(groups)
        ]
    )
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trace_requests, min_size=1, max_size=3))
def test_spans_are_counted_as_the_full_decoding_counts_them(sent):
    bodies = [r.SerializeToString() for r in sent] * 2  # the second time from the cache
    fast, full = Reception(), Reception(keep_decoded=True)
    for body in bodies:
        fast.accept_traces(body, "grpc")
        full.accept_traces(ExportTraceServiceRequest.FromString(body), "grpc")
    assert fast.totals().equals(full.totals(), content=True)
    assert fast.totals().content.keys() == full.totals().content.keys()
    assert _snapshot(fast) == _snapshot(full)


@settings(max_examples=300, deadline=None)
@given(
    trace_requests,
    st.integers(0, 10_000),
    st.sampled_from(["truncate", "flip", "insert"]),
    st.binary(max_size=4),
)
def test_any_traces_body_is_refused_or_counted_as_the_full_decoding_would(request, at, how, junk):
    body = _mutated(request.SerializeToString(), at, how, junk)
    try:
        expected = ExportTraceServiceRequest.FromString(body)
    except DecodeError as e:
        with pytest.raises(DecodeError) as refused:
            decode.decode_span_batch(body)
        assert str(refused.value) == str(e)
        return
    fast, full = Reception(), Reception(keep_decoded=True)
    fast.accept_traces(decode.decode_span_batch(body), "grpc")
    full.accept_traces(expected, "grpc")
    assert fast.totals().equals(full.totals(), content=True)
    assert _snapshot(fast) == _snapshot(full)
