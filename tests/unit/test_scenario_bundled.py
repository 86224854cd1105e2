"""The bundled scenarios: every one loads and compiles, and what it sends stays the same from run to run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from claude_telemetry_cli.errors import ScenarioError
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.records import EVENT
from claude_telemetry_cli.scenario import (
    BUNDLED_DIR,
    bundled_scenarios,
    compile_scenario,
    load_scenario,
    resolve_scenario,
    scenario_summary,
)

NAMES = ["failures", "feature-branch", "quickstart", "team-day"]

# What each bundled scenario must deliver: a dashboard built on them relies on these numbers.
GOLDEN = {
    "quickstart": (
        {
            "claude_code.code_edit_tool.decision": 1.0,
            "claude_code.commit.count": 1.0,
            "claude_code.cost.usage": 0.030975,
            "claude_code.lines_of_code.count": 15.0,
            "claude_code.session.count": 1.0,
            "claude_code.token.usage": 31300.0,
        },
        {
            "api_request": 2,
            "assistant_response": 1,
            "managed_settings_resolved": 1,
            "plugin_loaded": 3,
            "tool_decision": 2,
            "tool_result": 2,
            "user_prompt": 1,
        },
    ),
    "feature-branch": (
        {
            "claude_code.active_time.total": 101.0,
            "claude_code.code_edit_tool.decision": 2.0,
            "claude_code.commit.count": 1.0,
            "claude_code.cost.usage": 0.11601,
            "claude_code.lines_of_code.count": 50.0,
            "claude_code.pull_request.count": 1.0,
            "claude_code.session.count": 1.0,
            "claude_code.token.usage": 138880.0,
        },
        {
            "api_error": 1,
            "api_request": 8,
            "api_retries_exhausted": 1,
            "assistant_response": 2,
            "managed_settings_resolved": 1,
            "plugin_loaded": 3,
            "retention_sweep": 1,
            "tool_decision": 6,
            "tool_result": 6,
            "user_prompt": 2,
        },
    ),
    "team-day": (
        {
            "claude_code.active_time.total": 2598.0,
            "claude_code.code_edit_tool.decision": 18.0,
            "claude_code.commit.count": 7.0,
            "claude_code.cost.usage": 1.49871,
            "claude_code.lines_of_code.count": 730.0,
            "claude_code.pull_request.count": 1.0,
            "claude_code.session.count": 29.0,
            "claude_code.token.usage": 1706390.0,
        },
        {
            "api_request": 88,
            "assistant_response": 36,
            "managed_settings_resolved": 24,
            "plugin_loaded": 24,
            "retention_sweep": 8,
            "tool_decision": 54,
            "tool_result": 54,
            "user_prompt": 36,
        },
    ),
    "failures": (
        {
            "claude_code.active_time.total": 130.0,
            "claude_code.code_edit_tool.decision": 3.0,
            "claude_code.cost.usage": 0.086955,
            "claude_code.lines_of_code.count": 5.0,
            "claude_code.session.count": 2.0,
            "claude_code.token.usage": 96070.0,
        },
        {
            "api_error": 3,
            "api_request": 8,
            "api_retries_exhausted": 2,
            "assistant_response": 2,
            "managed_settings_resolved": 2,
            "plugin_loaded": 6,
            "retention_sweep": 2,
            "tool_decision": 5,
            "tool_result": 2,
            "user_prompt": 2,
        },
    ),
}


def test_the_bundled_scenarios_are_the_documented_ones():
    assert list(bundled_scenarios()) == NAMES
    assert all(p.parent == BUNDLED_DIR for p in bundled_scenarios().values())


@pytest.mark.parametrize("name", NAMES)
def test_each_bundled_scenario_loads_compiles_and_is_commented(name):
    path = bundled_scenarios()[name]
    scenario = load_scenario(path)
    assert scenario.name == name and scenario.description
    # Written for a newcomer: the file explains itself.
    assert path.read_text().lstrip().startswith(f"# {name}:")
    for profile in ("current", "2025-05"):
        timeline = compile_scenario(scenario, EmitOptions(profile=profile))
        assert timeline.records and len(timeline.sessions) == scenario_summary(scenario)["sessions"]


@pytest.mark.parametrize("name", NAMES)
def test_bundled_totals_are_stable(name):
    scenario = load_scenario(bundled_scenarios()[name])
    totals = compile_scenario(scenario).totals()
    metric_sums, events = GOLDEN[name]
    assert totals.metric_sums().keys() == metric_sums.keys()
    for metric, value in metric_sums.items():
        assert math.isclose(totals.metric_sums()[metric], value, rel_tol=1e-9), metric
    assert dict(sorted(totals.events.items())) == events
    again = compile_scenario(load_scenario(bundled_scenarios()[name])).totals()
    assert again.equals(totals) and again.to_json() == totals.to_json()


@pytest.mark.parametrize("name", NAMES)
def test_bundled_totals_add_up_to_what_the_file_says(name):
    scenario = load_scenario(bundled_scenarios()[name])
    timeline = compile_scenario(scenario)
    sums = timeline.totals().metric_sums()
    tokens = steps = 0
    for session in scenario.sessions:
        for step in session.steps:
            if step.api_request is not None:
                r = step.api_request
                tokens += session.repeat * (
                    r.input_tokens + r.output_tokens + r.cache_read_tokens + r.cache_creation_tokens
                )
                steps += session.repeat
    assert sums.get("claude_code.token.usage", 0.0) == tokens
    assert timeline.totals().events.get("api_request", 0) == steps
    assert sums["claude_code.session.count"] == len(timeline.sessions)
    assert timeline.duration == pytest.approx(scenario_summary(scenario)["duration_seconds"])
    # Each process numbers its own events from 0.
    for session in timeline.sessions:
        sequence = [
            dict(r.attributes)["event.sequence"]
            for r in timeline.records
            if r.signal == EVENT and r.session == session.index
        ]
        assert sequence == list(range(len(sequence)))


def test_team_day_spreads_people_over_a_working_day():
    scenario = load_scenario(bundled_scenarios()["team-day"])
    timeline = compile_scenario(scenario)
    assert 6 * 3600 < timeline.duration < 9 * 3600
    users = {dict(r.attributes)["user.id"] for r in timeline.records}
    assert len(users) == scenario_summary(scenario)["users"] == 5
    assert len({s.app_version for s in timeline.sessions}) > 1
    models = {dict(r.attributes)["model"] for r in timeline.records if r.name == "claude_code.cost.usage"}
    # Its 2.1.197 developer's usage points carry that client's [1m] suffix.
    assert len({m.removesuffix("[1m]") for m in models}) == 3 and any(m.endswith("[1m]") for m in models)


def test_failures_cover_every_failure_kind():
    timeline = compile_scenario(load_scenario(bundled_scenarios()["failures"]))
    events = [(r.name, dict(r.attributes)) for r in timeline.records if r.signal == EVENT]
    assert {a.get("status_code") for n, a in events if n == "api_error"} == {429, 529, None}
    assert {a["source"] for n, a in events if n == "tool_decision" and a["decision"] == "reject"} >= {
        "user_reject",
        "user_abort",
    }
    assert any(n == "tool_result" and a["success"] == "false" for n, a in events)


def test_resolve_scenario_by_name_or_path(tmp_path: Path):
    assert resolve_scenario("quickstart") == bundled_scenarios()["quickstart"]
    assert resolve_scenario("quickstart.yaml") == bundled_scenarios()["quickstart"]
    mine = tmp_path / "mine.yaml"
    mine.write_text("version: 1\nsessions:\n  - {}\n")
    assert resolve_scenario(str(mine)) == mine
    with pytest.raises(ScenarioError) as caught:
        resolve_scenario("nope")
    assert str(caught.value) == (
        "no scenario file 'nope' and no bundled scenario of that name; bundled: "
        "failures, feature-branch, quickstart, team-day"
    )
