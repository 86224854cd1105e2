"""Compiled records and recorded scenarios stay byte for byte what they were: digests of both, for the
bundled scenarios, every step kind, a generated organisation, under the switches that change them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pytest

from claude_telemetry_cli.contract import LOGGER_NAME, METER_NAME, get_profile
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint
from claude_telemetry_cli.otlp.encode import with_event_timestamp
from claude_telemetry_cli.records import EVENT, METRIC, Timeline
from claude_telemetry_cli.scenario import bundled_scenarios, compile_scenario, load_scenario_text
from claude_telemetry_cli.scenario.generate import build_params, generate_text
from claude_telemetry_cli.scenario.reconstruct import build_scenario

# Every step kind, with the session fields and step fields that make optional and gated attributes appear.
CATALOGUE = """\
version: 1
name: catalogue
seed: 11
prices:
  house-model: {input: 2.0, output: 8.0}
sessions:
  - user: {email: dev@example.com, organization_id: 3f1c9a2e-0a7d-4d7e-9d55-2f1f5c7e8b10,
           account_uuid: 0b6f3c2a-1d4e-4f5a-8b9c-7d6e5f4a3b2c, account_id: user_01Abc}
    effort: high
    log_raw_api_bodies: 1
    beta_tracing_detailed: true
    start_type: resume
    os_type: darwin
    host_arch: arm64
    plugins: [cc-plugin-privacy, {name: acme-tools, marketplace: acme, version: 2.0.0}]
    hooks:
      - {event: PreToolUse, matcher: Bash}
      - {event: PostToolUse, plugin: acme-tools, marketplace: acme}
    steps:
      - prompt: {text: Fix it}
      - prompt: {command: review, command_source: custom}
      - skill: {name: pdf, plugin: acme-tools, marketplace: acme, kind: workflow, trigger: user-slash}
      - api_request: {input_tokens: 20000, text: Done.}
      - api_request: {response_length: 70000, agent_name: reviewer, marketplace_name: claude-plugins-official,
                      mcp_server_name: custom, mcp_tool_name: custom}
      - api_request: {input_tokens: 300, output_tokens: 30, model: house-model, speed: fast,
                      query_source: subagent, event_query_source: Explore}
      - api_refusal: {category: cyber, has_explanation: true, agent_name: reviewer}
      - api_refusal: {server_fallback_hop: true, model: claude-opus-4-5}
      - permission_mode: {to: plan}
      - permission_mode: {to: default, trigger: exit_plan_mode}
      - tool: {name: mcp_tool, tool_source: mcp, success: false, error: boom, mcp_server_scope: user,
               parameters: {mcp_server_name: gh, mcp_tool_name: search}, input: {query: flaky}}
      - tool: {name: Bash, decision: reject, source: user_reject}
      - tool: {name: Read, duration_ms: 40, input_size_bytes: 10, result_size_bytes: 9000}
      - edit: {tool: NotebookEdit, language: Python, lines_added: 5, lines_removed: 2,
               model: claude-haiku-4-5}
      - edit: {tool: Write, language: Rust, lines_added: 9, decision: reject, source: user_abort}
      - auth: {success: false, error_category: network, status_code: 503}
      - mcp_connect: {server: github, status: failed, error_code: ECONNREFUSED, error: refused,
                      plugin: acme-tools, marketplace: acme}
      - mcp_connect: {server: docs}
      - internal_error: {code: ENOENT}
      - plugin_install: {name: acme-tools, marketplace: acme, version: 2.0.0, trigger: ui}
      - at_mention: {type: peer}
      - hook: {event: PreToolUse, matcher: Write, hooks: 2, command: ./check.sh}
      - hook_plugin_metrics: {plugin: security-guidance, marketplace: claude-plugins-official,
                              metrics: {found: 2}}
      - compaction: {trigger: manual, precompute_reuse: hit}
      - compaction: {success: false, error: context too large}
      - subagent: {type: reviewer, plugin: acme-tools, marketplace: acme}
      - subagent: {type: Explore, background: true}
      - feedback_survey: {enabled_via_override: true}
      - feedback_survey: {event_type: responded, response: good}
      - wait: 3s
      - api_error: {status_code: 529, attempt: 3, agent_name: reviewer}
      - api_error: {error: "Connection error.", attempt: 1, duration_ms: 800}
      - commit: {source: user_temporary}
      - pull_request: {command: gh pr create --draft}
      - active: {user: 1m5.5s, cli: 12s}
  - user: {email: other@example.com}
    provider: bedrock
    log_raw_api_bodies: file:/var/log/claude-bodies
    safe_mode: true
    terminal_type: null
    query_source: sdk
    repeat: 2
    repeat_every: 10m
    steps:
      - prompt: {length: 10}
      - internal_error: {code: EPERM}
      - api_request: {input_tokens: 10, output_tokens: 10, cost_usd: 0.0001}
      - edit: {tool: Edit, lines_added: 3}
      - commit: {}
