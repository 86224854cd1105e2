"""Recording: telemetry a receiver got becomes a scenario whose replay gives back the same totals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from claude_telemetry_cli.contract import LOGGER_NAME, METER_NAME
from claude_telemetry_cli.errors import ScenarioError
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint, decode_logs, decode_metrics
from claude_telemetry_cli.records import EVENT, METRIC, Totals
from claude_telemetry_cli.scenario import compile_scenario, load_scenario_text
from claude_telemetry_cli.scenario.reconstruct import build_scenario, metric_query_source, metric_totals
from tests.support.cli import otlp_env, run_cli
from tests.support.otlp_sink import OtlpSink

CAPTURE = Path(__file__).resolve().parents[1] / "data" / "real-client-2.1.331-session.json"

# What the bundled scenarios leave out: other query sources, fast mode, mixed effort, attribution, an edit
# credited to a subagent's model, NotebookEdit, a connection error, an MCP tool failing, own plugins.
VARIED = """
version: 1
name: varied
seed: 5
sessions:
  - user: {email: dev@example.com, organization_id: 3f1c9a2e-0a7d-4d7e-9d55-2f1f5c7e8b10,
           account_uuid: 0b6f3c2a-1d4e-4f5a-8b9c-7d6e5f4a3b2c, account_id: user_01Abc}
    start_type: resume
    provider: bedrock
    custom_base_url: true
    os_type: darwin
    os_version: "24.1.0"
    host_arch: arm64
    permission_mode: acceptEdits
    plugins: [cc-plugin-privacy, {name: acme-tools, marketplace: acme, scope: org, enabled_via: org-policy,
              has_mcp: true, skill_path_count: 2}]
    steps:
      - prompt: {length: 200}
      - api_request: {input_tokens: 900, output_tokens: 100, cost_usd: 0.01, duration_ms: 3000, effort: high}
      - api_request: {input_tokens: 500, output_tokens: 50, cost_usd: 0.002, model: claude-haiku-4-5,
                      query_source: subagent, event_query_source: Explore, agent_name: Explore}
      - api_request: {input_tokens: 400, output_tokens: 40, cost_usd: 0.003, query_source: auxiliary,
                      event_query_source: compact}
      - api_request: {input_tokens: 300, output_tokens: 30, cost_usd: 0.004, speed: fast, skill_name: pdf,
                      plugin_name: acme-tools, marketplace_name: acme}
      # Main and auxiliary on one model, from a subsystem that does not say which: the sums decide.
      - api_request: {input_tokens: 8, output_tokens: 8, cost_usd: 0.0008}
      - api_request: {input_tokens: 9, output_tokens: 9, cost_usd: 0.0009, query_source: auxiliary,
                      event_query_source: summarize}
      - edit: {tool: NotebookEdit, language: Python, lines_added: 5, lines_removed: 2,
               model: claude-haiku-4-5}
      - edit: {tool: Edit, language: Rust, lines_added: 3, lines_removed: 1, source: user_permanent}
      - edit: {tool: Write, language: Rust, lines_added: 9, decision: reject, source: user_abort}
      - api_error: {error: "Connection error.", attempt: 2, duration_ms: 5000, total_retry_duration_ms: 11000}
      - api_error: {status_code: 500, attempt: 1, duration_ms: 800, model: claude-haiku-4-5, speed: fast}
      - tool: {name: mcp__acme__lookup, tool_source: mcp, success: false, error_type: Timeout,
               duration_ms: 30000}
      - tool: {name: Bash, decision: reject, source: user_reject}
      - commit: {source: user_temporary}
      - commit: {}
      - active: {user: 1m5.5s}
  - user: {email: dev@example.com}
    start_at: 2m
    safe_mode: true
    terminal_type: null
    query_source: sdk
    steps:
      - prompt: {length: 10}
      - api_request: {input_tokens: 10, output_tokens: 10, cost_usd: 0.0001}
      - pull_request: {}
