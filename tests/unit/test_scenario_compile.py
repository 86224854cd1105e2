"""Compiling scenarios: what each step puts on the wire, the include switches, content gates and profiles."""

from __future__ import annotations

import json

import pytest

from claude_telemetry_cli.contract import PROFILES, price_request
from claude_telemetry_cli.contract.profiles import MODEL_PRICES
from claude_telemetry_cli.errors import ScenarioError
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.records import EVENT, METRIC, Timeline
from claude_telemetry_cli.scenario import compile_scenario, load_scenario_text, scenario_summary
from claude_telemetry_cli.scenario.compile.steps import STEP_HANDLERS
from claude_telemetry_cli.scenario.model import STEP_KINDS, ApiRequest, Scenario, Session, Step

IDENTITY = """\
version: 1
name: t
seed: 5
sessions:
  - user:
      email: dev@example.com
      organization_id: 3f1c9a2e-0a7d-4d7e-9d55-2f1f5c7e8b10
      account_uuid: 0b6f3c2a-1d4e-4f5a-8b9c-7d6e5f4a3b2c
      account_id: user_01AbCdEf
    app_version: 2.1.332
    entrypoint: sdk-cli
    terminal_type: vscode
    steps:
"""


def _compile(steps: str, options: EmitOptions | None = None, head: str = IDENTITY) -> Timeline:
    return compile_scenario(load_scenario_text(head + steps, "t.yaml"), options or EmitOptions())


def _events(timeline: Timeline, name: str | None = None) -> list[dict]:
    return [dict(r.attributes) for r in timeline.records if r.signal == EVENT and name in (None, r.name)]


def _points(timeline: Timeline, name: str) -> list[tuple[float, dict]]:
    return [(r.value, dict(r.attributes)) for r in timeline.records if r.signal == METRIC and r.name == name]


EDIT = "      - edit: {tool: Edit, language: Python, lines_added: 5, lines_removed: 2}\n"
BASIC = (
    """\
      - prompt: {length: 42, text: "Add a --verbose flag to the CLI, please!!!"}
      - api_request: {input_tokens: 1000, output_tokens: 200, cache_read_tokens: 5000,
                      cache_creation_tokens: 700, duration_ms: 3000, response_length: 12}
"""
    + EDIT
    + """\
      - tool: {name: Bash, duration_ms: 800, success: false, error: "exit 1", parameters: {command: pytest}}
      - commit: {}
"""
)


def test_standard_attributes_in_wire_order_on_points_and_events():
    timeline = _compile(BASIC)
    ((_, point),) = _points(timeline, "claude_code.session.count")
    assert list(point) == [
        "user.id",
        "session.id",
        "organization.id",
        "user.email",
        "user.account_uuid",
        "user.account_id",
        "anthropic.provider",
        "anthropic.custom_base_url",
        "terminal.type",
        "start_type",
    ]
    assert point["anthropic.custom_base_url"] is False and point["terminal.type"] == "vscode"
    prompt = _events(timeline, "user_prompt")[0]
    assert list(prompt)[:13] == [
        "user.id",
        "session.id",
        "organization.id",
        "user.email",
        "user.account_uuid",
        "user.account_id",
        "anthropic.provider",
        "anthropic.custom_base_url",
        "terminal.type",
        "event.name",
        "event.sequence",
        "prompt.id",
        "prompt_length",
    ]
    assert "event.timestamp" not in prompt


def test_include_switches_shape_metrics_and_leave_events_whole():
    off = EmitOptions(
        include_session_id=False,
        include_account_uuid=False,
        include_resource_attributes=False,
        resource_attributes=(("team", "core"), ("user.email", "spoof@example.com")),
    )
    timeline = _compile(BASIC, off)
    for _, point in _points(timeline, "claude_code.token.usage"):
        assert not {"session.id", "user.account_uuid", "user.account_id", "team", "app.version"} & set(point)
        assert point["user.email"] == "dev@example.com"
    for event in _events(timeline):
        assert {"session.id", "user.account_uuid", "user.account_id"} <= set(event)
        # Resource pairs always reach events, before the built-ins (as on the resource) and never
        # replacing one: a built-in key keeps the pair's place with its own value.
        assert event["team"] == "core" and event["user.email"] == "dev@example.com"
        assert list(event)[:3] == ["team", "user.email", "user.id"]

    on = EmitOptions(include_version=True, include_entrypoint=True, resource_attributes=(("team", "core"),))
    timeline = _compile(BASIC, on)
    for _, point in _points(timeline, "claude_code.cost.usage"):
        assert list(point)[:5] == ["team", "user.id", "session.id", "app.version", "app.entrypoint"]
        assert (point["app.version"], point["app.entrypoint"], point["team"]) == (
            "2.1.332",
            "sdk-cli",
            "core",
        )
    assert all(e["app.version"] == "2.1.332" and e["app.entrypoint"] == "sdk-cli" for e in _events(timeline))