"""

OPTIONS = {
    "default": EmitOptions(),
    "revealed": EmitOptions(
        include_session_id=False,
        include_version=True,
        include_account_uuid=False,
        include_entrypoint=True,
        resource_attributes=(("team", "payments"), ("service.name", "shadowed")),
        log_user_prompts=True,
        log_tool_details=True,
    ),
    "resource-off": EmitOptions(
        include_resource_attributes=False, resource_attributes=(("team", "x"),), log_assistant_responses=True
    ),
    "2025-05": EmitOptions(profile="2025-05"),
}


def _scenarios() -> dict[str, str]:
    texts = {name: path.read_text() for name, path in bundled_scenarios().items()}
    texts["catalogue"] = CATALOGUE
    texts["generated"] = generate_text(build_params("enterprise", {"developers": 2, "days": 1, "seed": 1}))[0]
    return texts


SCENARIOS = _scenarios()


def _digest(lines: Iterable[object]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(repr(line).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def _compiled(scenario: str, options: str) -> Timeline:
    return compile_scenario(load_scenario_text(SCENARIOS[scenario], f"{scenario}.yaml"), OPTIONS[options])


def records_digest(timeline: Timeline) -> str:
    return _digest(
        [timeline.name, timeline.profile, *timeline.sessions]
        + [(r.at, r.session, r.signal, r.name, r.value, r.attributes, r.trace) for r in timeline.records]
    )


def _received(timeline: Timeline, *, metrics=True, events=True, temporality="delta"):
    """What a receiver decodes of the timeline, sent from a fixed instant: (points, events)."""
    base = 1_767_225_600 * 10**9
    profile = get_profile(timeline.profile)
    points: list[DecodedPoint] = []
    decoded: list[DecodedEvent] = []
    running: dict[tuple, float] = {}
    for r in timeline.records:
        info = timeline.sessions[r.session]
        at = base + round(r.at * 1e9)
        if r.signal == METRIC and metrics:
            spec = profile.metrics[r.name]
            value, start = r.value, at
            if temporality == "cumulative":
                key = (r.session, r.name, r.attributes)
                value = running[key] = running.get(key, 0.0) + r.value
                start = base + round(info.start_at * 1e9)
            points.append(
                DecodedPoint(
                    r.name,
                    spec.description,
                    spec.unit,
                    "sum",
                    temporality,
                    True,
                    value,
                    True,
                    r.attributes,
                    start,
                    at,
                    info.resource,
                    METER_NAME,
                    info.app_version,
                )
            )
        elif r.signal == EVENT and events:
            decoded.append(
                DecodedEvent(
                    f"claude_code.{r.name}",
                    with_event_timestamp(r.attributes, at),
                    at,
                    at,
                    9,
                    info.resource,
                    LOGGER_NAME,
                    info.app_version,
                )
            )
    return points, decoded


RECORDINGS = {
    "both": ("default", {}),
    "metrics-only": ("default", {"events": False}),
    "events-only": ("default", {"metrics": False}),
    "cumulative": ("default", {"temporality": "cumulative"}),
    "revealed": ("revealed", {}),
    "2025-05": ("2025-05", {}),
}


def recorded_digest(scenario: str, recording: str) -> str:
    options, received = RECORDINGS[recording]
    points, events = _received(_compiled(scenario, options), **received)
    result = build_scenario(points, events, name=scenario)
    return _digest(
        [
            result.yaml,
            result.sessions,
            result.source,
            result.warnings,
            result.profile,
            sorted(result.env.items()),
        ]
    )


# A generated organisation is recorded only in the two ways that differ most: rebuilding it is slow.
RECORDED_CASES = [
    (scenario, recording)
    for scenario in SCENARIOS
    for recording in RECORDINGS
    if scenario != "generated" or recording in ("both", "metrics-only")
]

COMPILED = {
    ("failures", "default"): "e99a859a07840354",
    ("failures", "revealed"): "c850842538c5eb81",
    ("failures", "resource-off"): "430a94b102af8ae7",
    ("failures", "2025-05"): "8099ce9abb5ca7a0",
    ("feature-branch", "default"): "61db392cca430383",
    ("feature-branch", "revealed"): "165db70f6c13d3fa",
    ("feature-branch", "resource-off"): "be2d46a55f977586",
    ("feature-branch", "2025-05"): "e13d8bcb35677f6c",
    ("quickstart", "default"): "31df75c0e65ade63",
    ("quickstart", "revealed"): "cc39e779e4361f2c",
    ("quickstart", "resource-off"): "82c16d292cfe21d6",
    ("quickstart", "2025-05"): "df95eac7cfe231ad",
    ("team-day", "default"): "0439c4e531dbddb7",
    ("team-day", "revealed"): "691b80e552a953f1",
    ("team-day", "resource-off"): "aad4b3380719c9b3",
    ("team-day", "2025-05"): "bbfebe40452fc980",
    ("catalogue", "default"): "41a2ec9c1c04097e",
    ("catalogue", "revealed"): "1e22bcf47c573b22",
    ("catalogue", "resource-off"): "26b086435db2a5e4",
    ("catalogue", "2025-05"): "d946ae8d953366ff",
    ("generated", "default"): "a774c713f6e9fca5",
    ("generated", "revealed"): "61270e3d9216bae9",
    ("generated", "resource-off"): "1e8b0c71a0be032c",
    ("generated", "2025-05"): "c8c9cd2a423a0c2f",
}
RECORDED = {
    ("failures", "both"): "0ffda5bd04d65705",
    ("failures", "metrics-only"): "33f1344c5e2b2a69",
    ("failures", "events-only"): "d777c69a596a3457",
    ("failures", "cumulative"): "edb9f664edc21f19",
    ("failures", "revealed"): "43567d4da9bf8314",
    ("failures", "2025-05"): "066078666bd43e60",
    ("feature-branch", "both"): "754753cefb794fe8",
    ("feature-branch", "metrics-only"): "d32e1dd94c8ef938",
    ("feature-branch", "events-only"): "6eb7f9734bcf8366",
    ("feature-branch", "cumulative"): "9e49fff06404cd7b",
    ("feature-branch", "revealed"): "1f6288898076d425",
    ("feature-branch", "2025-05"): "a1b97709c671e4d2",
    ("quickstart", "both"): "06270e3748fd8f70",
    ("quickstart", "metrics-only"): "0ac815e327cdb498",
    ("quickstart", "events-only"): "e0a9150c0341a5b4",
    ("quickstart", "cumulative"): "96e622070f720f5c",
    ("quickstart", "revealed"): "f90ff82bba6699d0",
    ("quickstart", "2025-05"): "36783cba8cbd71d8",
    ("team-day", "both"): "8b69d861cf8fb3ea",
    ("team-day", "metrics-only"): "dc1a8d98ee37820a",
    ("team-day", "events-only"): "9a7cb55f96f24924",
    ("team-day", "cumulative"): "32298c62611ea561",
    ("team-day", "revealed"): "0116ce710557a5ae",
    ("team-day", "2025-05"): "7c072be07b19127e",
    ("catalogue", "both"): "db0c8f4ca6e9d2fc",
    ("catalogue", "metrics-only"): "a2dbd628a9708534",
    ("catalogue", "events-only"): "47d6c6b3ccd78088",
    ("catalogue", "cumulative"): "2797176316fc708a",
    ("catalogue", "revealed"): "82605b71ba5cfb81",
    ("catalogue", "2025-05"): "e1a6ebc869248c6a",
    ("generated", "both"): "394964c48c4e53ef",
    ("generated", "metrics-only"): "f5af99ce00510e6c",
}


@pytest.mark.parametrize(("scenario", "options"), sorted(COMPILED))
def test_compiled_records_are_unchanged(scenario, options):
    assert records_digest(_compiled(scenario, options)) == COMPILED[scenario, options]


@pytest.mark.parametrize(("scenario", "recording"), sorted(RECORDED))
def test_recorded_scenarios_are_unchanged(scenario, recording):
    assert recorded_digest(scenario, recording) == RECORDED[scenario, recording]
