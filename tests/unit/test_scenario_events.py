"""The full event catalogue: each contract event comes from a step, with the contract's keys, types, gates."""

from __future__ import annotations

import json
import re

import pytest

from claude_telemetry_cli.contract import PROFILES
from claude_telemetry_cli.contract.profiles import PLUGIN_METRIC_KEY_PATTERN
from claude_telemetry_cli.errors import ScenarioError
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.records import EVENT, METRIC, Timeline
from claude_telemetry_cli.scenario import compile_scenario, load_scenario_text, session_length

CONTRACT = PROFILES["current"].events
PYTHON_TYPE = {"string": str, "int": int, "double": float, "bool": bool, "string[]": tuple}
DETAILS = "OTEL_LOG_TOOL_DETAILS"
EVERYTHING = EmitOptions(log_tool_details=True, log_user_prompts=True, log_assistant_responses=True)


def _scenario(steps: str = "", session: str = "") -> str:
    """One session: `session` holds its fields, `steps` its steps, both written unindented."""
    fields = "".join(f"    {line}\n" for line in session.splitlines())
    body = "".join(f"      {line}\n" for line in steps.splitlines())
    head = "version: 1\nname: t\nseed: 9\nsessions:\n  - model: claude-sonnet-4-5\n"
    return f"{head}{fields}    steps:\n{body or '      []'}\n"


def _compile(steps: str = "", session: str = "", options: EmitOptions | None = None) -> Timeline:
    return compile_scenario(load_scenario_text(_scenario(steps, session), "t.yaml"), options or EmitOptions())


def _events(timeline: Timeline, name: str | None = None) -> list[dict]:
    return [dict(r.attributes) for r in timeline.records if r.signal == EVENT and name in (None, r.name)]


def _own(event: dict) -> dict:
    """The event's own attributes: those after event.sequence (and prompt.id)."""
    keys = list(event)
    own = {k: event[k] for k in keys[keys.index("event.sequence") + 1 :]}
    own.pop("prompt.id", None)
    return own


# One scenario per event that produces it: (session fields, steps). A contract event with no entry here
# fails test_every_contract_event_has_a_producing_step.
PRODUCERS = {
    "user_prompt": ("", "- prompt: {}"),
    "api_request": ("", "- api_request: {}"),
    "assistant_response": ("", "- api_request: {text: Hi}"),
    "api_error": ("", "- api_error: {status_code: 500}"),
    "api_retries_exhausted": ("", "- api_error: {attempt: 2}"),
    "tool_decision": ("", "- api_request: {}\n- tool: {name: Read}"),
    "tool_result": ("", "- api_request: {}\n- tool: {name: Read}"),
    "managed_settings_resolved": ("", ""),
    "plugin_loaded": ("", ""),
    # The sweep comes about 5.1 s in: a shorter session ends before it.
    "retention_sweep": ("", "- wait: 6s"),
    "api_refusal": ("", "- api_refusal: {}"),
    "api_request_body": ("log_raw_api_bodies: 1", "- api_request: {}"),
    "api_response_body": ("log_raw_api_bodies: 1", "- api_request: {}"),
    "permission_mode_changed": ("", "- permission_mode: {to: acceptEdits}"),
    "auth": ("", "- auth: {}"),
    "mcp_server_connection": ("", "- mcp_connect: {server: github}"),
    "internal_error": ("", "- internal_error: {}"),
    "plugin_installed": (
        "",
        "- plugin_install: {name: commit-commands, marketplace: claude-plugins-official}",
    ),
    "skill_activated": ("", "- skill: {name: pdf}"),
    "at_mention": ("", "- at_mention: {}"),
    "hook_registered": ("hooks: [{event: PreToolUse}]", ""),
    "hook_execution_start": ("", "- hook: {event: PreToolUse}"),
    "hook_execution_complete": ("", "- hook: {event: PreToolUse}"),
    "hook_plugin_metrics": (
        "",
        "- hook_plugin_metrics: {plugin: security-guidance, marketplace: claude-plugins-official, "
        "metrics: {findings: 2, clean: false, score: 0.5}}",
    ),
    "compaction": ("", "- compaction: {}"),
    "subagent_completed": ("", "- subagent: {}"),
    "feedback_survey": ("", "- feedback_survey: {}"),
}


def test_every_contract_event_has_a_producing_step():
    missing = sorted(set(CONTRACT) - set(PRODUCERS))
    assert not missing, f"contract events no step produces: {missing}"


def _check_types(name: str, own: dict) -> None:
    spec = {a.key: a.type for a in CONTRACT[name].attributes}
    for key, value in own.items():
        if key in spec:
            assert type(value) is PYTHON_TYPE[spec[key]], (name, key, value)
        else:
            # Only hook_plugin_metrics carries keys outside the contract: the plugin's own metrics.
            assert name == "hook_plugin_metrics", (name, key)
            assert re.match(PLUGIN_METRIC_KEY_PATTERN, key) and type(value) in (bool, int, float)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_each_event_carries_the_contract_keys_and_types(name):
    session, steps = PRODUCERS[name]
    events = _events(_compile(steps, session), name)
    assert events, f"{name} was not produced"
    always = [a.key for a in CONTRACT[name].attributes if a.presence == "always"]
    for event in events:
        assert event["event.name"] == name and type(event["event.sequence"]) is int
        own = _own(event)
        assert [k for k in always if k not in own] == [], name
        # In the contract's order: the wire order.
        contract_keys = [k for k in CONTRACT[name].attribute_keys if k in own]
        assert [k for k in own if k in CONTRACT[name].attribute_keys] == contract_keys
        _check_types(name, own)