def test_resource_puts_otel_resource_attributes_first_and_built_ins_win():
    options = EmitOptions(resource_attributes=(("deployment.environment", "prod"), ("service.name", "mine")))
    (session,) = _compile(BASIC, options).sessions
    assert session.resource == (
        ("deployment.environment", "prod"),
        ("service.name", "claude-code"),
        ("host.arch", "amd64"),
        ("os.type", "linux"),
        ("os.version", "6.8.0"),
        ("service.version", "2.1.332"),
    )


def test_api_request_emits_cost_four_token_points_and_events():
    timeline = _compile(BASIC)
    expected_cost = price_request(MODEL_PRICES["claude-sonnet-4-5"], 1000, 200, 5000, 700)
    ((cost, attributes),) = _points(timeline, "claude_code.cost.usage")
    assert cost == expected_cost
    assert {k: attributes[k] for k in ("model", "query_source")} == {
        "model": "claude-sonnet-4-5",
        "query_source": "main",
    }
    assert "speed" not in attributes and "effort" not in attributes
    tokens = _points(timeline, "claude_code.token.usage")
    assert [(p["type"], v) for v, p in tokens] == [
        ("input", 1000.0),
        ("output", 200.0),
        ("cacheRead", 5000.0),
        ("cacheCreation", 700.0),
    ]
    (request,) = _events(timeline, "api_request")
    assert request["cost_usd"] == expected_cost
    assert (
        request["cost_usd_micros"] == round(expected_cost * 1e6) and type(request["cost_usd_micros"]) is int
    )
    assert (request["speed"], request["query_source"]) == ("normal", "repl_main_thread")
    (response,) = _events(timeline, "assistant_response")
    assert response["response_length"] == 12 and response["response"] == "<REDACTED>"
    assert response["request_id"] == request["request_id"]


def test_fast_mode_effort_and_attribution_reach_cost_and_tokens():
    timeline = _compile(
        "      - api_request: {speed: fast, effort: max, query_source: subagent, "
        "agent_name: reviewer, mcp_tool_name: search, event_query_source: reviewer, text: false}\n"
    )
    for _, point in _points(timeline, "claude_code.cost.usage") + _points(
        timeline, "claude_code.token.usage"
    ):
        assert {k: point[k] for k in ("speed", "effort", "query_source", "agent.name", "mcp_tool.name")} == {
            "speed": "fast",
            "effort": "max",
            "query_source": "subagent",
            "agent.name": "reviewer",
            "mcp_tool.name": "search",
        }
        assert "skill.name" not in point
    (request,) = _events(timeline, "api_request")
    assert (request["speed"], request["query_source"], request["agent.name"]) == (
        "fast",
        "reviewer",
        "reviewer",
    )
    # A tool-only response (text: false) has no text, hence no assistant_response.
    assert _events(timeline, "assistant_response") == []


def test_custom_prices_price_their_model():
    head = IDENTITY.replace("seed: 5\n", "seed: 5\nprices:\n  house-model: {input: 2, output: 10}\n")
    timeline = _compile(
        "      - api_request: {model: house-model, input_tokens: 1000, output_tokens: 100, "
        "cache_read_tokens: 1000, cache_creation_tokens: 1000}\n",
        head=head,
    )
    ((cost, _),) = _points(timeline, "claude_code.cost.usage")
    # Unset cache prices follow the input price: 0.1x to read, 1.25x to write.
    assert cost == pytest.approx((1000 * 2 + 100 * 10 + 1000 * 0.2 + 1000 * 2.5) / 1e6)


