"""Output other programs read, and the one line a mistake earns: commands run in-process, held exactly."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from claude_telemetry_cli import __version__
from claude_telemetry_cli.cli import app
from claude_telemetry_cli.scenario import bundled_scenarios

SIGNAL_KEYS = [
    "exporters",
    "protocol",
    "endpoint",
    "headers",
    "grpc_tls",
    "http_tls",
    "otlp_enabled",
    "disabled_reason",
]
OFF = "CLAUDE_CODE_ENABLE_TELEMETRY is not set to 1, so Claude Code exports nothing"


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_version_is_one_line():
    result = invoke("--version")
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"claude-telemetry {__version__}\n", "")


def test_config_json_keys_and_defaults(isolated_env):
    result = invoke("config", "--json", "--managed-settings", str(isolated_env["managed"]))
    assert result.exit_code == 0 and result.stderr == ""
    view = json.loads(result.stdout)
    assert list(view) == [
        "enabled",
        "profile",
        "metrics",
        "logs",
        "traces",
        "metric_export_interval_ms",
        "logs_export_interval_ms",
        "traces_export_interval_ms",
        "temporality",
        "include",
        "content",
        "internal_errors",
        "resource_attributes",
        "client",
        "prometheus",
        "headers_helper",
        "values",
        "removed",
        "warnings",
        "settings_files",
    ]
    assert list(view["metrics"]) == SIGNAL_KEYS
    assert list(view["logs"]) == SIGNAL_KEYS
    assert list(view["traces"]) == [*SIGNAL_KEYS, "enhanced_telemetry_beta"]
    assert view["metrics"] == {
        "exporters": [],
        "protocol": None,
        "endpoint": None,
        "headers": {},
        "grpc_tls": {"certificate": None, "client_key": None, "client_certificate": None},
        "http_tls": {
            "client_cert": None,
            "client_key": None,
            "client_key_passphrase": None,
            "ca_certs": None,
        },
        "otlp_enabled": False,
        "disabled_reason": OFF,
    }
    assert (view["enabled"], view["profile"], view["temporality"]) == (False, "current", "delta")
    assert view["include"] == {
        "session_id": True,
        "version": False,
        "account_uuid": True,
        "entrypoint": False,
        "resource_attributes": True,
    }
    assert view["content"] == {
        "user_prompts": False,
        "assistant_responses": None,
        "assistant_responses_effective": False,
        "tool_details": False,
        "tool_content": False,
        "raw_api_bodies": None,
        "limit_events": 61440,
        "limit_spans": 61440,
    }
    assert view["internal_errors"] is True
    assert view["prometheus"] == {"host": "localhost", "port": 9464}
    assert view["values"]["OTEL_METRIC_EXPORT_INTERVAL"] == {"value": "60000", "source": "default"}
    assert {v["source"] for v in view["values"].values()} == {"default"}
    assert (view["removed"], view["warnings"], view["settings_files"]) == ([], [OFF], [])


def test_config_names_each_value_and_its_source(isolated_env):
    result = invoke(
        "config",
        "-e",
        "CLAUDE_CODE_ENABLE_TELEMETRY=1",
        "--endpoint",
        "http://collector:4317",
        "--managed-settings",
        str(isolated_env["managed"]),
    )
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "telemetry enabled, profile current, temporality delta"
    row = next(line for line in lines if "OTEL_EXPORTER_OTLP_ENDPOINT" in line)
    assert row.split() == [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "│",
        "http://collector:4317",
        "│",
        "cli",
        "(--endpoint)",
    ]


def test_catalog_json_lists_the_contract():
    result = invoke("catalog", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    data = json.loads(result.stdout)
    assert list(data) == [
        "profile",
        "version",
        "description",
        "metric_export_interval_ms",
        "logs_export_interval_ms",
        "metrics",
        "events",
        "standard_attributes",
        "usage_model_suffix",
    ]
    assert (data["profile"], data["metric_export_interval_ms"], data["logs_export_interval_ms"]) == (
        "current",
        60000,
        5000,
    )
    assert [m["name"] for m in data["metrics"]] == [
        "claude_code.session.count",
        "claude_code.lines_of_code.count",
        "claude_code.pull_request.count",
        "claude_code.commit.count",
        "claude_code.cost.usage",
        "claude_code.token.usage",
        "claude_code.code_edit_tool.decision",
        "claude_code.active_time.total",
    ]
    assert data["metrics"][0] == {
        "name": "claude_code.session.count",
        "description": "Count of CLI sessions started",
        "unit": "",
        "attributes": ["start_type"],
    }
    assert len(data["events"]) == 27
    event = data["events"][0]
    assert list(event) == ["name", "body", "description", "attributes"]
    assert (event["name"], event["body"]) == ("user_prompt", "claude_code.user_prompt")
    assert event["attributes"][0] == {
        "key": "prompt_length",
        "type": "string",
        "description": "length of the prompt, as a string",
        "presence": "always",
    }
    assert data["standard_attributes"][0] == {
        "key": "user.id",
        "type": "string",
        "description": "anonymous 64-hex install id; always",
        "presence": "always",
    }
    assert len(data["standard_attributes"]) == 11


def test_catalog_of_the_first_profile_has_no_events():
    data = json.loads(invoke("catalog", "--profile", "2025-05", "--json").stdout)
    assert (data["profile"], data["metric_export_interval_ms"], data["events"]) == ("2025-05", 10000, [])
    assert len(data["metrics"]) == 6 and data["metrics"][0]["unit"] == "count"


def test_scenarios_list_json_rows():
    result = invoke("scenarios", "list", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["failures", "feature-branch", "quickstart", "team-day"]
    assert all(list(r) == ["name", "path", "sessions", "duration", "description"] for r in rows)
    quickstart = rows[2]
    assert quickstart["path"].endswith("bundled/scenarios/quickstart.yaml")
    assert (quickstart["sessions"], quickstart["duration"]) == (1, 4.51)


def test_scenarios_list_ends_with_the_presets():
    result = invoke("scenarios", "list")
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "┃", "sessions", "┃", "duration", "┃", "description"]
    assert lines[-1] == (
        "generator presets (generate --preset NAME; scenarios show NAME): enterprise, incident, small-team"
    )


def test_scenarios_validate_says_ok_per_file_and_fails_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: bad\nsessions:\n  - steps:\n      - nonsense: {}\n")
    result = invoke("scenarios", "validate", "quickstart", str(bad))
    assert result.exit_code == 2
    quickstart = bundled_scenarios()["quickstart"]
    assert result.stdout == f"ok  {quickstart}  (1 session, 27 records)\n"
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"error: {bad}:5: sessions[0].steps[0]: unknown step 'nonsense'; allowed: prompt, "
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "quickstart", "--instant", "--speed", "2"],
            "--instant and --speed exclude each other; choose one",
        ),
        (
            ["catalog", "--profile", "nope"],
            "unknown profile 'nope'; choose one of: current, 2.1.331, 2.1.197, 2025-05",
        ),
        (
            ["load", "--rate", "5"],
            "--rate and --batch are for --throughput mode; fleet mode paces itself by --interval",
        ),
        (
            ["load", "--duration", "soon"],
            "--duration: invalid duration 'soon'; use e.g. 250ms, 5s, 1m30s, 2h or a number of seconds",
        ),
        (["receive", "--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["smoke", "--protocol", "udp"], "--protocol 'udp': choose grpc, http/protobuf or http/json"),
        (["export", "quickstart", "--format", "csv"], "--format 'csv': use one of openmetrics, otlp-json"),
        (["generate", "--preset", "nope"], None),
        (["receive", "--expect", "quickstart", "--expect-totals", "t.json"], None),
        (["scenarios", "show", "nothing-by-that-name"], None),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(args, message, isolated_env):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    if message is not None:
        assert line == f"error: {message}"


def test_scenarios_totals_json_counts_every_signal_without_a_sender(isolated_env):
    result = invoke(
        "scenarios", "totals", "quickstart", "--json", "--managed-settings", str(isolated_env["managed"])
    )
    assert result.exit_code == 0 and result.stderr == ""
    data = json.loads(result.stdout)
    assert list(data) == ["metrics", "events", "content"]
    assert list(data["metrics"][0]) == ["name", "attributes", "value"]
    assert data["events"]["user_prompt"] == 1


def test_traceback_shows_where_an_error_came_from_and_keeps_its_line_and_exit_code():
    result = invoke("--traceback", "catalog", "--profile", "nope")
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "error: unknown profile 'nope'; choose one of: current, 2.1.331, 2.1.197, 2025-05"
    # The next command without it is back to one line.
    assert invoke("catalog", "--profile", "nope").stderr.count("\n") == 1
