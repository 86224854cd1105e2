"""OtlpServer over real loopback sockets: gRPC and HTTP (protobuf, JSON), errors, auth, TLS, concurrency."""

from __future__ import annotations

import dataclasses
import gzip
import http.client
import json
import socket
import ssl
import threading

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from claude_telemetry_cli.clock import RealClock
from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.receiver.reception import Reception
from claude_telemetry_cli.receiver.server import OtlpServer
from claude_telemetry_cli.records import Totals
from tests.support.certs import make_tls_files
from tests.support.misbehaving import stalled_grpc_calls

SESSION = "341c4ffb-b630-4199-bbaf-6fd758b7ac46"
BASE_ATTRS = (("user.id", "3eca54ac"), ("session.id", SESSION), ("terminal.type", "xterm"))
GRPC_METHODS = {
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
}
CONTENT_TYPES = {"http/protobuf": "application/x-protobuf", "http/json": "application/json"}


# ------------------------------------------------------------------ request builders


def _value(v) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=v)


def _attrs(pairs) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in pairs]


def metrics_request(points) -> metrics_service_pb2.ExportMetricsServiceRequest:
    """points: (name, attributes, value); an int value is sent as_int, a float as_double."""
    metrics = []
    for name, attributes, value in points:
        point = NumberDataPoint(attributes=_attrs(attributes), start_time_unix_nano=1, time_unix_nano=2)
        if isinstance(value, int):
            point.as_int = value
        else:
            point.as_double = value
        metrics.append(
            Metric(
                name=name,
                unit="tokens",
                sum=Sum(
                    data_points=[point],
                    aggregation_temporality=AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA,
                    is_monotonic=True,
                ),
            )
        )
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=Resource(attributes=_attrs([("service.name", "claude-code")])),
                scope_metrics=[
                    ScopeMetrics(
                        scope=InstrumentationScope(name="com.anthropic.claude_code"), metrics=metrics
                    )
                ],
            )
        ]
    )


def logs_request(names) -> logs_service_pb2.ExportLogsServiceRequest:
    records = [
        LogRecord(
            time_unix_nano=5,
            body=AnyValue(string_value=f"claude_code.{name}"),
            attributes=_attrs([("event.name", name), ("session.id", SESSION)]),
            trace_id=bytes(range(16)),
            span_id=bytes(range(8)),
        )
        for name in names
    ]
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])]
    )


def traces_request(n: int) -> trace_service_pb2.ExportTraceServiceRequest:
    spans = [
        Span(trace_id=bytes(range(16)), span_id=bytes([i] * 8), parent_span_id=bytes(8), name=f"s{i}")
        for i in range(1, n + 1)
    ]
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )


def otlp_json(request) -> bytes:
    """OTLP/JSON as the spec writes it: trace and span ids in hex, not protobuf-JSON's base64."""
    import base64

    data = MessageToDict(request)

    def fix(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("traceId", "spanId", "parentSpanId"):
                    node[k] = base64.b64decode(v).hex()
                else:
                    fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)

    fix(data)
    return json.dumps(data).encode()


def encode(request, protocol: str) -> bytes:
    return otlp_json(request) if protocol == "http/json" else request.SerializeToString()


POINTS = [
    ("claude_code.token.usage", (*BASE_ATTRS, ("model", "claude-opus"), ("type", "input")), 100),
    ("claude_code.token.usage", (*BASE_ATTRS, ("model", "claude-opus"), ("type", "output")), 50),
    ("claude_code.cost.usage", (*BASE_ATTRS, ("model", "claude-opus"), ("custom", True)), 0.0033),
    ("claude_code.lines_of_code.count", (*BASE_ATTRS, ("type", "added"), ("n", 7)), 12.5),
]
EVENTS = ["user_prompt", "api_request", "api_request", "tool_result"]


def expected_totals(points=POINTS, events=EVENTS, times: int = 1) -> Totals:
    t = Totals()
    for _ in range(times):
        for name, attributes, value in points:
            t.add_metric(name, attributes, float(value))
        for e in events:
            t.add_event(e)
    return t


# ------------------------------------------------------------------ clients


def http_post(
    server: OtlpServer,
    path: str,
    body: bytes,
    content_type: str | None = "application/x-protobuf",
    *,
    headers: dict | None = None,
    method: str = "POST",
    conn: http.client.HTTPConnection | None = None,
    context: ssl.SSLContext | None = None,
):
    own = conn is None
    if own:
        if context is not None:
            conn = http.client.HTTPSConnection("127.0.0.1", server.http_port, context=context, timeout=10)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    h = dict(headers or {})
    if content_type is not None:
        h["Content-Type"] = content_type
    try:
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        if own:
            conn.close()


def post_signal(server, signal: str, request, protocol: str, **kw):
    return http_post(server, f"/v1/{signal}", encode(request, protocol), CONTENT_TYPES[protocol], **kw)


