"""History: when a scenario happened (--start-at/--end-at), and the requests its processes would have
made then, held equal to what the SDK path sends for the same scenario, every timestamp shifted."""

from __future__ import annotations

from collections import Counter

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from claude_telemetry_cli.clock import InstantClock
from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.errors import UsageError
from claude_telemetry_cli.history import HistoryPlan, history_window, parse_when, scenario_exports
from claude_telemetry_cli.otlp.decode import any_value
from claude_telemetry_cli.otlp.encode import OtlpEncoder
from claude_telemetry_cli.pipeline import PipelineFactory
from claude_telemetry_cli.replay import replay
from claude_telemetry_cli.scenario import resolve_scenario
from claude_telemetry_cli.scenario.spool import compile_file
from claude_telemetry_cli.settings import load_config
from tests.support.otlp_sink import OtlpSink
from tests.unit.test_encode import _log_records, _metric_points

NOW = 1_796_000_000_123_456_789  # 2026-11-30T...
DAY = 86_400 * 10**9


# -- when -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-14d", NOW - 14 * DAY),
        ("now-36h", NOW - 36 * 3600 * 10**9),
        ("now - 1w2d", NOW - 9 * DAY),
        ("-90m", NOW - 90 * 60 * 10**9),
        ("2026-11-02T09:00:00Z", 1_793_610_000 * 10**9),
        ("2026-11-02T10:00:00+01:00", 1_793_610_000 * 10**9),
        ("2026-11-02T09:00:00", 1_793_610_000 * 10**9),  # no offset: UTC
        ("2026-11-02", 1_793_577_600 * 10**9),
        ("2026-11-02T09:00:00.250Z", 1_793_610_000 * 10**9 + 250_000_000),
    ],
)
def test_when_takes_iso_times_now_and_times_relative_to_now(text, expected):
    assert parse_when(text, now_ns=NOW, option="--start-at") == expected


@pytest.mark.parametrize("text", ["yesterday", "-14", "-3x", "now-1d1d", "-1s1d", "2026-13-01", ""])
def test_a_time_that_is_none_is_one_line_naming_the_option(text):
    with pytest.raises(UsageError) as caught:
        parse_when(text, now_ns=NOW, option="--end-at")
    assert caught.value.message.startswith(f"--end-at {text!r}: not a time")
    assert "\n" not in caught.value.message


def test_the_window_follows_from_either_end():
    length = 3 * DAY
    start = history_window("-14d", None, length / 1e9, now_ns=NOW)
    assert start.start_ns == NOW - 14 * DAY - (NOW - 14 * DAY) % 1_000_000
    assert start.end_ns == start.start_ns + length
    end = history_window(None, "now", length / 1e9, now_ns=NOW)
    assert end.end_ns <= NOW and NOW - end.end_ns < 1_000_000
    both = history_window("-5d", "-2d", length / 1e9, now_ns=NOW)
    assert both.end_ns - both.start_ns == length
    assert start.start_ns % 1_000_000 == end.start_ns % 1_000_000 == 0  # whole milliseconds


@pytest.mark.parametrize(
    ("start", "end", "fragment"),
    [
        ("now+1d", None, "not a time"),
        ("2030-01-01", None, "is in the future"),
        (None, "2030-01-01", "is in the future"),
        ("-1d", None, "would end in the future"),
        ("-5d", "-1d", "are 4d apart, but the scenario lasts 3d"),
        (None, "1970-01-02", "would start before 1970"),
        (None, None, "give --start-at or --end-at"),
    ],
)
def test_a_window_that_cannot_hold_the_scenario_is_one_line(start, end, fragment):
    with pytest.raises(UsageError) as caught:
        history_window(start, end, 3 * 86_400, now_ns=NOW)
    assert fragment in caught.value.message
    assert "\n" not in caught.value.message


# -- the stream, against the SDK path ---------------------------------------------------------------


def _environ(endpoint: str, temporality: str, tracing: bool) -> dict:
    environ = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality,
    }
    if tracing:
        environ.update({"CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1", "OTEL_TRACES_EXPORTER": "otlp"})
    return environ


