"""Random and mutated bodies over gRPC and HTTP: the OtlpServer never dies and tallies only what decodes."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import math
import socket

import grpc
import pytest
from google.protobuf.json_format import ParseDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_telemetry_cli.otlp.decode import decode_logs, decode_metrics
from claude_telemetry_cli.receiver.reception import Reception
from claude_telemetry_cli.receiver.server import OtlpServer
from claude_telemetry_cli.receiver.tally import Tally
from tests.unit.test_receiver_server import BASE_ATTRS, GRPC_METHODS, logs_request, metrics_request, otlp_json

pytestmark = pytest.mark.integration

MAX_BYTES = 64 * 1024
REQUEST_TYPES = {
    "metrics": type(metrics_request([])),
    "logs": type(logs_request([])),
}
CONTENT_TYPES = {"http/protobuf": "application/x-protobuf", "http/json": "application/json"}


@pytest.fixture(scope="module")
def served():
    reception = Reception()
    server = OtlpServer(reception, grpc_port=0, http_port=0, max_request_bytes=MAX_BYTES).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield server, reception, channel
    channel.close()
    server.stop(grace=0)


# ------------------------------------------------------------------ what is sent

signals = st.sampled_from(["metrics", "logs"])
points = st.lists(
    st.tuples(
        st.sampled_from(["claude_code.token.usage", "claude_code.cost.usage", "claude_code.session.count"]),
        st.sampled_from(["input", "output", "cacheRead"]),
        st.integers(0, 10**6) | st.floats(0, 1e6, allow_nan=False).map(lambda f: round(f, 3)),
    ),
    min_size=1,
    max_size=5,
)
events = st.lists(st.sampled_from(["user_prompt", "api_request", "tool_result"]), min_size=1, max_size=5)


@st.composite
def valid_requests(draw, signal: str | None = None):
    signal = signal or draw(signals)
    if signal == "metrics":
        request = metrics_request([(n, (*BASE_ATTRS, ("type", t)), v) for n, t, v in draw(points)])
    else:
        request = logs_request(draw(events))
    return signal, request


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=10,
)


@st.composite
def mutated_json(draw, request) -> bytes:
    """A valid OTLP/JSON body with one node somewhere replaced by a random JSON value."""
    data = json.loads(otlp_json(request))
    node = data
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        if isinstance(node[key], (dict, list)) and node[key] and draw(st.booleans()):
            node = node[key]
            continue
        node[key] = draw(json_values)
        break
    return json.dumps(data).encode()


@st.composite
def mutated_protobuf(draw, request) -> bytes:
    raw = bytearray(request.SerializeToString())
    at = draw(st.integers(0, len(raw)))
    how = draw(st.sampled_from(["truncate", "flip", "insert"]))
    if how == "truncate":
        return bytes(raw[:at])
    if how == "flip" and at < len(raw):
        raw[at] = draw(st.integers(0, 255))
        return bytes(raw)
    return bytes(raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:])


@st.composite
def junk(draw):
    transport = draw(st.sampled_from(["grpc", "http/protobuf", "http/json", "http/gzip", "raw socket"]))
    signal, request = draw(valid_requests())
    if transport == "raw socket":
        return transport, signal, draw(st.binary(max_size=300))
    if transport == "http/json":
        body = draw(st.binary(max_size=300) | mutated_json(request))
    elif transport == "http/gzip":
        body = draw(st.binary(max_size=300) | st.binary(max_size=300).map(gzip.compress))
    else:
        body = draw(st.binary(max_size=300) | mutated_protobuf(request))
    return transport, signal, body


protocols = st.sampled_from(["grpc", "http/protobuf", "http/json"])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("valid"), protocols, valid_requests()).map(lambda v: (v[0], v[1], *v[2])),
        junk().map(lambda j: ("junk", *j)),
    ),
    min_size=1,
    max_size=8,
)


# ------------------------------------------------------------------ what the server should make of it


def reference_decode(signal: str, body: bytes, encoding: str):
    """Our own reading of a body, independent of the server's code: the request, or None if refused."""
    try:
        if encoding == "gzip":
            body = gzip.decompress(body)
        if encoding == "json":
            data = json.loads(body)

            def hex_to_base64(node):
                if isinstance(node, dict):
                    for k, v in node.items():
                        if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                            node[k] = base64.b64encode(bytes.fromhex(v)).decode()
                        else:
                            hex_to_base64(v)
                elif isinstance(node, list):
                    for v in node:
                        hex_to_base64(v)

            hex_to_base64(data)
            return ParseDict(data, REQUEST_TYPES[signal](), ignore_unknown_fields=True)
        return REQUEST_TYPES[signal].FromString(body)
    except Exception:
        return None


def add(tally: Tally, signal: str, request) -> None:
    if signal == "metrics":
        tally.add_points(decode_metrics(request))
    else:
        tally.add_events(decode_logs(request))


def same_totals(a, b) -> bool:
    def same(x, y):
        return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))

    return (
        a.events == b.events
        and a.metrics.keys() == b.metrics.keys()
        and all(same(v, b.metrics[k]) for k, v in a.metrics.items())
    )


# ------------------------------------------------------------------ senders


def post(server, signal: str, body: bytes, protocol: str, gzipped: bool = False) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    headers = {"Content-Type": CONTENT_TYPES[protocol]}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    try:
        conn.request("POST", f"/v1/{signal}", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def grpc_send(channel, signal: str, body: bytes) -> grpc.StatusCode:
    # Identity serializers: the bytes go on the wire exactly as drawn.
    call = channel.unary_unary(GRPC_METHODS[signal], request_serializer=None, response_deserializer=None)
    try:
        call(body, timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def raw_send(server, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        while s.recv(65536):
            pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_random_bodies_never_kill_the_server_and_only_decodable_ones_count(served, ops):
    server, reception, channel = served
    reception.reset()
    expected, requests, refused = Tally(), {}, 0

    for kind, transport, signal, body_or_request in ops:
        if kind == "valid":
            protocol = transport
            body = (
                otlp_json(body_or_request) if protocol == "http/json" else body_or_request.SerializeToString()
            )
            if protocol == "grpc":
                assert grpc_send(channel, signal, body) == grpc.StatusCode.OK
            else:
                assert post(server, signal, body, protocol) == 200
            add(expected, signal, body_or_request)
            requests[signal, protocol] = requests.get((signal, protocol), 0) + 1
            continue

        body = body_or_request
        if transport == "raw socket":
            raw_send(server, body)
            continue
        protocol = {"http/gzip": "http/protobuf"}.get(transport, transport)
        encoding = {"http/json": "json", "http/gzip": "gzip"}.get(transport, "protobuf")
        decoded = reference_decode(signal, body, encoding)
        if transport == "grpc":
            code = grpc_send(channel, signal, body)
            assert code == (grpc.StatusCode.OK if decoded is not None else grpc.StatusCode.INVALID_ARGUMENT)
        else:
            status = post(server, signal, body, protocol, gzipped=transport == "http/gzip")
            assert status == (200 if decoded is not None else 400), (transport, body)
        if decoded is None:
            refused += 1
        else:
            add(expected, signal, decoded)
            requests[signal, protocol] = requests.get((signal, protocol), 0) + 1

    assert same_totals(reception.totals(), expected.totals())
    assert dict(reception.requests) == requests
    # Raw socket junk is counted under "http" (malformed requests); every refused body under its protocol.
    assert sum(n for (protocol, _), n in reception.errors.items() if protocol != "http") == refused
    assert grpc_send(channel, "logs", b"") == grpc.StatusCode.OK
    assert post(server, "logs", b"", "http/protobuf") == 200