def send(server, signal: str, request, protocol: str, *, channel=None, metadata=None) -> None:
    if protocol == "grpc":
        own = channel is None
        channel = channel or grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        try:
            channel.unary_unary(GRPC_METHODS[signal])(
                request.SerializeToString(), timeout=10, metadata=metadata
            )
        finally:
            if own:
                channel.close()
    else:
        status, _, body = post_signal(server, signal, request, protocol)
        assert status == 200, body


def grpc_raw(server, signal: str, body: bytes, **kw) -> grpc.RpcError | bytes:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        try:
            return channel.unary_unary(GRPC_METHODS[signal])(body, timeout=10, **kw)
        except grpc.RpcError as e:
            return e


def raw_http(server, data: bytes) -> bytes:
    """Send bytes as they are and read until the server closes."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def eventually(reception: Reception, predicate, timeout: float = 10.0) -> bool:
    """Whether `predicate()` holds within `timeout`, looked at again whenever the reception changes."""
    clock = RealClock()
    deadline = clock.now() + timeout
    generation = -1
    while not predicate():
        left = deadline - clock.now()
        if left <= 0:
            return False
        generation = reception.wait_for_change(generation, left, clock)
    return True


def still_serving(server: OtlpServer, reception: Reception) -> None:
    before = reception.totals().metrics.get(("ping", ()), 0.0)
    req = metrics_request([("ping", (), 1)])
    send(server, "metrics", req, "http/protobuf")
    send(server, "metrics", req, "grpc")
    assert reception.totals().metrics[("ping", ())] == before + 2


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def reception():
    return Reception()


@pytest.fixture
def start_server(reception):
    started: list[OtlpServer] = []

    def start(**kw) -> OtlpServer:
        kw.setdefault("grpc_port", 0)
        kw.setdefault("http_port", 0)
        server = OtlpServer(kw.pop("reception", reception), **kw).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(grace=0)


@pytest.fixture
def server(start_server):
    return start_server()


def counts_of(reception):
    """What arrived, counts and sums (what the events carried is checked where it matters)."""
    return dataclasses.replace(reception.totals(), content=None)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("certs"))


# ------------------------------------------------------------------ delivery


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_metrics_and_logs_arrive_with_exact_values(server, reception, protocol):
    send(server, "metrics", metrics_request(POINTS), protocol)
    send(server, "logs", logs_request(EVENTS), protocol)

    received = reception.totals()
    assert dataclasses.replace(received, content=None) == expected_totals()
    # What each event carried arrived too, whatever the protocol.
    events = {name: c.count for (kind, name), c in received.content.items() if kind == "event"}
    assert events == expected_totals().events
    # And the resource they were sent with: once per event, once per series.
    assert received.content[("resource", "logs")].count == 4
    assert received.content[("resource", "metrics")].count == len(expected_totals().metrics)
    assert reception.requests == {("metrics", protocol): 1, ("logs", protocol): 1}
    assert reception.errors == {}
    snap = reception.snapshot()
    assert snap["points"] == 4 and snap["events"] == 4 and snap["sessions"] == 1


def test_decoded_records_keep_types_and_ids(start_server, reception):
    reception.keep_decoded = True
    server = start_server()
    send(server, "metrics", metrics_request(POINTS[:1]), "http/json")
    send(server, "logs", logs_request(["user_prompt"]), "http/json")
    [point], [event] = reception.decoded()
    assert point.value == 100.0 and not point.is_double and point.temporality == "delta" and point.monotonic
    assert dict(point.attributes)["session.id"] == SESSION
    assert point.resource == (("service.name", "claude-code"),)
    assert event.name == "user_prompt" and event.time_ns == 5


def test_json_allows_int_enums_string_int64_and_numeric_int_values(server, reception):
    body = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "claude_code.token.usage",
                                "sum": {
                                    "aggregationTemporality": 1,  # DELTA, as a number
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "startTimeUnixNano": "1795557130700000000",
                                            "timeUnixNano": 1795557131695000000,
                                            "asInt": "42",
                                            "attributes": [{"key": "n", "value": {"intValue": 3}}],
                                        }
                                    ],
                                },
                                "someFutureField": {"x": 1},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    status, _, reply = http_post(server, "/v1/metrics", json.dumps(body).encode(), "application/json")
    assert (status, reply) == (200, b"{}")
    assert reception.totals().metrics == {("claude_code.token.usage", (("n", 3),)): 42.0}


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_traces_are_counted(server, reception, protocol):
    send(server, "traces", traces_request(3), protocol)
    assert reception.spans == 3
    assert reception.requests == {("traces", protocol): 1}


def test_json_trace_ids_must_be_hex(server, reception):
    data = json.loads(otlp_json(traces_request(1)))
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "not hex!"
    status, _, body = http_post(server, "/v1/traces", json.dumps(data).encode(), "application/json")
    assert status == 400
    assert "traceId is not a hex string" in json.loads(body)["message"]
    assert reception.errors == {("http/json", "invalid json"): 1}


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_successful_http_answer_is_an_empty_response_in_the_request_encoding(server, protocol):
    status, headers, body = post_signal(server, "logs", logs_request(["x"]), protocol)
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPES[protocol]
    assert body == (b"{}" if protocol == "http/json" else b"")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_opentelemetry_sdk_exporters_deliver(server, reception, protocol):
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        metric_exporter = OTLPMetricExporter(endpoint=server.grpc_endpoint, insecure=True)
        log_exporter = OTLPLogExporter(endpoint=server.grpc_endpoint, insecure=True)
    else:
        if protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        else:
            from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
            from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter
        metric_exporter = OTLPMetricExporter(endpoint=f"{server.http_endpoint}/v1/metrics")
        log_exporter = OTLPLogExporter(endpoint=f"{server.http_endpoint}/v1/logs")

    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=60_000)
    meters = MeterProvider(metric_readers=[reader])
    counter = meters.get_meter("com.anthropic.claude_code").create_counter("claude_code.token.usage")
    counter.add(100, {"type": "input", "session.id": SESSION})
    counter.add(25, {"type": "output", "session.id": SESSION})
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    logger = logs.get_logger("com.anthropic.claude_code.events")
    logger.emit(body="claude_code.user_prompt", attributes={"event.name": "user_prompt", "prompt_length": 12})
    meters.shutdown()
    logs.shutdown()

    totals = reception.totals()
    token = totals.metrics
    assert token[("claude_code.token.usage", (("session.id", SESSION), ("type", "input")))] == 100
    assert token[("claude_code.token.usage", (("session.id", SESSION), ("type", "output")))] == 25
    assert totals.events == {"user_prompt": 1}
    assert reception.errors == {}


# ------------------------------------------------------------------ compression


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_gzip_over_http(server, reception, protocol):
    body = gzip.compress(encode(metrics_request(POINTS), protocol))
    status, _, reply = http_post(
        server, "/v1/metrics", body, CONTENT_TYPES[protocol], headers={"Content-Encoding": "gzip"}
    )
    assert status == 200, reply
    assert counts_of(reception) == expected_totals(events=[])


def test_multi_member_gzip_over_http(server, reception):
    raw = metrics_request(POINTS).SerializeToString()
    body = gzip.compress(raw[:10]) + gzip.compress(raw[10:])
    status, _, _ = http_post(server, "/v1/metrics", body, headers={"Content-Encoding": "gzip"})
    assert status == 200
    assert counts_of(reception) == expected_totals(events=[])


def test_gzip_over_grpc(server, reception):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}", compression=grpc.Compression.Gzip) as ch:
        send(server, "metrics", metrics_request(POINTS), "grpc", channel=ch)
        send(server, "logs", logs_request(EVENTS), "grpc", channel=ch)
    assert counts_of(reception) == expected_totals()


# ------------------------------------------------------------------ HTTP refusals


def _check_status_body(content_type: str, body: bytes) -> str:
    if content_type == "application/x-protobuf":
        message = status_pb2.Status.FromString(body).message
    else:
        assert content_type == "application/json"
        message = json.loads(body)["message"]
    assert message and "\n" not in message
    return message


def _refusal(id_, path, content_type, headers, body, status, error):
    return pytest.param(path, content_type, headers, body, status, error, id=id_)


PB, JS = "application/x-protobuf", "application/json"
GZ = {"Content-Encoding": "gzip"}
HTTP_REFUSALS = [
    # id, path, content type, extra headers, body, status, (protocol, reason) counted
    _refusal("truncated protobuf", "/v1/metrics", PB, {}, metrics_request(POINTS).SerializeToString()[:-3],
             400, ("http/protobuf", "invalid protobuf")),
    _refusal("invalid json", "/v1/logs", JS, {}, b"{not json", 400, ("http/json", "invalid json")),
    _refusal("json array", "/v1/metrics", JS, {}, b"[1, 2]", 400, ("http/json", "invalid json")),
    _refusal("json wrong shape", "/v1/metrics", JS, {}, b'{"resourceMetrics": 5}', 400,
             ("http/json", "invalid json")),
    _refusal("json not utf-8", "/v1/metrics", JS, {}, b'{"a": "\xff"}', 400, ("http/json", "invalid json")),
    _refusal("gzip that is not gzip", "/v1/metrics", PB, GZ, b"plain bytes", 400,
             ("http/protobuf", "invalid gzip")),
    _refusal("truncated gzip", "/v1/metrics", PB, GZ, gzip.compress(b"x" * 100)[:-8], 400,
             ("http/protobuf", "invalid gzip")),
    _refusal("gzip bomb", "/v1/metrics", PB, GZ, gzip.compress(bytes(17 * 2**20)), 413,
             ("http/protobuf", "too large")),
    _refusal("another content type", "/v1/metrics", "text/plain", {}, b"hello", 415,
             ("http", "unsupported media type")),
    _refusal("no content type", "/v1/metrics", None, {}, b"hello", 415, ("http", "unsupported media type")),
    _refusal("another encoding", "/v1/metrics", PB, {"Content-Encoding": "br"}, b"x", 415,
             ("http/protobuf", "unsupported encoding")),
    _refusal("another path", "/v1/profiles", PB, {}, b"", 404, ("http/protobuf", "not found")),
    _refusal("root path", "/", JS, {}, b"{}", 404, ("http/json", "not found")),
    _refusal("bad content-length", "/v1/metrics", PB, {"Content-Length": "12abc"}, None, 400,
             ("http/protobuf", "invalid content-length")),
    _refusal("unicode digit content-length", "/v1/metrics", PB, {"Content-Length": "\xb2"}, None, 400,
             ("http/protobuf", "invalid content-length")),
]  # fmt: skip


@pytest.mark.parametrize("path,content_type,headers,body,status,error", HTTP_REFUSALS)
def test_http_refusals(server, reception, capfd, path, content_type, headers, body, status, error):
    got, reply_headers, reply = http_post(server, path, body, content_type, headers=headers)
    assert got == status
    _check_status_body(reply_headers["Content-Type"], reply)
    assert reception.errors == {error: 1}
    assert reception.requests == {}
    still_serving(server, reception)
    assert capfd.readouterr().err == ""


def test_http_wrong_method_is_405_with_allow(server, reception):
    for method in ("GET", "PUT", "DELETE", "FOO"):
        status, headers, body = http_post(server, "/v1/metrics", b"", None, method=method)
        assert status == 405 and headers["Allow"] == "POST"
        assert "use POST" in _check_status_body(headers["Content-Type"], body)
    status, headers, body = http_post(server, "/v1/metrics", None, None, method="HEAD")
    assert status == 405 and body == b""
    assert reception.errors == {("http", "method not allowed"): 5}
    still_serving(server, reception)


def test_http_too_large_is_refused_from_its_content_length_alone(start_server, reception):
    server = start_server(max_request_bytes=1000)
    # Announce 10 GB and send nothing: the answer must come from the headers, without reading a body.
    reply = raw_http(
        server,
        b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: 10000000000\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in reply
    # An actual body over the limit is refused too, and the client reads the answer, not a reset.
    status, headers, body = http_post(server, "/v1/logs", b"\0" * 200_000, "application/json")
    assert status == 413
    assert "200000 bytes, the limit is 1000" in _check_status_body(headers["Content-Type"], body)
    assert reception.errors == {("http/protobuf", "too large"): 1, ("http/json", "too large"): 1}
    still_serving(server, reception)


def test_http_missing_content_length_is_411(server, reception):
    for transfer in (b"", b"Transfer-Encoding: chunked\r\n"):
        reply = raw_http(
            server,
            b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            + transfer
            + b"\r\n"
            + (b"5\r\nhello\r\n0\r\n\r\n" if transfer else b""),
        )
        assert reply.startswith(b"HTTP/1.1 411 ")
    assert reception.errors == {("http/protobuf", "length required"): 2}
    still_serving(server, reception)


def test_malformed_http_is_counted_and_survived(server, reception, capfd):
    assert raw_http(server, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw_http(server, b"POST /v1/metrics HTTP/7.0\r\n\r\n").startswith(b"HTTP/1.1 505 ")
    assert raw_http(server, b"POST /v1/metrics HTTP/1.1\r\n" + b"X-Big: y\r\n" * 200 + b"\r\n").startswith(
        b"HTTP/1.1 431 "
    )
    with socket.create_connection(("127.0.0.1", server.http_port)) as s:  # a client that hangs up mid-body
        s.sendall(b"POST /v1/metrics HTTP/1.1\r\nContent-Type: application/x-protobuf\r\n")
        s.sendall(b"Content-Length: 100\r\n\r\nab")
    still_serving(server, reception)
    errors = dict(reception.errors)
    assert errors == {
        ("http", "malformed request"): 1,
        ("http", "unsupported http version"): 1,
        ("http", "headers too large"): 1,
        ("http/protobuf", "incomplete body"): 1,
    }
    assert capfd.readouterr().err == ""


def test_keep_alive_survives_refusals_after_the_body_is_read(server, reception):
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    first = None
    try:
        good = metrics_request([("a", (), 1)]).SerializeToString()
        for body, expected in [(good, 200), (b"\xff\xff", 400), (good, 200), (b"{", 400)]:
            ctype = "application/json" if body == b"{" else "application/x-protobuf"
            status, headers, _ = http_post(server, "/v1/metrics", body, ctype, conn=conn)
            assert status == expected and headers.get("Connection") != "close"
            first = first or conn.sock
            assert conn.sock is first  # one connection throughout
        # A refusal before the body is read closes the connection (after draining the body).
        status, headers, _ = http_post(server, "/v1/metrics", b"abc", "text/plain", conn=conn)
        assert status == 415 and headers["Connection"] == "close"
        assert conn.sock is None
    finally:
        conn.close()
    assert reception.totals().metrics == {("a", ()): 2.0}


# ------------------------------------------------------------------ gRPC refusals


def test_grpc_invalid_protobuf_is_invalid_argument(server, reception, capfd):
    for signal in ("metrics", "logs", "traces"):
        err = grpc_raw(server, signal, b"\xff\xff\xff")
        assert isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "invalid protobuf" in err.details()
    assert reception.errors == {("grpc", "invalid protobuf"): 3}
    still_serving(server, reception)
    assert capfd.readouterr().err == ""


def test_grpc_too_large_is_resource_exhausted(start_server, reception):
    server = start_server(max_request_bytes=1000)
    request = metrics_request([("a", (("k", "v" * 1200),), 1)])
    err = grpc_raw(server, "metrics", request.SerializeToString())
    assert isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reception.errors == {("grpc", "too large"): 1}
    # Far past the limit grpc itself refuses, before our handler: still answered and still counted.
    err = grpc_raw(server, "metrics", b"\x0a\x00" * 100_000)
    assert isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # (grpc answers before our handler counts.)
    assert eventually(reception, lambda: reception.errors[("grpc", "too large or cancelled")] == 1)
    # A gzip bomb is measured after decompression.
    err = grpc_raw(server, "metrics", b"\x0a\x00" * 100_000, compression=grpc.Compression.Gzip)
    assert isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert eventually(reception, lambda: reception.errors[("grpc", "too large or cancelled")] == 2)
    assert reception.requests == {}
    still_serving(server, reception)


def test_grpc_call_without_a_message_is_invalid_argument(server, reception):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        with pytest.raises(grpc.RpcError) as info:
            ch.stream_unary(GRPC_METHODS["logs"])(iter([]), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reception.errors == {("grpc", "no request message"): 1}


def test_grpc_calls_that_never_send_their_message_do_not_block_the_others(server, reception):
    with stalled_grpc_calls(server.grpc_port, 100):
        for _ in range(3):
            send(server, "logs", logs_request(["user_prompt"]), "grpc")
    assert reception.totals().events == {"user_prompt": 3}
    # Their client went away: each call ends, counted as one the client cancelled.
    assert eventually(reception, lambda: reception.errors == {("grpc", "too large or cancelled"): 100})


def test_a_grpc_call_whose_message_does_not_come_is_ended(start_server, reception):
    server = start_server(message_timeout_s=0.5)
    release = threading.Event()

    def never():
        release.wait(30)
        yield from ()

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        call = ch.stream_unary(GRPC_METHODS["logs"]).future(never(), timeout=30)
        try:
            with pytest.raises(grpc.RpcError) as info:
                call.result(timeout=20)
        finally:
            release.set()
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert info.value.details() == "no request message within 0.5s"
    assert reception.errors == {("grpc", "too slow"): 1}
    still_serving(server, reception)


def test_grpc_unknown_method_is_unimplemented(server, reception):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        with pytest.raises(grpc.RpcError) as info:
            ch.unary_unary("/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export")(
                b"", timeout=10
            )
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    still_serving(server, reception)


class _BrokenReception(Reception):
    def accept_metrics(self, request, protocol):
        raise KeyError("a bug")


def test_an_unexpected_failure_is_a_counted_internal_error_without_traceback(start_server, capfd):
    reception = _BrokenReception()
    server = start_server(reception=reception)
    request = metrics_request([("a", (), 1)])
    status, headers, body = post_signal(server, "metrics", request, "http/json")
    assert status == 500
    assert _check_status_body(headers["Content-Type"], body) == "internal error: KeyError"
    with pytest.raises(grpc.RpcError) as info:
        send(server, "metrics", request, "grpc")
    assert info.value.code() == grpc.StatusCode.INTERNAL
    send(server, "logs", logs_request(["user_prompt"]), "grpc")
    send(server, "logs", logs_request(["user_prompt"]), "http/protobuf")
    assert reception.errors == {("http/json", "internal error"): 1, ("grpc", "internal error"): 1}
    assert reception.totals().events == {"user_prompt": 2}
    assert capfd.readouterr().err == ""


# ------------------------------------------------------------------ required headers


SECRET = "Bearer s3cr3t-t0ken"


def test_http_required_header(start_server, reception):
    server = start_server(require_headers=[("Authorization", SECRET), ("X-Team", "platform")])
    body = metrics_request([("a", (), 1)]).SerializeToString()
    cases = [
        ({}, 401),
        ({"Authorization": SECRET}, 401),
        ({"Authorization": "Bearer wrong", "X-Team": "platform"}, 401),
        ({"authorization": SECRET.lower(), "x-team": "platform"}, 401),  # values are exact
        ({"authorization": SECRET, "x-team": "platform"}, 200),  # names are not
    ]
    for headers, expected in cases:
        status, reply_headers, reply = http_post(server, "/v1/metrics", body, headers=headers)
        assert status == expected
        if status == 401:
            assert SECRET.encode() not in reply and b"s3cr3t" not in reply
            _check_status_body(reply_headers["Content-Type"], reply)
    assert reception.errors == {("http/protobuf", "unauthenticated"): 4}
    assert reception.totals().metrics == {("a", ()): 1.0}


def test_grpc_required_header(start_server, reception):
    server = start_server(require_headers=[("Authorization", SECRET)])
    request = metrics_request([("a", (), 1)])
    for metadata in (None, (("authorization", "Bearer wrong"),)):
        with pytest.raises(grpc.RpcError) as info:
            send(server, "metrics", request, "grpc", metadata=metadata)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "s3cr3t" not in info.value.details()
    send(server, "metrics", request, "grpc", metadata=(("authorization", SECRET),))
    assert reception.errors == {("grpc", "unauthenticated"): 2}
    assert reception.totals().metrics == {("a", ()): 1.0}


# ------------------------------------------------------------------ TLS


def _https_context(tls, client_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(tls.ca_cert))
    if client_cert:
        ctx.load_cert_chain(tls.client_cert, tls.client_key)
    return ctx


def _grpc_tls_channel(server, tls, client_cert: bool):
    creds = grpc.ssl_channel_credentials(
        root_certificates=tls.ca_cert.read_bytes(),
        private_key=tls.client_key.read_bytes() if client_cert else None,
        certificate_chain=tls.client_cert.read_bytes() if client_cert else None,
    )
    return grpc.secure_channel(f"127.0.0.1:{server.grpc_port}", creds)


def test_tls(start_server, reception, tls):
    server = start_server(tls_cert=tls.server_cert, tls_key=tls.server_key)
    assert server.grpc_endpoint == f"https://127.0.0.1:{server.grpc_port}"
    assert server.http_endpoint == f"https://127.0.0.1:{server.http_port}"
    with _grpc_tls_channel(server, tls, client_cert=False) as ch:
        send(server, "metrics", metrics_request([("a", (), 1)]), "grpc", channel=ch)
    status, _, _ = post_signal(
        server, "metrics", metrics_request([("a", (), 2)]), "http/json", context=_https_context(tls, False)
    )
    assert status == 200
    assert reception.totals().metrics == {("a", ()): 3.0}
    # Plain HTTP to a TLS port gets no OTLP answer.
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        post_signal(server, "metrics", metrics_request([("a", (), 5)]), "http/protobuf")
    assert reception.totals().metrics == {("a", ()): 3.0}


def test_mtls_requires_a_client_certificate(start_server, reception, tls):
    server = start_server(tls_cert=tls.server_cert, tls_key=tls.server_key, client_ca=tls.ca_cert)
    request = metrics_request([("a", (), 1)])
    with _grpc_tls_channel(server, tls, client_cert=True) as ch:
        send(server, "metrics", request, "grpc", channel=ch)
    status, _, _ = post_signal(server, "metrics", request, "http/protobuf", context=_https_context(tls, True))
    assert status == 200

    with _grpc_tls_channel(server, tls, client_cert=False) as ch:
        with pytest.raises(grpc.RpcError) as info:
            ch.unary_unary(GRPC_METHODS["metrics"])(request.SerializeToString(), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException, OSError)):
        post_signal(server, "metrics", request, "http/protobuf", context=_https_context(tls, False))
    assert reception.totals().metrics == {("a", ()): 2.0}
    still = metrics_request([("b", (), 1)])
    with _grpc_tls_channel(server, tls, client_cert=True) as ch:
        send(server, "metrics", still, "grpc", channel=ch)
    assert reception.totals().metrics[("b", ())] == 1.0


@pytest.mark.parametrize(
    "option,kwargs",
    [
        ("--tls-cert", lambda tls, missing: {"tls_cert": missing, "tls_key": tls.server_key}),
        ("--tls-key", lambda tls, missing: {"tls_cert": tls.server_cert, "tls_key": missing}),
        (
            "--client-ca",
            lambda tls, missing: {
                "tls_cert": tls.server_cert,
                "tls_key": tls.server_key,
                "client_ca": missing,
            },
        ),
    ],
)
def test_missing_tls_file_is_a_config_error_naming_the_option(reception, tls, tmp_path, option, kwargs):
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError) as info:
        OtlpServer(reception, grpc_port=0, http_port=0, **kwargs(tls, missing)).start()
    assert info.value.message == f"{option}: file not found: {missing}"


def test_unusable_tls_files_are_config_errors(reception, tls, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"^--tls-cert: .* not a PEM certificate and its key"):
        OtlpServer(reception, grpc_port=0, http_port=0, tls_cert=garbage, tls_key=tls.server_key).start()
    with pytest.raises(ConfigError, match=r"^--client-ca: not a PEM CA certificate"):
        OtlpServer(
            reception,
            grpc_port=0,
            http_port=0,
            tls_cert=tls.server_cert,
            tls_key=tls.server_key,
            client_ca=garbage,
        ).start()
    with pytest.raises(ConfigError, match=r"^--tls-key: required with --tls-cert"):
        OtlpServer(reception, tls_cert=tls.server_cert)
    with pytest.raises(ConfigError, match=r"^--client-ca: requires --tls-cert"):
        OtlpServer(reception, client_ca=tls.ca_cert)


# ------------------------------------------------------------------ concurrency


def test_concurrent_senders_mixed_protocols_give_an_exact_tally(server, reception):
    threads, per_thread = 8, 50
    protocols = ("grpc", "http/protobuf", "http/json")
    # Integral values: the sum is exact in any arrival order.
    points = [
        ("claude_code.token.usage", (*BASE_ATTRS, ("type", "input")), 1000),
        ("claude_code.token.usage", (*BASE_ATTRS, ("type", "output")), 3.0),
        ("claude_code.cost.usage", BASE_ATTRS, 0.5),
    ]
    events = ["api_request", "tool_result"]
    failures: list[BaseException] = []

    def sender(t: int) -> None:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
        try:
            for i in range(per_thread):
                protocol = protocols[(t + i) % 3]
                signal, request = (
                    ("metrics", metrics_request(points)) if i % 2 else ("logs", logs_request(events))
                )
                if protocol == "grpc":
                    send(server, signal, request, protocol, channel=channel)
                else:
                    status, _, body = post_signal(server, signal, request, protocol, conn=conn)
                    assert status == 200, body
        except BaseException as e:  # surfaced by the main thread
            failures.append(e)
        finally:
            channel.close()
            conn.close()

    workers = [threading.Thread(target=sender, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not failures, failures[0]

    total = threads * per_thread
    assert counts_of(reception) == expected_totals(points, events, times=total // 2)
    assert sum(reception.requests.values()) == total
    expected_requests: dict = {}
    for t in range(threads):
        for i in range(per_thread):
            key = ("metrics" if i % 2 else "logs", protocols[(t + i) % 3])
            expected_requests[key] = expected_requests.get(key, 0) + 1
    assert dict(reception.requests) == expected_requests
    assert reception.errors == {}


# ------------------------------------------------------------------ binding and life cycle


@pytest.mark.parametrize("which", ["grpc", "http"])
def test_port_already_in_use_is_a_config_error(reception, which):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        kw = {"grpc_port": 0, "http_port": 0, f"{which}_port": port}
        server = OtlpServer(reception, **kw)
        with pytest.raises(ConfigError) as info:
            server.start()
    assert info.value.message == f"cannot listen on 127.0.0.1:{port}: address already in use"
    assert server.grpc_port is None and server.http_port is None


def test_a_second_receiver_cannot_share_a_port(start_server, reception):
    first = start_server()
    with pytest.raises(ConfigError, match="address already in use"):
        OtlpServer(Reception(), grpc_port=first.grpc_port, http_port=0).start()


def test_only_the_transports_asked_for(start_server):
    only_http = start_server(grpc=False)
    assert only_http.grpc_port is None and only_http.grpc_endpoint is None
    assert only_http.http_endpoint == f"http://127.0.0.1:{only_http.http_port}"
    only_grpc = start_server(http=False)
    assert (
        only_grpc.http_port is None and only_grpc.grpc_endpoint == f"http://127.0.0.1:{only_grpc.grpc_port}"
    )


def test_stop_releases_the_ports_and_closes_idle_connections(reception):
    server = OtlpServer(reception, grpc_port=0, http_port=0).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=5)
    status, _, _ = http_post(
        server, "/v1/metrics", metrics_request([("a", (), 1)]).SerializeToString(), conn=conn
    )
    assert status == 200
    server.stop()
    server.stop()  # twice is harmless
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        http_post(server, "/v1/metrics", b"", conn=conn)
    conn.close()
    for port in (server.grpc_port, server.http_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0


# ------------------------------------------------------------------ slow clients


def _trickle(sock: socket.socket, data: bytes, give_up_s: float = 30.0) -> bytes | None:
    """Send `data` a byte at a time, then newlines, until the server closes; what it answered, or None
    if it still had not closed after `give_up_s`."""
    sock.settimeout(0.05)
    answer, sent = b"", 0
    deadline = RealClock().now() + give_up_s
    while RealClock().now() < deadline:
        try:
            sock.sendall(data[sent : sent + 1] or b"\n")
            sent += 1
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return answer
        if not chunk:
            return answer
        answer += chunk
    return None


@pytest.mark.parametrize("part", ["headers", "body"])
def test_an_http_request_trickled_in_is_ended_at_its_deadline(start_server, reception, part):
    server = start_server(message_timeout_s=1.0)
    body = logs_request(["user_prompt"]).SerializeToString()
    head = (
        f"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        f"Content-Length: {len(body) + 10_000}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        if part == "headers":
            answer = _trickle(sock, head)
        else:
            sock.sendall(head + body)
            answer = _trickle(sock, b"")
    assert answer is not None, "the server never closed the connection"
    if part == "headers":
        assert answer == b""  # nothing to answer: the request was never whole
        assert reception.errors == {("http", "too slow"): 1}
    else:
        assert answer.startswith(b"HTTP/1.1 408 ") and b"request not complete within 1s" in answer
        assert reception.errors == {("http/protobuf", "too slow"): 1}
    still_serving(server, reception)


# ------------------------------------------------------------------ memory held at once


def _held_within(server: OtlpServer, at_least: int, timeout: float = 10.0) -> bool:
    clock = RealClock()
    deadline = clock.now() + timeout
    while server._in_flight_bytes.held < at_least:
        if clock.now() > deadline:
            return False
        clock.sleep(0.01)
    return True


def _partial_body(server: OtlpServer, length: int, sent: int) -> socket.socket:
    """A connection whose request has sent `sent` bytes of a `length`-byte body, and waits."""
    sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
    head = (
        f"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    sock.sendall(head + b"\x0a\x00" * (sent // 2))
    assert _held_within(server, sent)
    return sock


def test_bodies_past_the_in_flight_limit_are_refused_for_a_retry(start_server, reception):
    server = start_server(max_request_bytes=200_000, max_in_flight_bytes=300_000)
    holder = _partial_body(server, 200_000, 180_000)
    request = logs_request(["user_prompt"] * 1000)  # 150 kB: more than the 120 kB left
    status, headers, body = post_signal(server, "logs", request, "http/protobuf")
    assert status == 429 and headers["Retry-After"] == "1"
    assert _check_status_body(headers["Content-Type"], body).startswith("busy: more than 300000 bytes")
    err = grpc_raw(server, "logs", request.SerializeToString())
    assert isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # RetryInfo: what tells a sender this RESOURCE_EXHAUSTED, unlike "too large", is worth retrying.
    assert "google.rpc.retryinfo-bin" in dict(err.trailing_metadata())
    # The held body completes and is counted; then there is room again.
    holder.sendall(b"\x0a\x00" * 10_000)
    assert raw_response(holder).startswith(b"HTTP/1.1 200 ")
    holder.close()
    send(server, "logs", request, "http/protobuf")
    send(server, "logs", request, "grpc")
    assert reception.errors == {("http/protobuf", "busy"): 1, ("grpc", "busy"): 1}
    assert reception.totals().events == {"user_prompt": 2000}
    assert server._in_flight_bytes.held == 0


def raw_response(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    return sock.recv(65536)


def test_a_gzip_body_counts_what_it_inflates_to(start_server, reception):
    server = start_server(max_request_bytes=200_000, max_in_flight_bytes=300_000)
    holder = _partial_body(server, 200_000, 180_000)
    squeezed = gzip.compress(logs_request(["user_prompt"] * 1000).SerializeToString())
    assert len(squeezed) < 120_000  # it would fit as sent, not once inflated
    status, _, _ = http_post(server, "/v1/logs", squeezed, headers={"Content-Encoding": "gzip"})
    assert status == 429
    holder.close()
    assert reception.errors[("http/protobuf", "busy")] == 1


def test_many_tiny_gzip_members_inflate_in_time_proportional_to_the_body(server, reception):
    member = gzip.compress(metrics_request([("m", (), 1)]).SerializeToString(), mtime=0)
    body = member * (8_000_000 // len(member))
    clock = RealClock()
    began = clock.now()
    status, _, reply = http_post(server, "/v1/metrics", body, headers={"Content-Encoding": "gzip"})
    # Copying the rest of the body once per member took minutes; a linear pass, a second or two.
    assert clock.now() - began < 20
    assert status == 200, reply
    assert reception.totals().metrics == {("m", ()): float(8_000_000 // len(member))}


def _loop_tasks(server: OtlpServer) -> int:
    """How many tasks the server's gRPC event loop runs: one more for each call being handled."""
    import asyncio

    async def count() -> int:
        return len(asyncio.all_tasks()) - 1  # not this one

    return asyncio.run_coroutine_threadsafe(count(), server._grpc_loop).result(10)


def test_a_grpc_request_whose_sender_gave_up_while_it_waited_its_turn_is_not_counted(server, reception):
    request = logs_request(["user_prompt"] * 1000)  # past what is decoded on the loop at once
    idle = _loop_tasks(server)
    turn = server._decode_turns.turn(server.max_request_bytes)
    turn.__enter__()  # every turn taken: the request waits
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
            with pytest.raises(grpc.RpcError) as info:
                ch.unary_unary(GRPC_METHODS["logs"])(request.SerializeToString(), timeout=1)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        clock = RealClock()
        deadline = clock.now() + 10
        while _loop_tasks(server) > idle and clock.now() < deadline:
            clock.sleep(0.01)  # until the server, too, has ended the call
    finally:
        turn.__exit__(None, None, None)
    # The sender sends it again; counting this one too would count it twice.
    assert eventually(reception, lambda: reception.errors == {("grpc", "too large or cancelled"): 1})
    assert reception.requests == {}
    send(server, "logs", request, "grpc")
    assert reception.totals().events == {"user_prompt": 1000}
