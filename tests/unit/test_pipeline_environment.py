"""The SDK path sends what settings resolved, whatever OTEL_* variables the process environment holds:
the official exporters and providers would otherwise read endpoints, headers, compression, timeouts,
limits, samplers and switches from os.environ themselves."""

from __future__ import annotations

import base64
import json
import os
import urllib.request
from collections import Counter

import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from claude_telemetry_cli.clock import InstantClock
from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.otlp.decode import decode_logs, decode_metrics, decode_traces
from claude_telemetry_cli.otlp.json_lines import json_objects
from claude_telemetry_cli.pipeline import PipelineFactory
from claude_telemetry_cli.records import EVENT
from claude_telemetry_cli.replay import replay
from claude_telemetry_cli.scenario import compile_scenario, load_scenario, resolve_scenario
from claude_telemetry_cli.scenario.spans import derive_spans
from claude_telemetry_cli.settings import load_config
from tests.support.https_sink import HttpsSink
from tests.support.otlp_sink import OtlpSink

# OTEL_* variables the official exporters and providers read, each set unlike what settings resolved.
NOWHERE = "http://127.0.0.1:9"
HOSTILE = {
    "OTEL_SDK_DISABLED": "true",
    "OTEL_TRACES_SAMPLER": "always_off",
    "OTEL_ATTRIBUTE_COUNT_LIMIT": "1",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "2",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "1",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "2",
    "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT": "1",
    "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT": "2",
    "OTEL_METRICS_EXEMPLAR_FILTER": "always_on",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative",
    "OTEL_EXPORTER_OTLP_ENDPOINT": NOWHERE,
    "OTEL_EXPORTER_OTLP_HEADERS": "x-leaked=env",
    "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "0.000001",
    "OTEL_EXPORTER_OTLP_INSECURE": "false",
    "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/nonexistent/client.key",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/nonexistent/client.pem",
    **{
        f"OTEL_EXPORTER_OTLP_{signal}_{suffix}": value
        for signal in ("METRICS", "LOGS", "TRACES")
        for suffix, value in (
            ("ENDPOINT", f"{NOWHERE}/v1/{signal.lower()}"),
            ("HEADERS", f"x-leaked-{signal.lower()}=env"),
            ("COMPRESSION", "gzip"),
            ("TIMEOUT", "0.000001"),
            ("INSECURE", "false"),
            ("CERTIFICATE", "/nonexistent/ca.pem"),
        )
    },
}
_REQUESTS = {
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
    "traces": ExportTraceServiceRequest,
}


@pytest.fixture
def hostile_environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in list(os.environ):
        if key.startswith("OTEL_"):
            monkeypatch.delenv(key)
    for key, value in HOSTILE.items():
        monkeypatch.setenv(key, value)
    return HOSTILE


def _resolved(protocol: str, endpoint: str, tmp_path, **extra: str):
    environ = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer resolved",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
        **extra,
    }
    return load_config(environ=environ, home=tmp_path, cwd=tmp_path, managed_path=tmp_path / "managed.json")


def _replayed(config, *, scrape: bool = False):
    scenario = load_scenario(resolve_scenario("quickstart"))
    timeline = derive_spans(compile_scenario(scenario, config.emit), seed=scenario.seed)
    factory = PipelineFactory(config, get_profile(config.profile), concurrency=0)
    try:
        result = replay(timeline, factory, InstantClock(), metric_interval_s=60, logs_interval_s=5)
        scraped = urllib.request.urlopen(factory.prometheus.url).read().decode() if scrape else ""
    finally:
        factory.close()
    assert not result.export_failed, [s.last_error for s in factory.stats]
    return timeline, scraped


def _assert_sent_as_resolved(timeline, points, events, spans) -> None:
    assert points and {p.temporality for p in points} == {"delta"}
    expected_events = [r for r in timeline.records if r.signal == EVENT]
    assert len(events) == len(expected_events)
    # Every attribute arrives whole: no count or length limit from the environment applied.
    got = Counter((e.name, len(e.attributes), max(len(str(v)) for _, v in e.attributes)) for e in events)
    want = Counter(
        (r.name, len(r.attributes) + 1, max(len(str(v)) for _, v in (*r.attributes, ("", "x" * 24))))
        for r in expected_events
    )
    assert got == want
    assert sorted(s.name for s in spans) == sorted(s.name for s in timeline.spans)
    assert {len(s.attributes) for s in spans} != {1}