"""


def _record(args: list[str], *, logs: bool = True, cwd=None, **env: str):
    """Run the real CLI into a fresh OTLP sink: (points, events, totals) it received."""
    sink = OtlpSink().start()
    try:
        proc = run_cli(["run", *args, "--instant"], otlp_env(sink.endpoint, logs=logs, **env), cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        return sink.points(), sink.events(), sink.tally().totals()
    finally:
        sink.stop()


def _round_trip(tmp_path: Path, args: list[str], *, replay_args: tuple[str, ...] = (), logs=True, **env):
    points, events, recorded = _record(args, logs=logs, **env)
    result = build_scenario(points, events)
    path = tmp_path / "recorded.yaml"
    path.write_text(result.yaml)
    _, _, replayed = _record([str(path), *replay_args], logs=logs, **env)
    return result, recorded, replayed, (points, events)


def _differences(a: Totals, b: Totals) -> list:
    keys = sorted(set(a.metrics) | set(b.metrics), key=repr)
    out = [(k, a.metrics.get(k), b.metrics.get(k)) for k in keys if a.metrics.get(k) != b.metrics.get(k)]
    if a.events != b.events:
        out.append(("events", a.events, b.events))
    return out[:5]


def _session_ids(points, events) -> set[str]:
    return {
        dict(x.attributes)["session.id"] for x in [*points, *events] if "session.id" in dict(x.attributes)
    }


@pytest.mark.parametrize("name", ["quickstart", "feature-branch", "failures", "team-day"])
def test_a_recorded_bundled_scenario_replays_to_the_same_totals(tmp_path, name):
    result, recorded, replayed, (points, events) = _round_trip(tmp_path, [name])
    assert replayed.equals(recorded), _differences(recorded, replayed)
    assert result.sessions == len(_session_ids(points, events))
    assert result.source == ["events"] * result.sessions
    # Nothing was lost in between, so there is nothing to warn about.
    assert result.warnings == []
    assert "Recorded by claude-telemetry record" in result.yaml.splitlines()[0]


def test_a_metrics_only_recording_gives_back_the_metric_totals(tmp_path):
    result, recorded, replayed, _ = _round_trip(tmp_path, ["team-day"], logs=False)
    assert recorded.events == {} and recorded.metrics
    assert replayed.equals(recorded), _differences(recorded, replayed)
    assert set(result.source) == {"metrics"}
    assert any("events the recording did not have" in w for w in result.warnings)
    assert "from metrics only" in result.yaml


def test_cumulative_points_are_read_at_their_latest_value_not_added_up(tmp_path):
    result, recorded, replayed, (points, _) = _round_trip(
        tmp_path, ["feature-branch"], OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="cumulative"
    )
    # Every export resends every series: adding them up would count the session several times.
    assert len(points) > len(recorded.metrics)
    assert {p.temporality for p in points} == {"cumulative"}
    assert replayed.equals(recorded), _differences(recorded, replayed)
    assert result.env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] == "cumulative"


def test_the_2025_05_profile_round_trips_and_the_file_says_to_replay_with_it(tmp_path):
    result, recorded, replayed, _ = _round_trip(
        tmp_path, ["team-day", "--profile", "2025-05"], replay_args=("--profile", "2025-05")
    )
    assert replayed.equals(recorded), _differences(recorded, replayed)
    assert result.profile == "2025-05"
    assert "--profile 2025-05" in result.yaml


def test_session_ids_and_user_identity_survive_the_round_trip(tmp_path):
    identity = ("user.id", "user.email", "organization.id", "user.account_uuid", "user.account_id")
    _, _, _, recorded = _round_trip(tmp_path, ["team-day"])
    points, events, _ = _record([str(tmp_path / "recorded.yaml")])

    def who(points, events) -> dict[str, tuple]:
        out = {}
        for e in [*events, *points]:
            a = dict(e.attributes)
            out.setdefault(a["session.id"], tuple(a.get(k) for k in identity))
        return out

    before, after = who(*recorded), who(points, events)
    assert len(before) == 29
    assert after == before


def test_metrics_without_session_id_are_shared_among_that_users_sessions(tmp_path):
    result, recorded, replayed, _ = _round_trip(
        tmp_path, ["team-day"], OTEL_METRICS_INCLUDE_SESSION_ID="false"
    )
    assert replayed.equals(recorded), _differences(recorded, replayed)
    assert result.sessions == 29
    assert any("no session.id" in w for w in result.warnings)
    assert result.env["OTEL_METRICS_INCLUDE_SESSION_ID"] == "false"


def test_resource_attributes_are_named_for_the_replay_since_no_scenario_can_set_them(tmp_path):
    env = {"OTEL_RESOURCE_ATTRIBUTES": "team=plat form,env=dev"}
    points, events, recorded = _record(["feature-branch"], **env)
    result = build_scenario(points, events)
    assert "#   OTEL_RESOURCE_ATTRIBUTES=team=plat%20form,env=dev" in result.yaml
    assert any("OTEL_RESOURCE_ATTRIBUTES=team=plat%20form,env=dev" in w for w in result.warnings)
    path = tmp_path / "recorded.yaml"
    path.write_text(result.yaml)
    # Replayed with the variable the file names, the pairs come back on every point.
    _, _, replayed = _record([str(path)], **result.env)
    assert replayed.equals(recorded), _differences(recorded, replayed)


def test_a_varied_session_round_trips_with_query_sources_speed_attribution_and_edit_models(tmp_path):
    source = tmp_path / "varied.yaml"
    source.write_text(VARIED)
    result, recorded, replayed, _ = _round_trip(tmp_path, [str(source)])
    assert replayed.equals(recorded), _differences(recorded, replayed)
    assert result.warnings == []
    scenario = load_scenario_text(result.yaml)
    first, second = scenario.sessions
    assert (first.start_type, first.provider, first.os_type, first.permission_mode) == (
        "resume",
        "bedrock",
        "darwin",
        "acceptEdits",
    )
    assert [p.name for p in first.plugins] == ["cc-plugin-privacy", "acme-tools"]
    assert second.safe_mode and second.terminal_type is None and second.query_source == "sdk"
    requests = [s.api_request for s in first.steps if s.api_request]
    assert [(r.query_source, r.event_query_source, r.speed) for r in requests] == [
        ("main", None, "normal"),
        ("subagent", "Explore", "normal"),
        ("auxiliary", "compact", "normal"),
        ("main", None, "fast"),
        ("main", None, "normal"),
        ("auxiliary", "summarize", "normal"),
    ]
    assert requests[0].effort == "high" and requests[3].skill_name == "pdf"
    # The subagent's lines are credited to its model although a main-thread request came last.
    assert any(s.edit and s.edit.model == "claude-haiku-4-5" for s in first.steps)
    errors = [s.api_error for s in first.steps if s.api_error]
    assert [(e.status_code, e.attempt, e.total_retry_duration_ms) for e in errors] == [
        (None, 2, 11000),
        (500, 1, None),
    ]
    assert [s.kind for s in second.steps] == ["prompt", "api_request", "pull_request"]


def test_the_same_input_gives_the_same_file_whatever_the_arrival_order():
    points, events, _ = _record(["failures"])
    first = build_scenario(points, events).yaml
    assert build_scenario(points, events).yaml == first
    assert build_scenario(points[::-1], events[::-1]).yaml == first


def test_nothing_received_gives_a_clear_warning_not_an_error():
    empty = build_scenario([], [])
    assert empty.sessions == 0 and empty.source == []
    assert empty.warnings and "No Claude Code session was recorded" in empty.warnings[-1]
    assert empty.yaml.startswith("#")
    other = DecodedPoint(
        "http.server.duration",
        "",
        "ms",
        "sum",
        "delta",
        True,
        1.0,
        True,
        (),
        1,
        2,
        (("service.name", "web"),),
        "x",
        "",
    )
    unrelated = build_scenario([other], [])
    assert unrelated.sessions == 0
    assert "not Claude Code telemetry" in " ".join(unrelated.warnings)


def _capture(capture: Path = CAPTURE) -> tuple[list[DecodedPoint], list[DecodedEvent]]:
    points, events = [], []
    for request in json.loads(capture.read_text())["requests"]:
        body = request["body"]
        if "resourceMetrics" in body:
            points += decode_metrics(ParseDict(body, ExportMetricsServiceRequest()))
        elif "resourceLogs" in body:
            events += decode_logs(ParseDict(body, ExportLogsServiceRequest()))
    return points, events


def test_the_real_client_capture_becomes_the_session_it_was():
    points, events = _capture()
    result = build_scenario(points, events, name="real-client")
    assert result.warnings == []
    scenario = load_scenario_text(result.yaml)
    (session,) = scenario.sessions
    assert (session.model, session.effort, session.query_source, session.permission_mode) == (
        "claude-opus-5-5",
        "medium",
        "sdk",
        "bypassPermissions",
    )
    assert session.custom_base_url and session.os_version == "6.18.44-fc-v657"
    kinds = [s.kind for s in session.steps if s.kind != "wait"]
    assert kinds.count("api_request") == 4 and kinds.count("commit") == 1
    assert [(s.edit.tool, s.edit.language) for s in session.steps if s.edit] == [
        ("Write", "Python"),
        ("Edit", "Python"),
    ]
    assert [s.api_request.cost_usd for s in session.steps if s.api_request] == [
        0.0033,
        0.00216,
        0.0023200000000000004,
        0.00248,
    ]
    # Compiled, it gives exactly the sums the real client sent.
    timeline = compile_scenario(scenario, EmitOptions())
    ours = Totals.from_records(r for r in timeline.records if r.signal == METRIC)
    assert ours.equals(Totals(metric_totals(points)))


def test_an_older_clients_capture_replays_in_its_own_shape_without_caveats():
    points, events = _capture(CAPTURE.with_name("real-client-2.1.197-session.json"))
    result = build_scenario(points, events, name="older-client")
    # Its version's profile explains every difference from the newest client: nothing to warn about.
    assert result.warnings == []
    scenario = load_scenario_text(result.yaml)
    (session,) = scenario.sessions
    assert session.app_version == "2.1.197" and session.model == "claude-opus-4-8"
    timeline = compile_scenario(scenario, EmitOptions())
    ours = Totals.from_records(r for r in timeline.records if r.signal == METRIC)
    assert ours.equals(Totals(metric_totals(points)))
    assert sorted(r.name for r in timeline.records if r.signal == EVENT) == sorted(e.name for e in events)


def _as_received(timeline, base_ns: int = 1_800_000_000 * 10**9):
    """What an ideal receiver decodes from a compiled timeline: every record at its scenario time."""
    points, events = [], []
    for r in timeline.records:
        info = timeline.sessions[r.session]
        at = base_ns + round(r.at * 1e9)
        if r.signal == EVENT:
            events.append(
                DecodedEvent(
                    f"claude_code.{r.name}", r.attributes, at, at, 0, info.resource, LOGGER_NAME, "1"
                )
            )
        else:
            points.append(
                DecodedPoint(
                    r.name,
                    "",
                    "",
                    "sum",
                    "delta",
                    True,
                    r.value,
                    True,
                    r.attributes,
                    at,
                    at,
                    info.resource,
                    METER_NAME,
                    "1",
                )
            )
    return points, events


def test_waits_and_session_starts_follow_the_recorded_times():
    original = load_scenario_text(
        "version: 1\nsessions:\n"
        "  - steps:\n      - prompt: {length: 5}\n      - api_request: {duration_ms: 3000}\n"
        "      - wait: 40s\n      - prompt: {length: 6}\n"
        "  - start_at: 10m\n    steps:\n      - prompt: {length: 7}\n"
    )
    result = build_scenario(*_as_received(compile_scenario(original)))
    first, second = load_scenario_text(result.yaml).sessions
    assert [s.wait for s in first.steps if s.kind == "wait"] == [40.0]
    assert second.start_at == 600.0


def test_session_id_is_used_as_given_and_only_for_one_process():
    text = "version: 1\nsessions:\n  - session_id: 0b6f3c2a-1d4e-4f5a-8b9c-7d6e5f4a3b2c\n{extra}"
    timeline = compile_scenario(load_scenario_text(text.format(extra="")))
    assert timeline.sessions[0].session_id == "0b6f3c2a-1d4e-4f5a-8b9c-7d6e5f4a3b2c"
    with pytest.raises(ScenarioError, match="t.yaml:3: .*session_id names one process.*repeat: 2"):
        load_scenario_text(text.format(extra="    repeat: 2\n"), "t.yaml")
    twice = text.format(extra="  - session_id: 0b6f3c2a-1d4e-4f5a-8b9c-7d6e5f4a3b2c\n")
    with pytest.raises(ScenarioError, match="never share one session.id"):
        load_scenario_text(twice, "t.yaml")


def test_an_edit_model_credits_its_lines_to_that_model():
    timeline = compile_scenario(
        load_scenario_text(
            "version: 1\nsessions:\n  - steps:\n      - api_request: {}\n"
            "      - edit: {lines_added: 4, model: claude-haiku-4-5}\n      - edit: {lines_added: 1}\n"
        )
    )
    lines = {
        (dict(r.attributes)["model"], dict(r.attributes)["type"]): r.value
        for r in timeline.records
        if r.name == "claude_code.lines_of_code.count" and r.value
    }
    assert lines == {("claude-haiku-4-5", "added"): 4.0, ("claude-sonnet-4-5", "added"): 1.0}


@pytest.mark.parametrize(
    ("subsystem", "metric"),
    [("repl_main_thread", "main"), ("sdk", "main"), ("compact", "auxiliary"), ("Explore", "subagent")],
)
def test_event_subsystems_map_to_the_metric_query_source(subsystem, metric):
    assert metric_query_source(subsystem) == metric
