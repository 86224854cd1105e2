"""The load path encodes OTLP itself; what it sends must be what the SDK path (`run`) sends for the same
activity: the same resource, scopes, metric names, descriptions, units, temporality, attributes and values,
the same event bodies and attributes."""

from __future__ import annotations

from collections import Counter

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from claude_telemetry_cli.clock import InstantClock, VirtualClock
from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.load.activity import Template
from claude_telemetry_cli.load.engine import FleetEngine
from claude_telemetry_cli.otlp.decode import any_value
from claude_telemetry_cli.otlp.encode import OtlpEncoder
from claude_telemetry_cli.pipeline import PipelineFactory
from claude_telemetry_cli.replay import replay
from claude_telemetry_cli.scenario import compile_scenario, load_scenario, resolve_scenario
from claude_telemetry_cli.scenario.spans import derive_spans
from claude_telemetry_cli.settings import load_config
from tests.support.otlp_sink import OtlpSink

METRIC_INTERVAL_S = 60.0
LOGS_INTERVAL_S = 5.0


def _attrs(kvs, drop=()) -> tuple:
    return tuple((kv.key, any_value(kv.value)) for kv in kvs if kv.key not in drop)


def _metric_points(requests) -> Counter:
    """Every data point with everything about it but its timestamps."""
    out: Counter = Counter()
    for request in requests:
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    assert m.WhichOneof("data") == "sum"
                    for p in m.sum.data_points:
                        # Claude Code's points start and end on a whole millisecond.
                        assert p.start_time_unix_nano % 1_000_000 == p.time_unix_nano % 1_000_000 == 0
                        out[
                            (
                                _attrs(rm.resource.attributes),
                                rm.schema_url,
                                sm.scope.name,
                                sm.scope.version,
                                sm.schema_url,
                                m.name,
                                m.description,
                                m.unit,
                                m.sum.aggregation_temporality,
                                m.sum.is_monotonic,
                                _attrs(p.attributes),
                                p.WhichOneof("value"),
                                getattr(p, p.WhichOneof("value")),
                                p.flags,
                                len(p.exemplars),
                            )
                        ] += 1
    return out


def _log_records(requests) -> Counter:
    out: Counter = Counter()
    for request in requests:
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                for r in sl.log_records:
                    keys = [kv.key for kv in r.attributes]
                    # event.timestamp right after event.name, in Claude Code's millisecond format.
                    stamp = keys.index("event.timestamp")
                    assert keys[stamp - 1] == "event.name"
                    assert len(r.attributes[stamp].value.string_value) == len("2026-11-24T21:52:10.671Z")
                    assert r.time_unix_nano == r.observed_time_unix_nano
                    assert r.time_unix_nano % 1_000_000 == 0
                    out[
                        (
                            _attrs(rl.resource.attributes),
                            sl.scope.name,
                            sl.scope.version,
                            r.body.string_value,
                            r.severity_number,
                            r.severity_text,
                            r.event_name,
                            _attrs(r.attributes, drop=("event.timestamp",)),
                            r.trace_id,
                            r.span_id,
                            r.flags,
                        )
                    ] += 1
    return out


def _sdk_requests(timeline, temporality: str, home, *, tracing: bool = False):
    sink = OtlpSink().start()
    try:
        environ = {
            "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality,
        }
        if tracing:
            environ.update({"CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1", "OTEL_TRACES_EXPORTER": "otlp"})
        config = load_config(environ=environ, home=home, cwd=home)
        factory = PipelineFactory(config, get_profile("current"))
        try:
            result = replay(
                timeline,
                factory,
                InstantClock(),
                metric_interval_s=METRIC_INTERVAL_S,
                logs_interval_s=LOGS_INTERVAL_S,
            )
        finally:
            factory.close()
        assert not result.export_failed
        return list(sink.metric_requests), list(sink.log_requests)
    finally:
        sink.stop()