# Every step and session field that makes an optional or gated attribute appear, with third-party plugins
# throughout so that OTEL_LOG_TOOL_DETAILS decides what is named.
FULL_SESSION = """\
effort: high
log_raw_api_bodies: 1
beta_tracing_detailed: true
plugins: [cc-plugin-privacy, {name: acme-tools, marketplace: acme, version: 2.0.0}]
hooks:
  - {event: PreToolUse, matcher: Bash}
  - {event: PostToolUse, plugin: acme-tools, marketplace: acme}"""
ATTRIBUTED = "agent_name: reviewer, marketplace_name: claude-plugins-official, mcp_server_name: custom, "
ATTRIBUTED += "mcp_tool_name: custom"
FULL_STEPS = f"""\
- prompt: {{text: Fix it}}
- prompt: {{command: review, command_source: custom}}
- skill: {{name: pdf, plugin: acme-tools, marketplace: acme, kind: workflow, trigger: user-slash}}
- api_request: {{input_tokens: 20000, text: Done.}}
- api_request: {{response_length: 70000, {ATTRIBUTED}}}
- api_refusal: {{category: cyber, has_explanation: true, {ATTRIBUTED}}}
- permission_mode: {{to: plan}}
- tool: {{name: mcp_tool, tool_source: mcp, success: false, error: boom, mcp_server_scope: user,
         parameters: {{mcp_server_name: gh, mcp_tool_name: search}}, input: {{query: flaky}}}}
- auth: {{success: false, error_category: network, status_code: 503}}
- mcp_connect: {{server: github, status: failed, error_code: ECONNREFUSED, error: refused, plugin: acme-tools,
                marketplace: acme}}
- internal_error: {{code: ENOENT}}
- plugin_install: {{name: acme-tools, marketplace: acme, version: 2.0.0, trigger: ui}}
- at_mention: {{type: peer}}
- hook: {{event: PreToolUse, matcher: Write, command: ./check.sh}}
- hook_plugin_metrics: {{plugin: security-guidance, marketplace: claude-plugins-official,
                        metrics: {{found: 2}}}}
- compaction: {{trigger: manual, precompute_reuse: hit}}
- compaction: {{success: false, error: context too large}}
- subagent: {{type: reviewer, plugin: acme-tools, marketplace: acme}}
- feedback_survey: {{enabled_via_override: true}}
- feedback_survey: {{event_type: responded, response: good}}
- api_error: {{status_code: 529, attempt: 2, {ATTRIBUTED}}}"""
FILE_BODIES = "log_raw_api_bodies: file:/var/log/claude-bodies"


# Steps that count in metrics too, kept apart so that FULL_STEPS adds no metric point.
GIT_STEPS = """\
- edit: {tool: Edit, input: {file_path: /src/app.py, old_string: a, new_string: b}}
- commit: {branch: feature/login}"""


def _full(options: EmitOptions) -> list[dict]:
    return (
        _events(_compile(FULL_STEPS, FULL_SESSION, options))
        + _events(_compile("- api_request: {}", FILE_BODIES, options))
        + _events(_compile(GIT_STEPS, "", options))
    )


def test_every_optional_and_gated_attribute_can_be_produced():
    seen = {(e["event.name"], k) for e in _full(EVERYTHING) for k in e}
    # No step makes the retention sweep skip: it always runs, as in a healthy install.
    unreachable = {("retention_sweep", "skip_reason")}
    missing = [
        (name, a.key)
        for name, spec in CONTRACT.items()
        for a in spec.attributes
        if (name, a.key) not in seen and (name, a.key) not in unreachable
    ]
    assert missing == []
    for event in _full(EVERYTHING):
        _check_types(event["event.name"], _own(event))


@pytest.mark.parametrize("gate", [DETAILS, "OTEL_LOG_USER_PROMPTS", "OTEL_LOG_ASSISTANT_RESPONSES"])
def test_a_gated_attribute_appears_only_with_its_gate(gate):
    switch = {
        DETAILS: "log_tool_details",
        "OTEL_LOG_USER_PROMPTS": "log_user_prompts",
        "OTEL_LOG_ASSISTANT_RESPONSES": "log_assistant_responses",
    }[gate]
    gated = {(name, a.key) for name, spec in CONTRACT.items() for a in spec.attributes if a.presence == gate}
    assert gated
    off = _full(EmitOptions(log_assistant_responses=False))
    on = _full(EmitOptions(**{switch: True}))
    for name, key in gated:
        assert all(e.get(key, "<REDACTED>") == "<REDACTED>" for e in off if e["event.name"] == name), key
        assert any(e.get(key, "<REDACTED>") != "<REDACTED>" for e in on if e["event.name"] == name), key