def _spans(requests) -> Counter:
    out: Counter = Counter()
    for request in requests:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    attrs = tuple((kv.key, any_value(kv.value)) for kv in s.attributes)
                    out[
                        (
                            tuple((kv.key, any_value(kv.value)) for kv in rs.resource.attributes),
                            ss.scope.name,
                            ss.scope.version,
                            s.trace_id,
                            s.span_id,
                            s.parent_span_id,
                            s.name,
                            s.kind,
                            s.flags,
                            s.status.code,
                            s.status.message,
                            attrs,
                        )
                    ] += 1
    return out


@pytest.mark.parametrize(
    ("scenario", "temporality", "tracing"),
    [("team-day", "delta", True), ("feature-branch", "cumulative", False), ("failures", "delta", True)],
)
def test_history_sends_what_the_sdk_path_sends_at_the_scenarios_own_times(
    scenario, temporality, tracing, tmp_path
):
    sink = OtlpSink().start()
    try:
        config = load_config(
            environ=_environ(sink.endpoint, temporality, tracing), home=tmp_path, cwd=tmp_path
        )
        playable = compile_file(resolve_scenario(scenario), config.emit, tracing=config.tracing)
        factory = PipelineFactory(config, get_profile("current"))
        try:
            result = replay(
                playable,
                factory,
                InstantClock(),
                metric_interval_s=60.0,
                logs_interval_s=5.0,
                traces_interval_s=5.0,
            )
        finally:
            factory.close()
        assert not result.export_failed
        sdk = (list(sink.metric_requests), list(sink.log_requests), list(sink.trace_requests))
    finally:
        sink.stop()
    start_ns = NOW - 30 * DAY
    start_ns -= start_ns % 1_000_000
    plan = HistoryPlan(start_ns, 60.0, 5.0, 5.0, temporality, traces=tracing)
    exports = list(scenario_exports(playable, OtlpEncoder(get_profile("current"), temporality), plan))
    assert [e.at for e in exports] == sorted(e.at for e in exports), "not in the order they were due"
    metrics = [
        ExportMetricsServiceRequest.FromString(e.request.body)
        for e in exports
        if e.request.signal == "metrics"
    ]
    logs = [
        ExportLogsServiceRequest.FromString(e.request.body) for e in exports if e.request.signal == "logs"
    ]
    traces = [
        ExportTraceServiceRequest.FromString(e.request.body) for e in exports if e.request.signal == "traces"
    ]

    assert _metric_points(metrics) == _metric_points(sdk[0])
    assert _log_records(logs) == _log_records(sdk[1])
    assert _spans(traces) == _spans(sdk[2])
    assert (len(metrics), len(logs), len(traces)) == tuple(len(r) for r in sdk)
    assert bool(traces) == tracing

    # Every instant is the scenario's own, shifted to the start of the window.
    end_ns = start_ns + round(playable.duration * 1e9)
    plays = {p.info.session_id: p for p in playable.plays()}
    event_times = Counter()
    for play in plays.values():
        for r in play.records:
            if r.signal == "event":
                at = start_ns + round(r.at * 1e9)
                event_times[(r.name, at - at % 1_000_000)] += 1
    sent_times = Counter(
        (record.body.string_value.removeprefix("claude_code."), record.time_unix_nano)
        for request in logs
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
    )
    assert sent_times == event_times
    for request in metrics:
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.sum.data_points:
                        sid = next(
                            (any_value(kv.value) for kv in p.attributes if kv.key == "session.id"), None
                        )
                        info = plays[sid].info if sid in plays else None
                        assert start_ns <= p.start_time_unix_nano < p.time_unix_nano <= end_ns
                        # On whole milliseconds, as Claude Code stamps its points.
                        assert p.start_time_unix_nano % 1_000_000 == p.time_unix_nano % 1_000_000 == 0
                        if info is not None:
                            # On the export cadence from the process start, or at its exit: the
                            # millisecond at or before it.
                            offset = (p.time_unix_nano - start_ns) / 1e9 - info.start_at
                            at_exit = -1e-3 < (p.time_unix_nano - start_ns) / 1e9 - info.end_at <= 0
                            assert at_exit or -1e-3 < offset - 60.0 * round(offset / 60.0) <= 1e-9
    # Spans start and end exactly when the scenario says (an instant SDK replay can only approximate it).
    span_times = Counter(
        (s.span_id, start_ns + round(s.start_at * 1e9), start_ns + round(s.end_at * 1e9))
        for play in plays.values()
        for s in play.spans
    )
    sent_spans = Counter(
        (s.span_id.hex(), s.start_time_unix_nano, s.end_time_unix_nano)
        for request in traces
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    )
    assert sent_spans == span_times
    assert all(start_ns <= begin <= end <= end_ns for _, begin, end in sent_spans)