def test_accepted_edit_counts_lines_with_the_model_that_made_them():
    timeline = _compile("      - api_request: {model: claude-opus-4-5}\n" + EDIT)
    decision, result = _events(timeline, "tool_decision")[0], _events(timeline, "tool_result")[0]
    assert decision["tool_use_id"] == result["tool_use_id"]
    assert decision["request_id"] == result["request_id"] == _events(timeline, "api_request")[0]["request_id"]
    assert (decision["tool_source"], decision["permission_mode"]) == ("builtin", "default")
    assert (result["success"], result["duration_ms"]) == ("true", "10")
    ((_, edit_decision),) = _points(timeline, "claude_code.code_edit_tool.decision")
    assert list(edit_decision)[-4:] == ["decision", "source", "tool_name", "language"]
    assert [(v, p["type"], p["model"]) for v, p in _points(timeline, "claude_code.lines_of_code.count")] == [
        (5.0, "added", "claude-opus-4-5"),
        (2.0, "removed", "claude-opus-4-5"),
    ]


def test_rejected_edits_and_tools_decide_but_never_run():
    timeline = _compile(
        "      - edit: {decision: reject, source: user_abort, lines_added: 9}\n"
        "      - tool: {name: Bash, decision: reject}\n"
    )
    assert [(e["tool_name"], e["decision"], e["source"]) for e in _events(timeline, "tool_decision")] == [
        ("Edit", "reject", "user_abort"),
        ("Bash", "reject", "user_reject"),
    ]
    assert _events(timeline, "tool_result") == []
    assert _points(timeline, "claude_code.lines_of_code.count") == []
    assert [p["decision"] for _, p in _points(timeline, "claude_code.code_edit_tool.decision")] == ["reject"]


def test_a_failing_tool_reports_its_error_type_and_details_only_when_allowed():
    quiet = _events(_compile(BASIC), "tool_result")[1]
    assert (quiet["tool_name"], quiet["success"], quiet["error_type"]) == ("Bash", "false", "ShellError")
    assert "error" not in quiet and "tool_parameters" not in quiet
    detailed = _compile(BASIC, EmitOptions(log_tool_details=True))
    decision, result = _events(detailed, "tool_decision")[1], _events(detailed, "tool_result")[1]
    assert (
        json.loads(decision["tool_parameters"])
        == json.loads(result["tool_parameters"])
        == {"command": "pytest"}
    )
    assert result["error"] == "exit 1"


def test_commit_and_pull_request_go_through_bash():
    timeline = _compile(
        "      - commit: {}\n      - pull_request: {command: gh pr create --draft}\n",
        EmitOptions(log_tool_details=True),
    )
    assert [e["tool_name"] for e in _events(timeline, "tool_result")] == ["Bash", "Bash"]
    assert [v for v, _ in _points(timeline, "claude_code.commit.count")] == [1.0]
    assert [v for v, _ in _points(timeline, "claude_code.pull_request.count")] == [1.0]
    commit_result, pr_result = (json.loads(e["tool_parameters"]) for e in _events(timeline, "tool_result"))
    assert commit_result["bash_command"] == "git" and len(commit_result["git_commit_id"]) == 40
    assert pr_result["full_command"] == "gh pr create --draft" and "git_commit_id" not in pr_result
    # The count lands at the tool's result, not at its decision.
    commit_at = next(r.at for r in timeline.records if r.name == "claude_code.commit.count")
    result_at = next(r.at for r in timeline.records if r.name == "tool_result")
    assert commit_at == result_at


def test_api_errors_report_status_attempts_and_exhausted_retries_but_no_cost():
    timeline = _compile(
        "      - api_error: {status_code: 429, attempt: 3, duration_ms: 200}\n"
        "      - api_error: {attempt: 2, duration_ms: 1000, effort: low}\n"
        "      - api_error: {status_code: 529}\n"
    )
    errors = _events(timeline, "api_error")
    assert [(e.get("status_code"), e["error"], e["attempt"]) for e in errors] == [
        (429, "Rate limited", 3),
        (None, "Connection error.", 2),
        (529, "Overloaded", 1),
    ]
    assert errors[1]["effort"] == "low" and "effort" not in errors[0]
    exhausted = _events(timeline, "api_retries_exhausted")
    # 3 attempts of 200 ms plus 500 ms and 1 s of backoff.
    assert [(e.get("status_code"), e["total_attempts"], e["total_retry_duration_ms"]) for e in exhausted] == [
        (429, 3, 2100),
        (None, 2, 2500),
    ]
    assert _points(timeline, "claude_code.cost.usage") == _points(timeline, "claude_code.token.usage") == []


def test_active_time_reports_only_the_kinds_given_in_seconds():
    timeline = _compile("      - active: {user: 1m30s}\n      - active: {cli: 250ms, user: 2s}\n")
    assert [(v, p["type"]) for v, p in _points(timeline, "claude_code.active_time.total")] == [
        (90.0, "user"),
        (2.0, "user"),
        (0.25, "cli"),
    ]


