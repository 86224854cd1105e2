"""Version profiles: a replay has the shape of the client version it stands for, checked against real
captures of 2.1.331 and 2.1.197 doing the same work; fleets of mixed versions; choosing and comparing
profiles."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.support.cli import run_cli, run_json, telemetry_env
from tests.support.reference_shape import differences, load_requests, reference_file, shape

# The captured session as a scenario: create hello.py (Write), edit it, commit through Bash, answer.
SESSION = """
version: 1
name: real-client-{version}
seed: 7
defaults:
  model: {model}
  effort: {effort}
sessions:
  - {app_version}os_version: 6.18.44-fc-v657
    query_source: sdk
    permission_mode: bypassPermissions
    steps:
      - prompt: {{length: 86}}
      - api_request: {{input_tokens: 100, output_tokens: 50, cache_read_tokens: 2000,
                       cache_creation_tokens: 300, duration_ms: 1517, cost_usd: 0.004625,
                       response_length: 21}}
      - edit: {{tool: Write, language: Python, lines_added: 6, lines_removed: 1, duration_ms: 2,
                input_size_bytes: 214, result_size_bytes: 143}}
      - api_request: {{input_tokens: 110, output_tokens: 55, cache_read_tokens: 2100,
                       cache_creation_tokens: 40, duration_ms: 1549, cost_usd: 0.003225}}
      - edit: {{tool: Edit, language: Python, lines_added: 4, lines_removed: 0, duration_ms: 6,
                input_size_bytes: 170, result_size_bytes: 153}}
      - api_request: {{input_tokens: 120, output_tokens: 60, cache_read_tokens: 2200,
                       cache_creation_tokens: 40, duration_ms: 1570, cost_usd: 0.00345}}
      - commit: {{duration_ms: 31, input_size_bytes: 78, result_size_bytes: 83}}
      - api_request: {{input_tokens: 130, output_tokens: 65, cache_read_tokens: 2300,
                       cache_creation_tokens: 40, duration_ms: 1510, cost_usd: 0.003675, response_length: 46}}
      - active: {{cli: 6316ms}}
