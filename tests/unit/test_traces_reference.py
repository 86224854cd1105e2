"""Beta traces: a scenario replayed with tracing on sends the spans real Claude Code 2.1.332 sent, ids and
clocks aside, by both ways the tool sends them (its own encoder, which `export` and `load` use, and the
OpenTelemetry SDK, which `run` uses)."""

from __future__ import annotations

import io
import json
import pathlib
import tempfile
import time

import pytest
from google.protobuf.json_format import MessageToDict

from claude_telemetry_cli.clock import InstantClock
from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.contract.spans import (
    BLOCKED_ON_USER,
    EXECUTION,
    INTERACTION,
    LLM_REQUEST,
    REQUEST_ATTEMPT,
    TOOL,
    TRACER_NAME,
    TRACER_VERSION,
)
from claude_telemetry_cli.history.export import export_otlp_json, export_signals
from claude_telemetry_cli.history.when import history_window
from claude_telemetry_cli.otlp.encode import sampled_protobuf_spans
from claude_telemetry_cli.pipeline import PipelineFactory
from claude_telemetry_cli.pipeline.exporters import claude_code_json_spans
from claude_telemetry_cli.replay import replay
from claude_telemetry_cli.scenario import compile_scenario, load_scenario_text
from claude_telemetry_cli.scenario.spans import derive_spans
from claude_telemetry_cli.settings import load_config
from tests.support.otlp_sink import OtlpSink
from tests.support.reference_shape import differences, load_requests, reference_file, shape, values
from tests.unit.test_scenario_reference import SAME_SESSION

REFERENCE = reference_file("real-client-2.1.332-traces-session.json")

# The session of the 2.1.331 capture, run again by 2.1.332 on another machine.
SESSION = SAME_SESSION.replace(
    "  - os_version: 6.18.44-fc-v657\n", "  - app_version: 2.1.332\n    os_version: 6.18.44-fc-v1045\n"
)
assert "2.1.332" in SESSION

# Random per run or per machine, or timings the scenario gives only roughly: compared by type only.
VOLATILE = {
    "user.id",
    "session.id",
    "gen_ai.conversation.id",
    "request_id",
    "gen_ai.response.id",
    "tool_use_id",
    "gen_ai.tool.call.id",
    "duration_ms",
    "interaction.duration_ms",
    "ttft_ms",
    "first_content_ms",
}