def test_what_history_reports_and_how_it_ends():
    from claude_telemetry_cli.errors import ExportError, Interrupted
    from claude_telemetry_cli.history import HistoryResult, HistoryWindow, SignalTally

    tally = SignalTally("metrics", "http://x", requests=3, accepted=3)
    window = HistoryWindow(start_ns=1_700_000_000_000_000_000, end_ns=1_700_000_060_000_000_000)
    result = HistoryResult({"metrics": tally}, reached_s=30.0, elapsed_s=1.23456)

    class Compiled:
        name, session_count = "demo", 2

    summary = result.summary(Compiled(), window)
    assert summary == {
        "scenario": "demo",
        "sessions": 2,
        "window": window.to_json(),
        "reached": "2023-11-14T22:13:50Z",
        "seconds": 1.235,
        "ok": True,
        "aborted": None,
        "interrupted": False,
        "signals": [tally.to_json()],
    }
    assert result.ending() is None
    result.interrupted = True
    assert type(result.ending()) is Interrupted
    result.aborted = "metrics: 400 sample too old"
    ending = result.ending()
    assert type(ending) is ExportError and ending.message == "metrics: 400 sample too old"


@pytest.mark.parametrize("temporality", ["delta", "cumulative"])
def test_sessions_prepared_by_the_compile_workers_send_the_same_requests(temporality):
    from claude_telemetry_cli.history import HistorySpooler
    from claude_telemetry_cli.options import EmitOptions
    from claude_telemetry_cli.scenario.generate import build_params
    from claude_telemetry_cli.scenario.source import compile_preset

    params = build_params("incident", {"developers": 30, "days": 2, "seed": 4})
    options = EmitOptions(log_user_prompts=True)
    plan = HistoryPlan(1_700_000_000_000_000_000, 60.0, 5.0, 5.0, temporality, traces=True)
    encoder = OtlpEncoder(get_profile("current"), temporality)
    with (
        compile_preset(params, options, tracing=True, totals=False, workers=0) as records,
        compile_preset(
            params, options, tracing=True, totals=False, workers=2, spooler=HistorySpooler("current")
        ) as prepared,
    ):
        assert prepared.session_count > 64 and prepared.has_spans  # the workers share the batches
        with pytest.raises(RuntimeError, match="not records"):
            next(prepared.plays())
        expected = _requests(scenario_exports(records, encoder, plan))
        got = _requests(scenario_exports(prepared, encoder, plan))
    assert {signal for _, signal, _ in expected} == {"metrics", "logs", "traces"}
    assert got == expected


def _requests(exports) -> list[tuple[float, str, bytes]]:
    return [(e.at, e.request.signal, e.request.body) for e in exports]


def test_a_scenario_file_encoded_for_history_as_it_compiles_sends_the_same_requests():
    from claude_telemetry_cli.history import HistorySpooler

    plan = HistoryPlan(1_700_000_000_000_000_000, 60.0, 5.0, 5.0, traces=True)
    encoder = OtlpEncoder(get_profile("current"))
    path = resolve_scenario("team-day")
    with (
        compile_file(path, tracing=True, totals=False) as records,
        compile_file(path, tracing=True, totals=False, spooler=HistorySpooler("current")) as prepared,
    ):
        expected = _requests(scenario_exports(records, encoder, plan))
        got = _requests(scenario_exports(prepared, encoder, plan))
    assert len(expected) > 100 and got == expected