"""
# The environment the 2.1.197 capture was made with (its fake API's address aside): TERM and
# ANTHROPIC_BASE_URL, not scenario fields, give terminal.type and anthropic.custom_base_url.
CAPTURE_ENV = {
    **json.loads(reference_file("real-client-2.1.197-session.json").read_text())["env"],
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:8080",
}


def _scenario(tmp_path, *, version: str, model: str, effort: str, app_version: str | None) -> str:
    path = tmp_path / f"{version}.yaml"
    line = f"app_version: {app_version}\n    " if app_version else ""
    path.write_text(SESSION.format(version=version, model=model, effort=effort, app_version=line))
    return str(path)


def _exported(tmp_path, scenario: str, *args: str) -> dict:
    out = tmp_path / "out.jsonl"
    proc = run_cli(
        ["export", scenario, "--format", "otlp-json", "--end-at", "now", "--out", str(out), *args],
        telemetry_env(**CAPTURE_ENV),
    )
    assert proc.returncode == 0, proc.stderr
    return shape(load_requests(out))


def _in_step_order(real: dict) -> dict:
    # Streaming in the real client: the Bash permission check ran a few ms before the api_request event
    # of the response that asked for it was logged. A scenario's steps are sequential.
    events = list(real["events"])
    i = next(
        i
        for i, (name, _) in enumerate(events)
        if name == "tool_decision" and events[i + 1][0] == "api_request"
    )
    events[i], events[i + 1] = events[i + 1], events[i]
    return {**real, "events": events}


def _real(name: str) -> dict:
    return _in_step_order(shape(load_requests(reference_file(name))))


@pytest.mark.parametrize("how", ["--profile", "app_version"])
def test_the_2_1_197_profile_is_the_2_1_197_client(tmp_path, how):
    by_version = how == "app_version"
    scenario = _scenario(
        tmp_path,
        version="2.1.197",
        model="claude-opus-4-8",
        effort="high",
        app_version="2.1.197" if by_version else None,
    )
    ours = _exported(tmp_path, scenario, *([] if by_version else ["--profile", "2.1.197"]))
    real = _real("real-client-2.1.197-session.json")
    assert differences(ours, real) == []
    assert ours["scopes"] == real["scopes"]  # the scope version is the client's: 2.1.197
    # The model of cost and token points carries the suffix, that of events does not.
    assert {v["model"] for v in ours["event_values"] if "model" in v} == {"claude-opus-4-8"}


def test_the_current_profile_is_the_2_1_331_client(tmp_path):
    scenario = _scenario(
        tmp_path, version="2.1.331", model="claude-opus-5-5", effort="medium", app_version=None
    )
    ours = _exported(tmp_path, scenario)
    real = _real("real-client-2.1.331-session.json")
    assert differences(ours, real) == []


def test_the_two_clients_differ_as_the_captures_do(tmp_path):
    old = _real("real-client-2.1.197-session.json")
    new = _real("real-client-2.1.331-session.json")
    names = [n for n, _ in new["events"]]
    assert names[:4] == ["managed_settings_resolved", "plugin_loaded", "plugin_loaded", "plugin_loaded"]
    assert [n for n, _ in old["events"]] == [n for n in names[4:] if n != "retention_sweep"]


def _by_version(path) -> dict[str, dict[str, list]]:
    """The points (name, attributes) and events (attributes) of an OTLP/JSON file, by service.version."""
    out: dict[str, dict[str, list]] = {}
    for body in load_requests(path):
        for key in ("resourceMetrics", "resourceLogs"):
            for resource in body.get(key, []):
                version = {a["key"]: a["value"] for a in resource["resource"]["attributes"]}[
                    "service.version"
                ]
                mine = out.setdefault(version["stringValue"], {"points": [], "events": []})
                for scope in resource.get("scopeMetrics", []):
                    for metric in scope["metrics"]:
                        for p in metric["sum"]["dataPoints"]:
                            mine["points"].append(
                                (metric["name"], {a["key"]: a["value"] for a in p["attributes"]})
                            )
                for scope in resource.get("scopeLogs", []):
                    for record in scope["logRecords"]:
                        mine["events"].append({a["key"]: a["value"] for a in record["attributes"]})
    return out


def _assert_shapes(new: dict[str, list], old: dict[str, list]) -> None:
    """`new` in the 2.1.331 shape and `old` in the 2.1.197 one, as the captures show them."""
    assert new["points"] and all("anthropic.provider" in a for _, a in new["points"])
    assert old["points"] and not any("anthropic.provider" in a for _, a in old["points"])
    assert not any("anthropic.provider" in a for a in old["events"])
    usage = {a["model"]["stringValue"] for n, a in old["points"] if n == "claude_code.cost.usage"}
    assert usage and all(m.endswith("[1m]") for m in usage)
    usage = {a["model"]["stringValue"] for n, a in new["points"] if n == "claude_code.cost.usage"}
    assert usage and not any(m.endswith("[1m]") for m in usage)
    new_names = {a["event.name"]["stringValue"] for a in new["events"]}
    old_names = {a["event.name"]["stringValue"] for a in old["events"]}
    assert "plugin_loaded" in new_names and not {"plugin_loaded", "retention_sweep"} & old_names
    assert all("ttft_ms" in a for a in new["events"] if a["event.name"]["stringValue"] == "api_request")
    assert not any("ttft_ms" in a for a in old["events"])


def _export(tmp_path, scenario) -> dict[str, dict[str, list]]:
    out = tmp_path / "fleet.jsonl"
    proc = run_cli(
        ["export", str(scenario), "--format", "otlp-json", "--end-at", "now", "--out", str(out)],
        telemetry_env(**CAPTURE_ENV),
    )
    assert proc.returncode == 0, proc.stderr
    return _by_version(out)


def test_sessions_of_two_client_versions_have_each_their_own_shape(tmp_path):
    scenario = tmp_path / "fleet.yaml"
    scenario.write_text(
        textwrap.dedent(
            """
            version: 1
            name: fleet
            seed: 3
            sessions:
              - app_version: 2.1.331
                steps: [{prompt: {length: 10}}, {api_request: {model: claude-sonnet-4-5}}, {wait: 6s}]
              - app_version: 2.1.250
                steps: [{prompt: {length: 10}}, {api_request: {model: claude-sonnet-4-5}}, {wait: 6s}]
            """
        )
    )
    by_version = _export(tmp_path, scenario)
    assert set(by_version) == {"2.1.331", "2.1.250"}  # 2.1.250: the nearest profile below is 2.1.197
    _assert_shapes(by_version["2.1.331"], by_version["2.1.250"])


def test_a_generated_fleet_of_two_client_versions_has_each_sessions_own_shape(tmp_path):
    scenario = tmp_path / "generated.yaml"
    mix = ["client_versions.2.1.331=0.5", "client_versions.2.1.300=0", "client_versions.2.1.197=0.5"]
    proc = run_cli(
        [
            "generate",
            "--preset",
            "small-team",
            "--developers",
            "6",
            "--days",
            "1",
            "--seed",
            "4",
            *(x for pair in mix for x in ("--set", pair)),
            "--out",
            str(scenario),
        ],
        telemetry_env(),
    )
    assert proc.returncode == 0, proc.stderr
    by_version = _export(tmp_path, scenario)
    assert set(by_version) == {"2.1.331", "2.1.197"}
    _assert_shapes(by_version["2.1.331"], by_version["2.1.197"])


def test_an_unknown_profile_is_one_line_listing_the_known_ones():
    proc = run_cli(["catalog", "--profile", "2.1.250"], telemetry_env())
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "unknown profile '2.1.250'" in line and "2.1.197, 2025-05" in line and "current" in line


def test_a_version_older_than_every_profile_gets_the_oldest_and_one_warning(tmp_path):
    scenario = tmp_path / "ancient.yaml"
    entry = "  - app_version: 1.0.40\n    steps: [{prompt: {length: 5}}, {api_request: {}}]\n"
    scenario.write_text("version: 1\nname: ancient\nsessions:\n" + entry * 3)
    proc = run_cli(["scenarios", "totals", str(scenario), "--json"], telemetry_env(**CAPTURE_ENV))
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "1.0.40" in line]
    assert len(warnings) == 1 and "2.1.197" in warnings[0]
    totals = json.loads(proc.stdout)
    assert {m["name"] for m in totals["metrics"]} and "plugin_loaded" not in json.dumps(totals["events"])


def test_catalog_shows_a_profile_and_the_drift_between_two():
    old = run_json(["catalog", "--profile", "2.1.197", "--json"], telemetry_env())
    assert old["profile"] == "2.1.197" and old["usage_model_suffix"] == "[1m]"
    assert "retention_sweep" not in {e["name"] for e in old["events"]}
    diff = run_json(["catalog", "--diff", "2.1.197", "current", "--json"], telemetry_env())
    assert {"standard attribute anthropic.provider added", "event retention_sweep added"} <= set(
        diff["changes"]
    )
    assert "event api_request: attribute ttft_ms added" in diff["changes"]
    proc = run_cli(["catalog", "--diff", "2.1.197", "current"], telemetry_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("2.1.197 -> current:")
    assert len(proc.stdout.splitlines()) == len(diff["changes"]) + 1