def test_content_gates_reveal_prompts_and_responses():
    scripted = (
        "      - prompt: {text: Fix the flaky test}\n      - prompt: {length: 57}\n"
        "      - api_request: {text: Done., input_tokens: 3}\n      - api_request: {response_length: 33}\n"
    )
    redacted = _compile(scripted)
    for prompt in _events(redacted, "user_prompt"):
        assert prompt["prompt"] == prompt["prompt_text"] == "<REDACTED>"
    assert [p["prompt_length"] for p in _events(redacted, "user_prompt")] == ["18", "57"]

    revealed = _compile(scripted, EmitOptions(log_user_prompts=True))
    first, second = _events(revealed, "user_prompt")
    assert first["prompt"] == first["prompt_text"] == "Fix the flaky test"
    assert len(second["prompt"]) == 57 and second["prompt"] != "<REDACTED>"
    # Responses follow OTEL_LOG_USER_PROMPTS while OTEL_LOG_ASSISTANT_RESPONSES is unset.
    answers = [e["response"] for e in _events(revealed, "assistant_response")]
    assert answers[0] == "Done." and len(answers[1]) == 33
    kept = _compile(scripted, EmitOptions(log_user_prompts=True, log_assistant_responses=False))
    assert {e["response"] for e in _events(kept, "assistant_response")} == {"<REDACTED>"}
    # Revealing content never changes an id.
    assert [e["prompt.id"] for e in _events(redacted)[4:]] == [e["prompt.id"] for e in _events(revealed)[4:]]


def test_event_sequence_and_prompt_id_follow_the_session():
    timeline = _compile(
        "      - api_request: {}\n      - prompt: {}\n      - api_request: {}\n"
        "      - prompt: {}\n      - tool: {name: Read}\n"
    )
    events = _events(timeline)
    assert [e["event.sequence"] for e in events] == list(range(len(events)))
    names = [e["event.name"] for e in events]
    assert names[:4] == ["managed_settings_resolved", "plugin_loaded", "plugin_loaded", "plugin_loaded"]
    before_prompt = events[: names.index("user_prompt")]
    assert all("prompt.id" not in e for e in before_prompt)
    current = None
    for event in events:
        if event["event.name"] == "user_prompt":
            assert event["prompt.id"] != current
            current = event["prompt.id"]
        assert event.get("prompt.id") == current, event["event.name"]
    assert names.count("user_prompt") == 2 and current is not None


def test_startup_events_and_the_retention_sweep():
    timeline = _compile("      - prompt: {}\n")
    managed = _events(timeline, "managed_settings_resolved")[0]
    assert managed["managed_settings.sources"] == () and managed["managed_settings.trigger"] == "startup"
    plugins = _events(timeline, "plugin_loaded")
    assert [p["plugin.name"] for p in plugins] == [
        "cc-plugin-agents-md",
        "cc-plugin-privacy",
        "cc-plugin-plugin-authoring",
    ]
    assert all(p["has_hooks"] is True and p["skill_path_count"] == 0 for p in plugins)
    # A session that ends before the sweep's 5.03-5.15 s sends none.
    (session,) = timeline.sessions
    assert session.end_at < 5 and _events(timeline, "retention_sweep") == []
    none = _compile("      - wait: 10s\n", head=IDENTITY.replace("    steps:", "    plugins: []\n    steps:"))
    assert _events(none, "plugin_loaded") == []
    (sweep,) = (r for r in none.records if r.name == "retention_sweep")
    assert 5.03 <= sweep.at <= 5.15
    assert dict(sweep.attributes)["period_days"] == "30"


def test_profile_2025_05_has_no_events_and_only_its_attributes():
    timeline = _compile(
        BASIC + "      - active: {user: 3s}\n", EmitOptions(profile="2025-05", include_version=True)
    )
    assert timeline.profile == "2025-05"
    assert {r.signal for r in timeline.records} == {METRIC}
    assert {r.name for r in timeline.records} == {
        "claude_code.session.count",
        "claude_code.cost.usage",
        "claude_code.token.usage",
        "claude_code.lines_of_code.count",
        "claude_code.commit.count",
    }
    standard = ["session.id", "app.version", "organization.id", "user.account_uuid"]
    ((_, count),) = _points(timeline, "claude_code.session.count")
    assert list(count) == standard
    assert [list(p) for _, p in _points(timeline, "claude_code.token.usage")] == [
        standard + ["model", "type"]
    ] * 4
    assert [list(p) for _, p in _points(timeline, "claude_code.lines_of_code.count")] == [
        standard + ["type"]
    ] * 2
    # Same scenario, same ids, whatever the profile.
    current = _compile(BASIC)
    assert timeline.sessions[0].session_id == current.sessions[0].session_id