def test_hook_definitions_need_detailed_beta_tracing_as_well():
    hook = "- hook: {event: PreToolUse, matcher: Write, hooks: 2, command: ./check.sh}"
    plain = _events(_compile(hook, "", EVERYTHING), "hook_execution_start")[0]
    assert "hook_definitions" not in plain
    (start,) = _events(_compile(hook, "beta_tracing_detailed: true", EVERYTHING), "hook_execution_start")
    assert json.loads(start["hook_definitions"]) == [
        {"matcher": "Write", "hooks": [{"type": "command", "command": "./check.sh"}] * 2}
    ]


# -- redaction ------------------------------------------------------------------------------------------


def test_third_party_plugins_are_redacted_and_official_ones_named():
    steps = """\
- mcp_connect: {server: gh, plugin: acme-tools, marketplace: acme}
- mcp_connect: {server: gh, plugin: github, marketplace: claude-plugins-official}
- subagent: {type: reviewer, plugin: acme-tools, marketplace: acme}
- subagent: {type: code-reviewer, plugin: pr-review-toolkit, marketplace: claude-plugins-official}
- subagent: {type: Explore}
- subagent: {type: planner, source: projectSettings}"""
    session = "hooks:\n  - {event: Stop, plugin: acme-tools, marketplace: acme}\n"
    session += "  - {event: Stop, plugin: cc-plugin-privacy}"
    quiet, detailed = (_compile(steps, session, EmitOptions(log_tool_details=d)) for d in (False, True))
    names = [e.get("plugin.name") for e in _events(quiet, "mcp_server_connection")]
    assert names == ["third-party", "github"]
    assert [e.get("plugin.name") for e in _events(detailed, "mcp_server_connection")] == [
        "acme-tools",
        "github",
    ]
    # The hash lets a fleet count distinct plugins without their names, with or without details.
    hashes = [e["plugin_id_hash"] for e in _events(quiet, "mcp_server_connection")]
    assert hashes == [e["plugin_id_hash"] for e in _events(detailed, "mcp_server_connection")]
    assert len(set(hashes)) == 2 and all(len(h) == 16 for h in hashes)
    agents = [
        (e["agent_type"], e.get("plugin.name"), e["is_built_in"])
        for e in _events(quiet, "subagent_completed")
    ]
    assert agents == [
        ("custom", "third-party", False),
        ("code-reviewer", "pr-review-toolkit", False),
        ("Explore", None, True),
        ("custom", None, False),
    ]
    assert [e["agent_type"] for e in _events(detailed, "subagent_completed")] == [
        "reviewer",
        "code-reviewer",
        "Explore",
        "planner",
    ]
    hooks = _events(quiet, "hook_registered")
    assert [(h["hook_source"], h["plugin.name"]) for h in hooks] == [
        ("pluginHook", "third-party"),
        ("pluginHook", "cc-plugin-privacy"),
    ]
    assert hooks[1]["plugin_id_hash"] == "a2f27f067781660d"  # the built-in's observed hash


def test_skills_are_named_by_their_source_and_attribute_the_requests_until_the_next_prompt():
    steps = """\
- prompt: {}
- skill: {name: review-pr}
- api_request: {}
- api_error: {status_code: 500}
- api_refusal: {}
- skill: {name: pdf, source: bundled}
- api_request: {skill_name: explicit}
- skill: {name: figma, plugin: figma, marketplace: claude-plugins-official}
- api_request: {}
- skill: {name: lint, plugin: acme-tools, marketplace: acme}
- api_request: {}
- prompt: {}
- api_request: {}"""
    timeline = _compile(steps)
    skills = [
        (e["skill.name"], e["skill.source"], e.get("plugin.name"), e.get("marketplace.name"))
        for e in _events(timeline, "skill_activated")
    ]
    assert skills == [
        ("custom_skill", "userSettings", None, None),
        ("pdf", "bundled", None, None),
        ("figma", "plugin", "figma", "claude-plugins-official"),
        ("custom_skill", "plugin", None, None),
    ]
    detailed = _events(_compile(steps, "", EmitOptions(log_tool_details=True)), "skill_activated")
    assert [(e["skill.name"], e.get("plugin.name")) for e in detailed][::3] == [
        ("review-pr", None),
        ("lint", "acme-tools"),
    ]

    def attribution(e):
        return tuple(e.get(k) for k in ("skill.name", "plugin.name", "marketplace.name"))

    # The cost counter's rules, whatever the gate: user skills named, third-party plugins not.
    assert [attribution(e) for e in _events(timeline, "api_request")] == [
        ("review-pr", None, None),
        ("explicit", None, None),
        ("figma", "figma", "claude-plugins-official"),
        ("third-party", "third-party", None),
        (None, None, None),
    ]
    assert attribution(_events(timeline, "api_error")[0]) == ("review-pr", None, None)
    assert attribution(_events(timeline, "api_refusal")[0]) == ("review-pr", None, None)
    points = [p for r in timeline.records if r.name == "claude_code.cost.usage" for p in [dict(r.attributes)]]
    assert [p.get("skill.name") for p in points] == ["review-pr", "explicit", "figma", "third-party", None]