def test_grpc_exporters_send_only_the_resolved_destination_headers_and_data(hostile_environment, tmp_path):
    sink = OtlpSink().start()
    try:
        config = _resolved("grpc", sink.endpoint, tmp_path)
        timeline, _ = _replayed(config)
    finally:
        sink.stop()

    assert _otel_variables() == hostile_environment
    points = sink.points()
    assert all(len(p.exemplars) == 0 for r in sink.metric_requests for p in _data_points(r))
    _assert_sent_as_resolved(timeline, points, sink.events(), sink.spans())
    for metadata in sink.metadata:
        assert metadata["authorization"] == "Bearer resolved"
        assert not [key for key in metadata if key.startswith("x-leaked")]
        assert metadata.get("grpc-encoding", "identity") == "identity"


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_http_exporters_send_only_the_resolved_destination_headers_and_data(
    hostile_environment, tmp_path, protocol
):
    sink = HttpsSink().start()
    try:
        config = _resolved(protocol, sink.endpoint, tmp_path)
        timeline, _ = _replayed(config)
    finally:
        sink.stop()

    assert _otel_variables() == hostile_environment
    decoded: dict[str, list] = {"metrics": [], "logs": [], "traces": []}
    for (path, content_type, body), headers in zip(sink.requests, sink.headers, strict=True):
        assert headers["authorization"] == "Bearer resolved"
        assert not [key for key in headers if key.startswith("x-leaked")]
        assert "content-encoding" not in headers
        assert content_type == ("application/json" if protocol == "http/json" else "application/x-protobuf")
        signal = path.removeprefix("/v1/")
        decoded[signal].append(_request(signal, body, json_body=protocol == "http/json"))
    assert all(len(p.exemplars) == 0 for r in decoded["metrics"] for p in _data_points(r))
    _assert_sent_as_resolved(
        timeline,
        [p for r in decoded["metrics"] for p in decode_metrics(r)],
        [e for r in decoded["logs"] for e in decode_logs(r)],
        [s for r in decoded["traces"] for s in decode_traces(r)],
    )


def test_http_json_writes_attribute_values_as_claude_code_does(hostile_environment, tmp_path):
    sink = HttpsSink().start()
    try:
        _replayed(_resolved("http/json", sink.endpoint, tmp_path))
    finally:
        sink.stop()

    values = [
        node["value"]
        for _, _, body in sink.requests
        for node in json_objects(json.loads(body))
        if isinstance(node.get("value"), dict) and "key" in node
    ]
    ints = [v["intValue"] for v in values if "intValue" in v]
    arrays = [v["arrayValue"] for v in values if "arrayValue" in v]
    # A plain JSON number, not the string proto3 JSON allows; an empty array written out in full.
    assert ints and all(type(i) is int for i in ints)
    assert arrays and all("values" in a for a in arrays)
    assert {"values": []} in arrays


def test_the_prometheus_endpoint_serves_while_the_environment_disables_the_sdk(hostile_environment, tmp_path):
    sink = OtlpSink().start()
    try:
        config = _resolved(
            "grpc",
            sink.endpoint,
            tmp_path,
            OTEL_METRICS_EXPORTER="otlp,prometheus",
            OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
            OTEL_EXPORTER_PROMETHEUS_PORT="0",
        )
        _, scraped = _replayed(config, scrape=True)
    finally:
        sink.stop()

    assert "claude_code_session_count_total{" in scraped


def _otel_variables() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith("OTEL_")}


def _request(signal: str, body: bytes, *, json_body: bool):
    if not json_body:
        return _REQUESTS[signal].FromString(body)
    data = json.loads(body)
    for node in json_objects(data):
        for key in ("traceId", "spanId", "parentSpanId"):
            if isinstance(node.get(key), str):
                node[key] = base64.b64encode(bytes.fromhex(node[key])).decode()
    return ParseDict(data, _REQUESTS[signal](), ignore_unknown_fields=True)


def _data_points(request: ExportMetricsServiceRequest):
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                yield from m.sum.data_points
