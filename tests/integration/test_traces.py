"""Traces (beta): `run` into a real collector (rotel), the span tree that arrives, and `receive`."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from claude_telemetry_cli.contract.spans import (
    BLOCKED_ON_USER,
    EXECUTION,
    INTERACTION,
    LLM_REQUEST,
    TOOL,
    TRACER_NAME,
    TRACER_VERSION,
)
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.scenario import compile_scenario, load_scenario, resolve_scenario
from claude_telemetry_cli.scenario.spans import derive_spans
from tests.support.cli import otlp_env, run_cli, run_json, telemetry_env

pytestmark = pytest.mark.integration

RESOURCE_KEYS = {"host.arch", "os.type", "os.version", "service.name", "service.version"}
STARTUP_EVENTS = {"managed_settings_resolved", "plugin_loaded"}


def _traced_env(endpoint: str, protocol: str, **extra: str) -> dict[str, str]:
    return telemetry_env(
        CLAUDE_CODE_ENABLE_TELEMETRY="1",
        CLAUDE_CODE_ENHANCED_TELEMETRY_BETA="1",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_LOGS_EXPORTER="otlp",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_METRIC_EXPORT_INTERVAL="1000",
        OTEL_LOGS_EXPORT_INTERVAL="1000",
        OTEL_TRACES_EXPORT_INTERVAL="1000",
        **extra,
    )


def _expected_span_counts(name: str) -> dict[str, int]:
    scenario = load_scenario(resolve_scenario(name))
    return derive_spans(compile_scenario(scenario, EmitOptions()), seed=scenario.seed).totals().spans


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_spans_arrive_as_the_documented_tree_and_events_carry_their_interaction(
    rotel_collector, otlp_sink, tmp_path, protocol
):
    env = _traced_env(rotel_collector.endpoint(protocol), protocol)
    expected = _expected_span_counts("feature-branch")
    summary = run_json(["run", "feature-branch", "--instant"], env, cwd=tmp_path)
    assert summary["ok"] is True
    assert summary["scenarios"][0]["spans"] == expected
    traces_stats = [e for e in summary["exporters"] if e["signal"] == "traces"]
    assert [(e["exporter"], e["items"], e["failed_items"]) for e in traces_stats] == [
        (f"otlp {protocol}", sum(expected.values()), 0)
    ]

    want_events = sum(
        run_json(["scenarios", "totals", "feature-branch"], env, cwd=tmp_path)["events"].values()
    )
    arrived = otlp_sink.wait_for(
        lambda s: Counter(x.name for x in s.spans()) == Counter(expected) and len(s.events()) == want_events,
        timeout=30,
    )
    spans, events = otlp_sink.spans(), otlp_sink.events()
    assert arrived, f"spans {Counter(x.name for x in spans)}, expected {expected}; {len(events)} events"

    by_id = {s.span_id: s for s in spans}
    assert len(by_id) == len(spans), "span ids are unique"
    interactions = [s for s in spans if s.name == INTERACTION]
    # One trace per interaction, rooted at it.
    assert len({s.trace_id for s in spans}) == len(interactions) == 2
    assert sorted(dict(s.attributes)["interaction.sequence"] for s in interactions) == [1, 2]
    for s in spans:
        attrs = dict(s.attributes)
        assert (s.scope_name, s.scope_version) == (TRACER_NAME, TRACER_VERSION)
        assert set(dict(s.resource)) == RESOURCE_KEYS
        assert attrs["span.type"] == s.name.removeprefix("claude_code.")
        assert "user.id" in attrs and attrs["gen_ai.conversation.id"] == attrs["session.id"]
        assert s.start_ns <= s.end_ns
        if s.name == INTERACTION:
            assert s.parent_span_id == ""
            assert attrs["user_prompt"] == "<REDACTED>"
            continue
        parent = by_id[s.parent_span_id]
        assert parent.trace_id == s.trace_id
        assert parent.name == {LLM_REQUEST: INTERACTION, TOOL: INTERACTION}.get(s.name, TOOL)
        assert parent.start_ns <= s.start_ns and s.end_ns <= parent.end_ns, (s.name, parent.name)
        if s.name in (BLOCKED_ON_USER, EXECUTION):
            assert s.parent_span_id and by_id[s.parent_span_id].name == TOOL
    # Sampled, as Claude Code flags every span, whichever protocol carried it.
    sent = [
        span
        for request in otlp_sink.trace_requests
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert {span.flags for span in sent} == {257}
    # One gen_ai.request.attempt span event per attempt of each request.
    for span in sent:
        if span.name == LLM_REQUEST:
            (attempts,) = [a.value.int_value for a in span.attributes if a.key == "attempt"]
            assert [e.name for e in span.events] == ["gen_ai.request.attempt"] * attempts
    failed = [s for s in spans if s.status == "error"]
    assert [(s.name, s.status_message, dict(s.attributes)["status_code"]) for s in failed] == [
        (LLM_REQUEST, "Overloaded", 529)
    ]
    assert {s.status for s in spans} == {"unset", "error"}

    # Events inside an interaction carry its span's ids, but a tool_decision, logged while the permission
    # was awaited, that wait's; start-up events come before any prompt.
    roots = {s.trace_id: s.span_id for s in interactions}
    for e in events:
        if e.name in STARTUP_EVENTS:
            assert (e.trace_id, e.span_id) == ("", ""), e.name
            continue
        assert e.trace_id in roots, e.name
        if e.name == "tool_decision":
            assert by_id[e.span_id].name == BLOCKED_ON_USER and by_id[e.span_id].trace_id == e.trace_id
        else:
            assert e.span_id == roots[e.trace_id]
    prompts = [e for e in events if e.name == "user_prompt"]
    assert len({e.trace_id for e in prompts}) == 2
    # A tool's events join its claude_code.tool span through tool_use_id, in the same trace.
    tools = {dict(s.attributes)["tool_use_id"]: s for s in spans if s.name == TOOL}
    for e in events:
        if e.name in ("tool_decision", "tool_result"):
            assert tools[dict(e.attributes)["tool_use_id"]].trace_id == e.trace_id


def test_receive_verifies_span_counts_and_names_a_missing_span(tmp_path, receivers):
    env = _traced_env("http://unused", "grpc")
    totals = run_json(["scenarios", "totals", "failures"], env, cwd=tmp_path)
    totals["spans"] = _expected_span_counts("failures")
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(totals))
    bad.write_text(json.dumps({**totals, "spans": {**totals["spans"], INTERACTION: 3}}))

    receiver = receivers(tmp_path, "--expect-totals", str(good), "--timeout", "60s")
    strict = receivers(tmp_path, "--expect-totals", str(bad), "--timeout", "12s")
    for r, protocol in ((receiver, "http/json"), (strict, "grpc")):
        proc = run_cli(
            ["run", "failures", "--instant"], _traced_env(r.endpoint(protocol), protocol), cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr

    code, data, err = receiver.result()
    assert code == 0, err
    verdict = data["verdict"]
    assert verdict["ok"] is True and verdict["spans_verified"] is True
    assert verdict["expected"]["spans"] == verdict["received"]["spans"] == sum(totals["spans"].values())
    assert data["received"]["spans_by_name"] == totals["spans"]

    code, data, _ = strict.result()
    assert code == 1
    assert data["verdict"]["mismatches"] == [
        {"kind": "spans", "name": INTERACTION, "expected": 3, "received": 2}
    ]


def test_receive_expect_without_spans_ignores_the_spans_of_a_tracing_sender(tmp_path, receivers):
    receiver = receivers(tmp_path, "--expect", "quickstart", "--timeout", "60s")
    proc = run_cli(
        ["run", "quickstart", "--instant"],
        _traced_env(receiver.endpoint("http/protobuf"), "http/protobuf"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    code, data, err = receiver.result()
    assert code == 0, err
    assert data["verdict"]["spans_verified"] is False
    assert data["received"]["spans"] == sum(_expected_span_counts("quickstart").values())


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA is not 1"),
        ({"CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1"}, "OTEL_TRACES_EXPORTER is not set"),
    ],
)
def test_half_configured_tracing_sends_no_spans_and_says_why(otlp_sink, tmp_path, extra, why):
    env = otlp_env(otlp_sink.endpoint, **extra)
    proc = run_cli(["run", "quickstart", "--instant"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert why in proc.stderr
    assert otlp_sink.wait_for(lambda s: len(s.events()) > 0)
    assert not otlp_sink.trace_requests
    # Without tracing, events carry no trace context at all.
    assert {(e.trace_id, e.span_id) for e in otlp_sink.events()} == {("", "")}
    assert "span recorded" not in proc.stdout