def test_plugin_installs_name_only_official_marketplaces_without_details():
    steps = """\
- plugin_install: {name: commit-commands, marketplace: claude-plugins-official, version: 1.0.0}
- plugin_install: {name: acme-tools, marketplace: acme, version: 2.0.0, trigger: ui}"""
    official, third = _events(_compile(steps), "plugin_installed")
    assert _own(official) == {
        "marketplace.is_official": "true",
        "install.trigger": "cli",
        "plugin.name": "commit-commands",
        "plugin.version": "1.0.0",
        "marketplace.name": "claude-plugins-official",
    }
    # Left out, not replaced: the event still counts installs from outside Anthropic.
    assert _own(third) == {"marketplace.is_official": "false", "install.trigger": "ui"}
    detailed = _events(_compile(steps, "", EmitOptions(log_tool_details=True)), "plugin_installed")[1]
    assert (detailed["plugin.name"], detailed["marketplace.name"]) == ("acme-tools", "acme")


def test_command_prompts_name_builtin_commands_and_collapse_the_others():
    steps = "- prompt: {command: compact}\n- prompt: {command: deploy, command_source: custom}\n"
    steps += "- prompt: {command: gh-triage, command_source: mcp}\n- prompt: {}"
    quiet = _events(_compile(steps), "user_prompt")
    assert [(e.get("command_name"), e.get("command_source")) for e in quiet] == [
        ("compact", "builtin"),
        ("custom", "custom"),
        ("mcp", "mcp"),
        (None, None),
    ]
    # A command dispatch makes zero or many messages, so it names none.
    assert ["message.uuid" in e for e in quiet] == [False, False, False, True]
    detailed = _events(_compile(steps, "", EmitOptions(log_tool_details=True)), "user_prompt")
    assert [e.get("command_name") for e in detailed] == ["compact", "deploy", "gh-triage", None]


def test_refusals_report_category_only_when_known_and_allowed():
    steps = """\
- api_refusal: {server_fallback_hop: true, model: claude-opus-4-5}
- api_refusal: {category: bio, has_explanation: true, attempt: 2, speed: fast, effort: low}
- api_refusal: {category: weather}"""
    hop, known, unknown = _events(_compile(steps), "api_refusal")
    assert hop["server_fallback_hop"] is True and "has_category" not in hop and "has_explanation" not in hop
    assert hop["model"] == "claude-opus-4-5"
    assert (known["has_category"], known["has_explanation"], known["attempt"]) == (True, True, 2)
    assert (known["speed"], known["effort"], known["query_source"]) == ("fast", "low", "repl_main_thread")
    assert "category" not in known
    assert (unknown["has_category"], unknown["has_explanation"]) == (False, False)
    detailed = _events(_compile(steps, "", EmitOptions(log_tool_details=True)), "api_refusal")
    assert [e.get("category") for e in detailed] == [None, "bio", None]
    with pytest.raises(ScenarioError, match="carries no stop_details"):
        _compile("- api_refusal: {server_fallback_hop: true, category: bio}")


def test_mcp_connections_reveal_server_name_and_error_only_with_details():
    steps = "- mcp_connect: {server: linear, status: failed, error_code: ETIMEDOUT, transport: http, "
    steps += "scope: project, duration_ms: 5000}"
    quiet = _events(_compile(steps), "mcp_server_connection")[0]
    assert _own(quiet) == {
        "status": "failed",
        "transport_type": "http",
        "server_scope": "project",
        "duration_ms": 5000,
        "error_code": "ETIMEDOUT",
        "is_plugin": False,
    }
    detailed = _events(_compile(steps, "", EmitOptions(log_tool_details=True)), "mcp_server_connection")[0]
    assert (detailed["server_name"], detailed["error"]) == ("linear", "ETIMEDOUT")
    # The attempt takes its time: the event lands at its end.
    (start,) = [r.at for r in _compile(steps).records if r.name == "mcp_server_connection"]
    assert start == pytest.approx(0.1 + 5.0)


def test_tool_results_keep_the_mcp_scope_and_show_the_input_only_with_details():
    steps = "- tool: {name: mcp_tool, tool_source: mcp, mcp_server_scope: user, input: {query: "
    steps += "x" * 600 + "}}\n- commit: {}"
    quiet = _events(_compile(steps), "tool_result")
    assert quiet[0]["mcp_server_scope"] == "user" and all("tool_input" not in e for e in quiet)
    mcp, commit = _events(_compile(steps, "", EmitOptions(log_tool_details=True)), "tool_result")
    assert json.loads(mcp["tool_input"]) == {"query": "x" * 512}
    assert json.loads(commit["tool_input"]) == {
        "command": 'git commit -m "Add feature"',
        "description": "Commit changes",
    }


# -- state: permission mode, hooks at start, surveys ----------------------------------------------------