def _load_requests(timeline, temporality: str):
    encoder = OtlpEncoder(get_profile("current"), temporality)
    metric_requests, log_requests = [], []
    for play in timeline.plays():
        template = Template.from_compiled(play.info, list(play.records))
        clock = VirtualClock(1000.0)
        engine = FleetEngine(
            [template],
            encoder,
            sessions=1,
            metric_interval_s=METRIC_INTERVAL_S,
            logs_interval_s=LOGS_INTERVAL_S,
            temporality=temporality,
            own_identity=True,
            replace_ended=False,
            clock=clock,
        )
        sent = []
        deadline = clock.now() + template.duration + 1.0
        engine.run(sent.append, lambda: False, deadline)
        for request in sent:
            if request.signal == "metrics":
                metric_requests.append(ExportMetricsServiceRequest.FromString(request.body))
            else:
                log_requests.append(ExportLogsServiceRequest.FromString(request.body))
    return metric_requests, log_requests


@pytest.mark.parametrize(
    ("scenario", "temporality", "tracing"),
    [
        ("team-day", "delta", False),
        ("feature-branch", "cumulative", False),
        ("feature-branch", "delta", True),
    ],
)
def test_the_load_path_sends_what_the_sdk_path_sends(scenario, temporality, tracing, tmp_path):
    scenario = load_scenario(resolve_scenario(scenario))
    timeline = compile_scenario(scenario)
    if tracing:
        # Events inside an interaction carry its trace context.
        timeline = derive_spans(timeline, seed=scenario.seed)
        assert any(r.trace for r in timeline.records)
    sdk_metrics, sdk_logs = _sdk_requests(timeline, temporality, tmp_path, tracing=tracing)
    load_metrics, load_logs = _load_requests(timeline, temporality)
    assert sdk_metrics and sdk_logs
    want_points, got_points = _metric_points(sdk_metrics), _metric_points(load_metrics)
    assert got_points == want_points, (
        f"only the SDK sent: {list((want_points - got_points).items())[:3]}\n"
        f"only the load path sent: {list((got_points - want_points).items())[:3]}"
    )
    want_logs, got_logs = _log_records(sdk_logs), _log_records(load_logs)
    assert got_logs == want_logs, (
        f"only the SDK sent: {list((want_logs - got_logs).items())[:2]}\n"
        f"only the load path sent: {list((got_logs - want_logs).items())[:2]}"
    )
    # One request per export, as many as the SDK made.
    assert len(load_metrics) == len(sdk_metrics)
    assert len(load_logs) == len(sdk_logs)


@pytest.mark.parametrize("temporality", ["delta", "cumulative"])
def test_a_live_replay_stamps_metric_points_on_whole_milliseconds(temporality, tmp_path):
    timeline = compile_scenario(load_scenario(resolve_scenario("feature-branch")))
    metrics, _ = _sdk_requests(timeline, temporality, tmp_path)
    times = [
        t
        for request in metrics
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.sum.data_points
        for t in (p.start_time_unix_nano, p.time_unix_nano)
    ]
    assert times and all(t % 1_000_000 == 0 for t in times)
    assert all(t > 1_700_000_000 * 10**9 for t in times)  # wall-clock instants, not offsets