def test_repeats_are_separate_processes_of_the_same_user():
    head = IDENTITY.replace(
        "    steps:", "    repeat: 3\n    repeat_every: 1m\n    start_at: 10s\n    steps:"
    )
    timeline = _compile("      - api_request: {}\n", head=head)
    assert [(s.start_at, s.label) for s in timeline.sessions] == [
        (10.0, "sessions[0]#1"),
        (70.0, "sessions[0]#2"),
        (130.0, "sessions[0]#3"),
    ]
    assert len({s.session_id for s in timeline.sessions}) == 3
    users = {dict(r.attributes)["user.id"] for r in timeline.records}
    assert len(users) == 1
    assert [r.at for r in timeline.records] == sorted(r.at for r in timeline.records)
    assert timeline.totals().metric_sums()["claude_code.session.count"] == 3.0


def test_same_seed_same_timeline_and_another_seed_other_ids():
    first, again = _compile(BASIC), _compile(BASIC)
    assert first == again
    other = _compile(BASIC, head=IDENTITY.replace("seed: 5", "seed: 6"))
    assert other.sessions[0].session_id != first.sessions[0].session_id
    assert other.totals().equals(first.totals()) is False  # user.id differs, so series differ
    assert other.totals().metric_sums() == first.totals().metric_sums()


def test_ids_look_like_claude_codes():
    timeline = _compile(BASIC)
    event = _events(timeline, "tool_result")[0]
    user_id = event["user.id"]
    assert len(user_id) == 64 and int(user_id, 16) >= 0
    assert event["session.id"][14] == "4"  # a version-4 UUID
    assert len(event["request_id"]) == len("req_") + 24 and len(event["tool_use_id"]) == len("toolu_") + 24


def test_every_value_has_the_contract_type():
    python_type = {"string": str, "int": int, "double": float, "bool": bool, "string[]": tuple}
    profile = PROFILES["current"]
    timeline = _compile(
        BASIC + "      - api_error: {status_code: 500, attempt: 2}\n",
        EmitOptions(log_tool_details=True, log_user_prompts=True),
    )
    for record in timeline.records:
        if record.signal == EVENT:
            spec = {a.key: a.type for a in profile.events[record.name].attributes}
            own = dict(record.attributes[list(dict(record.attributes)).index("event.sequence") + 1 :])
            own.pop("prompt.id", None)
            for key, value in own.items():
                assert type(value) is python_type[spec[key]], (record.name, key)
        else:
            assert set(dict(record.attributes)) - {a.key for a in profile.standard_attributes} <= set(
                profile.metrics[record.name].attribute_keys
            )


def test_an_unknown_model_is_refused_when_compiling_a_hand_built_scenario():
    scenario = Scenario(
        version=1,
        name="hand",
        sessions=[Session(model="gpt-9", steps=[Step(api_request=ApiRequest(input_tokens=5))])],
    )
    with pytest.raises(
        ScenarioError, match=r"^hand: sessions\[0\]\.steps\[0\]\.api_request: unknown model 'gpt-9'"
    ):
        compile_scenario(scenario)


def test_summary_counts_repeats_and_knows_the_duration():
    head = IDENTITY.replace("    steps:", "    repeat: 2\n    repeat_every: 30s\n    steps:")
    scenario = load_scenario_text(
        head + "      - prompt: {}\n      - api_request: {duration_ms: 4000}\n      - wait: 1m\n", "t.yaml"
    )
    summary = scenario_summary(scenario)
    assert (summary["sessions"], summary["session_entries"], summary["users"]) == (2, 1, 1)
    assert summary["steps"] == {"prompt": 2, "api_request": 2, "wait": 2}
    assert summary["models"] == ["claude-sonnet-4-5"]
    timeline = compile_scenario(scenario)
    # The second copy starts 30 s in; start-up 100 ms, the request 4 s, the wait 1 min, the exit 10 ms.
    assert timeline.duration == pytest.approx(30 + 0.1 + 4 + 60 + 0.01)
    assert summary["duration_seconds"] == pytest.approx(timeline.duration)


def test_every_step_kind_has_one_handler():
    assert sorted(STEP_HANDLERS) == sorted(STEP_KINDS)