def test_a_permission_mode_change_applies_to_the_decisions_after_it():
    steps = """\
- edit: {}
- permission_mode: {to: plan, trigger: shift_tab}
- tool: {name: Read}
- permission_mode: {from: plan, to: acceptEdits, trigger: exit_plan_mode}
- edit: {}
- permission_mode: {to: bypassPermissions, trigger: null}"""
    timeline = _compile(steps)
    assert [e["permission_mode"] for e in _events(timeline, "tool_decision")] == [
        "default",
        "plan",
        "acceptEdits",
    ]
    changes = [
        (e["from_mode"], e["to_mode"], e.get("trigger")) for e in _events(timeline, "permission_mode_changed")
    ]
    assert changes == [
        ("default", "plan", "shift_tab"),
        ("plan", "acceptEdits", "exit_plan_mode"),
        ("acceptEdits", "bypassPermissions", None),
    ]
    assert [r.name for r in timeline.records if r.signal == METRIC] == [
        "claude_code.session.count",
        "claude_code.code_edit_tool.decision",
        "claude_code.lines_of_code.count",
        "claude_code.lines_of_code.count",
        "claude_code.code_edit_tool.decision",
        "claude_code.lines_of_code.count",
        "claude_code.lines_of_code.count",
    ]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            "- permission_mode: {from: plan, to: default}",
            "from is 'plan' but the session is in 'default' here",
        ),
        ("- permission_mode: {to: default}", "the session is already in 'default'"),
        ("- permission_mode: {to: auto, trigger: exit_plan_mode}", "trigger exit_plan_mode leaves plan mode"),
    ],
)
def test_an_impossible_permission_mode_change_names_its_step(steps, message):
    with pytest.raises(ScenarioError, match=r"sessions\[0\]\.steps\[0\]\.permission_mode: " + message):
        _compile(steps)


def test_hooks_declared_for_the_session_are_registered_at_start():
    session = (
        "safe_mode: true\nhooks:\n  - {event: PreToolUse, matcher: Bash, type: http, source: policySettings}"
    )
    session += "\n  - {event: SessionStart}"
    timeline = _compile("- prompt: {}", session)
    names = [r.name for r in timeline.records][:8]
    assert names == [
        "managed_settings_resolved",
        "plugin_loaded",
        "plugin_loaded",
        "plugin_loaded",
        "hook_registered",
        "hook_registered",
        "claude_code.session.count",
        "user_prompt",
    ]
    first, second = _events(timeline, "hook_registered")
    assert _own(first) == {
        "hook_event": "PreToolUse",
        "hook_type": "http",
        "hook_source": "policySettings",
        "safe_mode": "true",
    }
    assert (second["hook_type"], second["hook_source"]) == ("command", "userSettings")
    assert "prompt.id" not in first
    detailed = _events(_compile("", session, EmitOptions(log_tool_details=True)), "hook_registered")
    assert [e.get("hook_matcher") for e in detailed] == ["Bash", None]
    # Registration takes its ms at start, and the session's length knows it.
    scenario = load_scenario_text(_scenario("- wait: 1s", session), "t.yaml")
    assert session_length(scenario.sessions[0]) == pytest.approx(0.1 + 1 + 0.01)


def test_a_hook_step_starts_and_completes_its_hooks():
    steps = "- hook: {event: PreToolUse, matcher: Write, hooks: 4, blocking: 1, non_blocking_errors: 1, "
    steps += "duration_ms: 250, managed_only: true}\n"
    steps += "- hook: {event: Stop, hooks: 2, succeeded: 1, cancelled: 1}"
    timeline = _compile(steps)
    (start, _), (complete, stop) = (
        _events(timeline, n) for n in ("hook_execution_start", "hook_execution_complete")
    )
    context = ("hook_name", "num_hooks", "managed_only", "hook_source", "safe_mode")
    assert tuple(start[k] for k in context) == ("PreToolUse:Write", 4, "true", "policySettings", "false")
    assert tuple(complete[k] for k in context) == tuple(start[k] for k in context)
    counts = ("num_success", "num_blocking", "num_non_blocking_error", "num_cancelled", "total_duration_ms")
    assert tuple(complete[k] for k in counts) == (2, 1, 1, 0, 250)
    assert (stop["hook_name"], stop["hook_source"]) == ("Stop", "merged")
    assert tuple(stop[k] for k in counts) == (1, 0, 0, 1, 60)
    # Start when the hooks begin, complete when the last one ends.
    times = [r.at for r in timeline.records if r.name.startswith("hook_execution")]
    assert [t - times[0] for t in times] == pytest.approx([0, 0.25, 0.25, 0.31])
    with pytest.raises(ScenarioError, match="add up to 3, more than hooks"):
        _compile("- hook: {event: Stop, hooks: 2, blocking: 2, cancelled: 1}")


def test_feedback_survey_events_of_one_survey_share_an_appearance_id():
    steps = """\
- feedback_survey: {}
- feedback_survey: {event_type: responded, response: good}
- feedback_survey: {}
- feedback_survey: {survey_type: transcript, appearance_id: 6f1c9a2e-0a7d-4d7e-9d55-2f1f5c7e8b10}"""
    events = _events(_compile(steps), "feedback_survey")
    ids = [e["appearance_id"] for e in events]
    assert ids[0] == ids[1] != ids[2] and ids[3] == "6f1c9a2e-0a7d-4d7e-9d55-2f1f5c7e8b10"
    assert events[1]["response"] == "good" and "response" not in events[0]
    # enabled_via_override is a boolean, on session surveys only.
    assert events[0]["enabled_via_override"] is False and "enabled_via_override" not in events[3]
    with pytest.raises(ScenarioError, match="response goes with event_type: responded"):
        _compile("- feedback_survey: {response: good}")