def _environment(endpoint: str = "http://127.0.0.1:4317") -> dict[str, str]:
    """The environment the reference ran with (its fake API's address aside), sending to `endpoint`."""
    env = dict(json.loads(REFERENCE.read_text())["env"])
    env["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:8080"
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    return env


def _timeline(text: str = SESSION):
    """The session compiled as under the reference's environment (its ANTHROPIC_BASE_URL, its TERM)."""
    scenario = load_scenario_text(text, "same.yaml")
    with tempfile.TemporaryDirectory() as machine:
        root = pathlib.Path(machine)
        config = load_config(_environment(), home=root, cwd=root, managed_path=root / "managed.json")
    return derive_spans(compile_scenario(scenario, config.emit), seed=scenario.seed)


def _exported(tmp_path, text: str = SESSION) -> list[dict]:
    """The OTLP/JSON requests `export --format otlp-json` writes for the session."""
    config = load_config(environ=_environment(), home=tmp_path, cwd=tmp_path)
    timeline = _timeline(text)
    window = history_window(None, "now", timeline.duration, now_ns=time.time_ns())
    out = io.BytesIO()
    signals = export_signals(config)
    assert "traces" in signals
    export_otlp_json(timeline, config, get_profile("current"), window, out, signals=signals)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _sent_by_the_sdk(tmp_path) -> list[dict]:
    """The requests `run` sends for the session over gRPC, as OTLP/JSON."""
    sink = OtlpSink().start()
    try:
        config = load_config(environ=_environment(sink.endpoint), home=tmp_path, cwd=tmp_path)
        factory = PipelineFactory(config, get_profile("current"))
        try:
            result = replay(_timeline(), factory, InstantClock(), metric_interval_s=1, logs_interval_s=1)
        finally:
            factory.close()
        assert not result.export_failed
        requests = [*sink.metric_requests, *sink.log_requests, *sink.trace_requests]
        return [MessageToDict(r) for r in requests]
    finally:
        sink.stop()


@pytest.fixture(scope="module")
def real() -> list[dict]:
    return load_requests(REFERENCE)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> list[dict]:
    return _exported(tmp_path_factory.mktemp("export"))


def _spans(bodies: list[dict]) -> list[dict]:
    return [
        span
        for body in bodies
        for resource in body.get("resourceSpans", [])
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


def _in_order(spans: list[dict]) -> list[dict]:
    """Spans by name, then in the order they started: the same call in both lists at the same place."""
    return sorted(spans, key=lambda s: (s["name"], int(s["startTimeUnixNano"])))


def _span_differences(ours: list[dict], real: list[dict]) -> list[str]:
    return [d for d in differences(shape(ours), shape(real)) if d.startswith("span")]


def test_the_exported_spans_have_the_real_shape(exported, real):
    # Every span's name, kind, flags, parent, attribute keys in order and their types, span events.
    assert _span_differences(exported, real) == []
    assert len(_spans(exported)) == len(_spans(real)) == 14


def test_the_spans_the_sdk_sends_have_the_real_shape(tmp_path, real):
    sent = _sent_by_the_sdk(tmp_path)
    assert _span_differences(sent, real) == []
    assert {s["flags"] for s in _spans(sent)} == {257}


def _logged_in(bodies: list[dict]) -> list[tuple[str, str | None]]:
    """Each event, in sequence, with the name of the span it was logged in (None: outside any)."""
    names = {s["spanId"]: s["name"] for s in _spans(bodies)}
    out = []
    for body in bodies:
        for resource in body.get("resourceLogs", []):
            for scope in resource["scopeLogs"]:
                for record in scope["logRecords"]:
                    v = values(record["attributes"])
                    out.append((v["event.sequence"], v["event.name"], names.get(record.get("spanId"))))
    return [(name, span) for _, name, span in sorted(out)]


def test_each_event_is_logged_in_the_span_the_real_client_logs_it_in(exported, real):
    ours, theirs = _logged_in(exported), _logged_in(real)
    # Sequential steps: the real client's Bash permission check raced ahead of its api_request event.
    assert sorted(ours) == sorted(theirs)
    assert ("tool_decision", BLOCKED_ON_USER) in ours and ("user_prompt", INTERACTION) in ours


def test_the_traces_resource_and_scope_are_the_real_ones(exported, real):
    def resources(bodies):
        return [values(r["resource"]["attributes"]) for b in bodies for r in b.get("resourceSpans", [])]

    def scopes(bodies):
        return {
            (s["scope"]["name"], s["scope"]["version"])
            for b in bodies
            for r in b.get("resourceSpans", [])
            for s in r["scopeSpans"]
        }

    assert scopes(exported) == scopes(real) == {(TRACER_NAME, TRACER_VERSION)}
    assert {tuple(r) for r in resources(exported)} == {tuple(r) for r in resources(real)}


def test_every_span_value_that_follows_from_the_scenario_is_the_real_one(exported, real):
    ours, theirs = _in_order(_spans(exported)), _in_order(_spans(real))
    assert [s["name"] for s in ours] == [s["name"] for s in theirs]
    for mine, real_span in zip(ours, theirs, strict=True):
        got, want = values(mine["attributes"]), values(real_span["attributes"])
        assert list(got) == list(want), mine["name"]
        for key, value in want.items():
            assert type(got[key]) is type(value), (mine["name"], key)
            if key not in VOLATILE:
                assert got[key] == value, (mine["name"], key)
        assert [(e["name"], values(e["attributes"])) for e in mine.get("events", [])] == [
            (e["name"], values(e["attributes"])) for e in real_span.get("events", [])
        ]


def test_values_follow_from_the_session(exported):
    spans = _spans(exported)
    session_id = {values(s["attributes"])["session.id"] for s in spans}
    assert len(session_id) == 1
    for s in spans:
        a = values(s["attributes"])
        assert a["gen_ai.conversation.id"] == a["session.id"]
        assert a["span.type"] == s["name"].removeprefix("claude_code.")
        assert a["gen_ai.provider.name"] == "anthropic"
        assert a["anthropic.custom_base_url"] is True
        # A custom base URL: no client_request_id, on the span or its attempts.
        assert "client_request_id" not in a
        assert all("client_request_id" not in values(e["attributes"]) for e in s.get("events", []))

    tools = [values(s["attributes"]) for s in _in_order(spans) if s["name"] == TOOL]
    assert [t["tool_name"] for t in tools] == ["Write", "Edit", "Bash"]
    assert [t["tool_name_safe"] for t in tools] == ["Write", "Edit", "Bash"]
    bash = tools[2]
    assert (bash["bash_argv0"], bash["bash_command_class"]) == ("git", "vcs")
    assert all("bash_argv0" not in t for t in tools[:2])

    requests = [s for s in _in_order(spans) if s["name"] == LLM_REQUEST]
    a = [values(s["attributes"]) for s in requests]
    # Every prompt token, cached or not: 100 + 2000 + 300.
    assert [x["gen_ai.usage.input_tokens"] for x in a] == [2400, 2250, 2360, 2470]
    assert [x["stop_reason"] for x in a] == ["tool_use"] * 3 + ["end_turn"]
    for s in requests:
        (attempt,) = s["events"]
        assert attempt["name"] == REQUEST_ATTEMPT and values(attempt["attributes"]) == {"attempt": 1}
        assert int(s["startTimeUnixNano"]) <= int(attempt["timeUnixNano"]) <= int(s["endTimeUnixNano"])

    by_id = {s["spanId"]: s for s in spans}
    for s in spans:
        parent = by_id.get(s.get("parentSpanId", ""))
        expected = {
            INTERACTION: None,
            LLM_REQUEST: INTERACTION,
            TOOL: INTERACTION,
            BLOCKED_ON_USER: TOOL,
            EXECUTION: TOOL,
        }[s["name"]]
        assert (parent["name"] if parent else None) == expected


def test_without_a_custom_base_url_the_request_span_and_its_attempt_carry_the_client_request_id(tmp_path):
    # A scenario field wins over the environment's ANTHROPIC_BASE_URL.
    session = SESSION.replace(
        "  - app_version: 2.1.332\n", "  - app_version: 2.1.332\n    custom_base_url: false\n"
    )
    assert "custom_base_url: false" in session
    bodies = _exported(tmp_path, session)
    events = [
        values(r["attributes"])
        for b in bodies
        for rl in b.get("resourceLogs", [])
        for sl in rl["scopeLogs"]
        for r in sl["logRecords"]
    ]
    sent = [
        e["client_request_id"]
        for e in sorted(events, key=lambda e: e["event.sequence"])
        if e["event.name"] == "api_request"
    ]
    requests = [s for s in _in_order(_spans(bodies)) if s["name"] == LLM_REQUEST]
    assert len(sent) == len(requests) == 4
    for s, client_request_id in zip(requests, sent, strict=True):
        a = values(s["attributes"])
        assert a["client_request_id"] == client_request_id
        keys = list(a)
        assert keys.index("gen_ai.response.id") < keys.index("client_request_id") < keys.index("ttft_ms")
        (attempt,) = s["events"]
        assert values(attempt["attributes"]) == {"attempt": 1, "client_request_id": client_request_id}


def test_the_http_exporters_bodies_flag_every_span_as_sampled():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name, span.flags = "claude_code.interaction", 0x100
    flagged = ExportTraceServiceRequest.FromString(sampled_protobuf_spans(request.SerializeToString()))
    assert flagged.resource_spans[0].scope_spans[0].spans[0].flags == 257

    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "claude_code.tool", "flags": 256}]}]}]}
    written = json.loads(claude_code_json_spans(json.dumps(body).encode()))
    assert written["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["flags"] == 257