def test_each_simulated_session_carries_its_own_identity_and_nothing_else_changes():
    timeline = compile_scenario(load_scenario(resolve_scenario("feature-branch")))
    play = next(timeline.plays())
    template = Template.from_compiled(play.info, list(play.records))
    encoder = OtlpEncoder(get_profile("current"))

    def decoded(own_identity: bool):
        clock = VirtualClock(1000.0)
        engine = FleetEngine(
            [template],
            encoder,
            sessions=3,
            metric_interval_s=METRIC_INTERVAL_S,
            logs_interval_s=LOGS_INTERVAL_S,
            own_identity=own_identity,
            replace_ended=False,
            clock=clock,
        )
        sent = []
        engine.run(sent.append, lambda: False, clock.now() + template.duration + 1.0)
        metrics = [ExportMetricsServiceRequest.FromString(r.body) for r in sent if r.signal == "metrics"]
        logs = [ExportLogsServiceRequest.FromString(r.body) for r in sent if r.signal == "logs"]
        return sent, _metric_points(metrics), _log_records(logs)

    sent, points, events = decoded(own_identity=False)
    _, template_points, template_events = decoded(own_identity=True)

    def identities(counter, position):
        return {
            (dict(key[position])["session.id"], dict(key[position])["user.id"])
            for key in counter
            if "session.id" in dict(key[position])
        }

    def without_identity(counter, position):
        out = Counter()
        for key, n in counter.items():
            attrs = tuple((k, v) for k, v in key[position] if k not in ("session.id", "user.id"))
            out[key[:position] + (attrs,) + key[position + 1 :]] += n
        return out

    ids = identities(points, 10) | identities(events, 7)
    assert len(ids) == 3
    assert (template.session_id, template.user_id) not in ids
    assert all(len(sid) == 36 and len(uid) == len(template.user_id) for sid, uid in ids)
    assert all(template.session_id.encode() not in r.body for r in sent)
    # The same three sessions with the template's own identity: the same telemetry, identity aside.
    assert without_identity(points, 10) == without_identity(template_points, 10)
    assert without_identity(events, 7) == without_identity(template_events, 7)
    assert sum(points.values()) == sum(template_points.values()) > 0


@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize("stamped", [False, True])
def test_a_record_encoded_but_for_its_instant_is_the_record(traced, stamped):
    from claude_telemetry_cli.otlp.encode import LogRecordShape, timestamp_attribute
    from claude_telemetry_cli.records import TraceRef

    encoder = OtlpEncoder(get_profile("current"))
    trace = TraceRef("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331") if traced else None
    before = encoder.attributes(6, (("event.name", "tool_result"), ("session.id", "s")))
    after = encoder.attributes(6, (("tool_name", "Edit"), ("success", True))) if stamped else None
    shape = LogRecordShape(encoder, "tool_result", before, after, trace)
    # Across a second boundary, so the kept text of the last second is refreshed.
    for time_ns in (1_764_000_000_999_000_000, 1_764_000_001_000_000_000, 1_764_000_001_007_000_000):
        block = before + timestamp_attribute(time_ns) + after if stamped else before
        assert shape.encode(time_ns) == encoder.log_record(time_ns, "tool_result", block, trace)
    request = ExportLogsServiceRequest.FromString(
        encoder.logs_group(encoder.resource((("service.name", "claude-code"),)), "2.1.331", [shape.encode(0)])
    )
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    assert record.body.string_value == "claude_code.tool_result"
    keys = [kv.key for kv in record.attributes]
    assert keys[:2] == ["event.name", "session.id"]
    assert ("event.timestamp" in keys) == stamped
    assert bool(record.trace_id) == traced


def test_an_encoder_that_forgets_its_kept_pairs_still_encodes_every_value_as_itself():
    """The encoder keeps a bounded number of encoded pairs (a month of history has millions of distinct
    values): when it forgets them, it encodes them again the same, and never mistakes True for 1."""
    small, large = OtlpEncoder(get_profile("current"), cache_limit=3), OtlpEncoder(get_profile("current"))
    # One key with True and 1, another with 1.0 and 1: equal in Python, not on the wire.
    rows = [(("n", i), ("mixed", True if i % 2 else 1), ("number", 1.0 if i % 2 else 1)) for i in range(50)]
    for row in rows + rows:
        encoded = small.attributes(7, row)
        assert encoded == large.attributes(7, row)
        request = ExportMetricsServiceRequest.FromString(
            small.metrics_group(
                small.resource(()), "2.1.331", {"claude_code.cost.usage": [small.point(encoded, 1, 2, 1.0)]}
            )
        )
        point = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
        assert [any_value(kv.value) for kv in point.attributes] == [v for _, v in row]
        assert [type(any_value(kv.value)) for kv in point.attributes] == [type(v) for _, v in row]