# -- raw API bodies ---------------------------------------------------------------------------------------


def test_raw_api_bodies_are_emitted_only_when_the_session_logs_them():
    steps = "- api_request: {input_tokens: 100, output_tokens: 7, text: All done.}\n- api_error: {attempt: 3}"
    assert [e for e in _events(_compile(steps)) if e["event.name"].endswith("_body")] == []
    timeline = _compile(steps, "log_raw_api_bodies: 1")
    names = [e["event.name"] for e in _events(timeline) if e["event.name"].startswith("api_")]
    assert names == [
        "api_request_body",
        "api_response_body",
        "api_request",
        # One body per attempt of the failing request, then its error.
        "api_request_body",
        "api_request_body",
        "api_request_body",
        "api_error",
        "api_retries_exhausted",
    ]
    request, response = _events(timeline, "api_request_body")[0], _events(timeline, "api_response_body")[0]
    assert json.loads(request["body"])["model"] == "claude-sonnet-4-5"
    assert request["body_length"] == len(request["body"]) and "body_truncated" not in request
    body = json.loads(response["body"])
    assert body["content"] == [{"type": "text", "text": "All done."}] and body["usage"]["output_tokens"] == 7
    assert response["request_id"] == _events(timeline, "api_request")[0]["request_id"]
    # The request body goes out when the request starts, the response body when it ends.
    times = [r.at for r in timeline.records if r.name in ("api_request_body", "api_response_body")][:2]
    assert times[1] - times[0] == pytest.approx(2.0)


def test_inline_bodies_are_cut_at_the_content_limit_and_file_bodies_are_referenced():
    big = "- api_request: {input_tokens: 1000, cache_read_tokens: 30000}"
    (request,) = _events(_compile(big, "log_raw_api_bodies: 1"), "api_request_body")
    assert request["body_truncated"] == "true"
    assert len(request["body"]) == 60 * 1024 < request["body_length"]
    timeline = _compile(big, "log_raw_api_bodies: file:/var/log/bodies/")
    (request,), (response,) = _events(timeline, "api_request_body"), _events(timeline, "api_response_body")
    assert "body" not in request and "body_truncated" not in request
    assert request["body_ref"].startswith("/var/log/bodies/") and request["body_ref"].endswith(
        ".request.json"
    )
    assert response["body_ref"] == f"/var/log/bodies/{response['request_id']}.response.json"
    assert request["body_length"] > 60 * 1024
    with pytest.raises(ScenarioError, match="log_raw_api_bodies"):
        _compile("", "log_raw_api_bodies: file:relative/dir")


def test_a_body_past_the_content_limit_reports_the_length_of_the_whole():
    # 31,000 tokens of context are 124,000 characters of filler; only the first 60 KB are ever shown.
    big = "- api_request: {input_tokens: 1000, cache_read_tokens: 30000, response_length: 70000}"
    filler = ("The quick brown fox jumps over the lazy dog. " * 3000)[:124_000]
    message = {"role": "user", "content": filler}
    request = {"model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": True, "messages": [message]}
    whole = json.dumps(request, separators=(",", ":"))
    inline = _compile(big, "log_raw_api_bodies: 1")
    (shown,) = _events(inline, "api_request_body")
    # Cut to 60 KB in all, the truncation marker included.
    marker = "\n\n[TRUNCATED - Content exceeds 60KB limit]"
    assert shown["body"] == whole[: 60 * 1024 - len(marker)] + marker
    assert shown["body_length"] == len(whole)
    (answer,) = _events(inline, "api_response_body")
    message_id = re.match(r'\{"id":"(msg_\w+)"', answer["body"]).group(1)
    response = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": filler[:70_000]}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 1000,
            "output_tokens": 0,
            "cache_read_input_tokens": 30000,
            "cache_creation_input_tokens": 0,
        },
    }
    whole_answer = json.dumps(response, separators=(",", ":"))
    assert answer["body"] == whole_answer[: 60 * 1024 - len(marker)] + marker
    assert answer["body_length"] == len(whole_answer)
    stored = _compile(big, "log_raw_api_bodies: file:/var/log/bodies")
    lengths = [e["body_length"] for e in _events(stored) if e["event.name"].endswith("_body")]
    assert lengths == [len(whole), len(whole_answer)]


# -- what the new events leave alone ----------------------------------------------------------------------


def test_the_catalogue_adds_no_metric_points():
    full = _compile(FULL_STEPS, FULL_SESSION).totals().metric_sums()
    # The same session's API requests alone: they, and the session start, are all that counts.
    requests = f"- api_request: {{input_tokens: 20000}}\n- api_request: {{{ATTRIBUTED}}}"
    assert full == _compile(requests).totals().metric_sums()
    assert set(full) == {"claude_code.session.count", "claude_code.cost.usage", "claude_code.token.usage"}


def test_ids_drawn_for_the_catalogue_never_shift_the_others():
    basic = "- prompt: {}\n- api_request: {}\n- edit: {}\n- api_error: {status_code: 500}\n- commit: {}"
    plain = _events(_compile(basic))
    # Without client_request_id, raw bodies on: the existing ids are the same.
    other = _events(_compile(basic, "custom_base_url: true\nlog_raw_api_bodies: 1"))
    other = [e for e in other if not e["event.name"].endswith("_body")]
    for key in ("session.id", "prompt.id", "request_id", "tool_use_id", "message.uuid"):
        assert [e.get(key) for e in plain] == [e.get(key) for e in other], key


def test_client_request_id_is_sent_on_first_party_connections_only():
    steps = "- api_request: {}\n- api_error: {}"
    first_party = _events(_compile(steps))
    assert all(
        len(e["client_request_id"]) == 36
        for e in first_party
        if e["event.name"] in ("api_request", "api_error")
    )
    for session in ("custom_base_url: true", "provider: bedrock"):
        assert all("client_request_id" not in e for e in _events(_compile(steps, session)))
    # An HTTP error answered with a request-id; a connection error never reached the API.
    http, connection = _events(_compile("- api_error: {status_code: 500}\n- api_error: {}"), "api_error")
    assert http["request_id"].startswith("req_") and "request_id" not in connection


def test_internal_errors_are_not_reported_against_cloud_providers():
    steps = "- internal_error: {name: SyntaxError}"
    assert _own(_events(_compile(steps), "internal_error")[0]) == {"error_name": "SyntaxError"}
    assert _events(_compile(steps, "provider: bedrock"), "internal_error") == []


def test_hook_plugin_metrics_come_from_official_plugins_with_valid_names_only():
    step = "- hook_plugin_metrics: {plugin: security-guidance, marketplace: claude-plugins-official, "
    timeline = _compile(step + "event: Stop, metrics: {findings: 2, clean: false, cost_usd: 0.25}}")
    (event,) = _events(timeline, "hook_plugin_metrics")
    assert _own(event) == {
        "plugin_id": "security-guidance@claude-plugins-official",
        "hook_event": "Stop",
        "findings": 2,
        "clean": False,
        "cost_usd": 0.25,
    }
    for bad, message in (
        ("marketplace: acme, metrics: {a: 1}}", "only plugins from an official Anthropic marketplace"),
        ("marketplace: claude-plugins-official, metrics: {Findings: 1}}", "Findings"),
        ("marketplace: claude-plugins-official, metrics: {plugin_id: 1}}", "the event's own attributes"),
        ("marketplace: claude-plugins-official, metrics: {}}", "metrics"),
    ):
        with pytest.raises(ScenarioError, match=message):
            _compile("- hook_plugin_metrics: {plugin: x, " + bad)


def test_steps_that_take_time_move_the_clock_and_the_rest_do_not():
    steps = """\
- compaction: {duration_ms: 4000}
- subagent: {duration_ms: 3000}
- subagent: {duration_ms: 9000, background: true}
- auth: {}"""
    timeline = _compile(steps)
    at = [r.at for r in timeline.records if r.name in ("compaction", "subagent_completed", "auth")]
    assert at == pytest.approx([4.1, 7.1, 7.1, 7.1])
    background = _events(timeline, "subagent_completed")[1]
    assert background["is_async"] is True and background["model_swapped"] is False


def test_the_2025_05_profile_emits_none_of_the_catalogue():
    timeline = _compile(FULL_STEPS, FULL_SESSION, EmitOptions(profile="2025-05", log_tool_details=True))
    assert {r.signal for r in timeline.records} == {METRIC}


# -- assistant_response, api_retries_exhausted, the retention sweep, commits, resource pairs ------------


def _responses(timeline: Timeline) -> list[str]:
    """The request_id of each api_request, with whether an assistant_response followed it."""
    events = _events(timeline)
    out = []
    for j, event in enumerate(events):
        if event["event.name"] == "api_request":
            following = events[j + 1] if j + 1 < len(events) else {}
            text = following.get("event.name") == "assistant_response"
            assert not text or following["request_id"] == event["request_id"]
            out.append("text" if text else "tools")
    return out


def test_the_last_request_of_each_turn_answers_in_text_by_default():
    steps = """\
- prompt: {}
- api_request: {}
- tool: {name: Read}
- api_request: {}
- api_error: {status_code: 500}
- prompt: {}
- api_request: {}
- edit: {}
- api_request: {}"""
    timeline = _compile(steps)
    assert _responses(timeline) == ["tools", "text", "tools", "text"]
    (first, second) = _events(timeline, "assistant_response")
    assert first["response_length"] == second["response_length"] == 240
    assert first["prompt.id"] != second["prompt.id"]


def test_text_false_turns_the_default_response_off_and_response_length_gives_preamble_text():
    steps = """\
- prompt: {}
- api_request: {response_length: 21}
- edit: {}
- api_request: {text: false}
- prompt: {}
- api_request: {response_length: 0}"""
    timeline = _compile(steps)
    assert _responses(timeline) == ["text", "tools", "tools"]
    assert [e["response_length"] for e in _events(timeline, "assistant_response")] == [21]


def test_text_false_with_a_response_length_is_one_clear_error():
    text = _scenario("- api_request: {text: false, response_length: 5}")
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, "t.yaml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("t.yaml:7:"), message
    assert "text: false" in message and "response_length" in message


def test_api_retries_exhausted_carries_query_source_and_effort_after_the_standard_attributes():
    timeline = _compile(
        "- prompt: {}\n- api_error: {status_code: 529, attempt: 3, effort: high, event_query_source: sdk}\n"
        "- api_error: {attempt: 2}"
    )
    http, connection = _events(timeline, "api_retries_exhausted")
    keys = list(http)
    assert keys.index("prompt.id") == keys.index("event.sequence") + 1
    assert list(_own(http)) == [
        "model",
        "error",
        "status_code",
        "total_attempts",
        "total_retry_duration_ms",
        "speed",
        "query_source",
        "effort",
    ]
    assert (http["status_code"], http["total_attempts"], http["query_source"], http["effort"]) == (
        529,
        3,
        "sdk",
        "high",
    )
    assert type(http["total_retry_duration_ms"]) is int
    # A connection error has no HTTP status; the session's query source and no effort.
    assert list(_own(connection)) == [
        "model",
        "error",
        "total_attempts",
        "total_retry_duration_ms",
        "speed",
        "query_source",
    ]
    assert connection["query_source"] == "repl_main_thread"


@pytest.mark.parametrize("seed", range(6))
def test_the_retention_sweep_comes_about_five_seconds_after_the_first_event(seed):
    text = _scenario("- prompt: {}\n- wait: 4s\n- api_request: {}\n- wait: 3s").replace(
        "seed: 9", f"seed: {seed}"
    )
    timeline = compile_scenario(load_scenario_text(text, "t.yaml"), EmitOptions())
    events = [r for r in timeline.records if r.signal == EVENT]
    (sweep,) = (r for r in events if r.name == "retention_sweep")
    assert 5.03 <= sweep.at - events[0].at <= 5.15
    # In time order among the session's events, with the prompt it came during.
    assert [r.at for r in events] == sorted(r.at for r in events)
    (prompt,) = (r for r in events if r.name == "user_prompt")
    assert dict(sweep.attributes)["prompt.id"] == dict(prompt.attributes)["prompt.id"]


def test_a_session_that_ends_before_the_sweep_sends_none():
    assert _events(_compile("- prompt: {}\n- api_request: {}\n- wait: 2s"), "retention_sweep") == []


def test_a_commit_reports_its_branch_and_revision_only_with_tool_details():
    steps = "- api_request: {}\n- commit: {branch: feature/login}\n- commit: {}"
    branch, default = _events(_compile(steps, options=EmitOptions(log_tool_details=True)), "tool_result")
    parameters = json.loads(branch["tool_parameters"])
    assert parameters["git_branch"] == "feature/login"
    assert re.fullmatch(r"[0-9a-f]{40}", branch["vcs.ref.head.revision"])
    assert parameters["git_commit_id"] == branch["vcs.ref.head.revision"]
    assert (branch["vcs.ref.head.name"], branch["vcs.ref.head.type"]) == ("feature/login", "branch")
    assert list(branch)[-3:] == ["vcs.ref.head.name", "vcs.ref.head.revision", "vcs.ref.head.type"]
    assert all(type(branch[k]) is str for k in list(branch)[-3:])
    assert default["vcs.ref.head.name"] == json.loads(default["tool_parameters"])["git_branch"] == "main"
    for hidden in _events(_compile(steps), "tool_result"):
        assert not {k for k in hidden if k.startswith("vcs.")} and "tool_parameters" not in hidden


def test_a_branch_git_refuses_is_one_clear_error():
    text = _scenario("- commit: {branch: 'two words'}")
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, "t.yaml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("t.yaml:7:"), message
    assert "'two words' is not a branch name git accepts" in message


def test_an_edit_reveals_its_input_only_with_tool_details():
    steps = "- edit: {tool: Edit, input: {file_path: /src/app.py, old_string: a, new_string: b}}\n- edit: {}"
    given, plain = _events(_compile(steps, options=EmitOptions(log_tool_details=True)), "tool_result")
    assert json.loads(given["tool_input"]) == {
        "file_path": "/src/app.py",
        "old_string": "a",
        "new_string": "b",
    }
    assert "tool_input" not in plain
    assert all("tool_input" not in e for e in _events(_compile(steps), "tool_result"))


def test_resource_attribute_pairs_come_first_on_points_and_events():
    options = EmitOptions(resource_attributes=(("team", "core"), ("cost_center", "42")))
    timeline = _compile("- prompt: {}\n- api_request: {}\n- edit: {lines_added: 2}", options=options)
    assert timeline.records
    for record in timeline.records:
        assert list(dict(record.attributes))[:3] == ["team", "cost_center", "user.id"], record.name
