"""The command line as a user meets it: output, exit codes, one-line errors, fast --help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.cli import otlp_env, run_cli, run_json, telemetry_env


def test_record_help_names_only_options_record_has():
    proc = run_cli(["record", "--help"], telemetry_env(COLUMNS="200"))
    assert proc.returncode == 0
    assert "--timeout" in proc.stdout and "--expect" not in proc.stdout


def test_help_does_not_import_the_sdk_grpc_or_faker():
    code = (
        "import sys\n"
        "from claude_telemetry_cli.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('opentelemetry.sdk', 'grpc', 'faker') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=telemetry_env()
    )
    assert "Replay scripted Claude Code sessions" in proc.stdout
    assert "HEAVY []" in proc.stdout


@pytest.mark.parametrize(
    "command", [["run", "--help"], ["config", "--help"], ["scenarios", "totals", "--help"]]
)
def test_every_command_explains_itself(command):
    proc = run_cli(command, telemetry_env())
    assert proc.returncode == 0
    assert "Usage:" in proc.stdout and "--profile" in proc.stdout


def test_console_demo_prints_metrics_and_events(tmp_path):
    env = telemetry_env(
        CLAUDE_CODE_ENABLE_TELEMETRY="1", OTEL_METRICS_EXPORTER="console", OTEL_LOGS_EXPORTER="console"
    )
    proc = run_cli(["run", "quickstart", "--instant"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"name": "claude_code.session.count"' in proc.stdout
    assert '"body": "claude_code.user_prompt"' in proc.stdout
    assert "claude_code.token.usage" in proc.stdout  # in the summary table too


def test_run_json_reports_what_was_recorded_and_exported(tmp_path):
    env = telemetry_env(CLAUDE_CODE_ENABLE_TELEMETRY="1", OTEL_METRICS_EXPORTER="console")
    data = run_json(["run", "quickstart", "--instant"], env, cwd=tmp_path)
    assert data["ok"] is True
    [summary] = data["scenarios"]
    totals = run_json(["scenarios", "totals", "quickstart"], env, cwd=tmp_path)
    cost = sum(m["value"] for m in totals["metrics"] if m["name"] == "claude_code.cost.usage")
    assert summary["metrics"]["claude_code.cost.usage"]["total"] == pytest.approx(cost)
    [console] = data["exporters"]
    assert console["exporter"] == "console" and console["failed_requests"] == 0 and console["items"] > 0
    # Logs were not selected: Claude Code sends no events, and we say so.
    assert any("OTEL_LOGS_EXPORTER" in w for w in data["warnings"])


def test_telemetry_not_enabled_exports_nothing_and_says_why(tmp_path):
    proc = run_cli(
        ["run", "quickstart", "--instant"], telemetry_env(OTEL_METRICS_EXPORTER="console"), cwd=tmp_path
    )
    assert proc.returncode == 0
    assert "CLAUDE_CODE_ENABLE_TELEMETRY" in proc.stderr
    assert "claude_code.session.count\n" not in proc.stdout and '"name"' not in proc.stdout
    assert "nothing was exported" in proc.stdout


def test_invalid_protocol_exports_nothing_and_says_why(tmp_path):
    env = telemetry_env(
        CLAUDE_CODE_ENABLE_TELEMETRY="1",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="http",
    )
    proc = run_cli(["run", "quickstart", "--instant"], env, cwd=tmp_path)
    assert proc.returncode == 0
    assert "OTEL_EXPORTER_OTLP_PROTOCOL" in proc.stderr and "'http'" in proc.stderr


def test_config_shows_sources_and_masks_secrets(tmp_path):
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text(
        json.dumps({"env": {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}})
    )
    env = telemetry_env(
        HOME=str(home),
        CLAUDE_CODE_ENABLE_TELEMETRY="1",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer topsecret",
    )
    view = run_json(
        [
            "config",
            "-e",
            "OTEL_METRIC_EXPORT_INTERVAL=5000",
            "--managed-settings",
            str(tmp_path / "none.json"),
        ],
        env,
        cwd=tmp_path,
    )
    values = view["values"]
    assert values["OTEL_EXPORTER_OTLP_PROTOCOL"]["source"].startswith("settings:")
    assert values["OTEL_METRIC_EXPORT_INTERVAL"] == {"value": "5000", "source": "cli"}
    assert values["CLAUDE_CODE_ENABLE_TELEMETRY"]["source"] == "env"
    assert view["metrics"]["endpoint"] == "http://localhost:4318/v1/metrics"
    proc = run_cli(["config"], env, cwd=tmp_path)
    assert proc.returncode == 0
    assert "topsecret" not in proc.stdout + json.dumps(view)
    assert "Authorization=***" in proc.stdout


def test_export_flags_are_command_line_overrides_config_names(tmp_path):
    env = telemetry_env(
        CLAUDE_CODE_ENABLE_TELEMETRY="1",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://from-env:4317",
        OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer envsecret",
    )
    args = [
        "config",
        "--endpoint",
        "http://127.0.0.1:14318",
        "--protocol",
        "http/protobuf",
        "--header",
        "x-team=flagsecret",
        "--header",
        "x-list=a,b",
        "--insecure",
        "--managed-settings",
        str(tmp_path / "none.json"),
    ]
    view = run_json(args, env, cwd=tmp_path)
    values = view["values"]
    assert values["OTEL_EXPORTER_OTLP_ENDPOINT"] == {
        "value": "http://127.0.0.1:14318",
        "source": "cli (--endpoint)",
    }
    assert values["OTEL_EXPORTER_OTLP_PROTOCOL"] == {"value": "http/protobuf", "source": "cli (--protocol)"}
    assert values["OTEL_EXPORTER_OTLP_INSECURE"] == {"value": "true", "source": "cli (--insecure)"}
    # --header adds to the headers set elsewhere; every value stays hidden.
    assert values["OTEL_EXPORTER_OTLP_HEADERS"]["source"] == "cli (--header)"
    assert view["metrics"]["headers"] == {"authorization": "***", "x-team": "***", "x-list": "***"}
    assert view["metrics"]["endpoint"] == "http://127.0.0.1:14318/v1/metrics"
    proc = run_cli(args[:-2], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "cli (--endpoint)" in proc.stdout
    for secret in ("envsecret", "flagsecret", "a,b", "a%2Cb"):
        assert secret not in proc.stdout + proc.stderr + json.dumps(view)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--protocol", "http/xml"], "--protocol 'http/xml': use grpc, http/protobuf or http/json"),
        (["--endpoint", "collector:4317"], "--endpoint: 'collector:4317' is not an http(s) URL"),
        (["--header", "Authorization: Bearer hidden"], "--header 'Authorization***': expected KEY=VALUE"),
        (
            ["--endpoint", "http://a:4317", "-e", "OTEL_EXPORTER_OTLP_ENDPOINT=http://b:4317"],
            "--endpoint and -e OTEL_EXPORTER_OTLP_ENDPOINT both set",
        ),
        (
            ["--insecure", "-e", "OTEL_EXPORTER_OTLP_INSECURE=false"],
            "--insecure and -e OTEL_EXPORTER_OTLP_INSECURE both set",
        ),
    ],
)
@pytest.mark.parametrize("command", ["config", "run", "load"])
def test_a_bad_export_flag_is_one_line_and_exit_2(tmp_path, command, args, fragment):
    scenario = ["quickstart", "--instant"] if command == "run" else []
    proc = run_cli([command, *scenario, *args], telemetry_env(CLAUDE_CODE_ENABLE_TELEMETRY="1"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "hidden" not in proc.stderr


@pytest.mark.parametrize(
    "variable, value, fragment",
    [
        ("OTEL_METRIC_EXPORT_INTERVAL", "abc", "OTEL_METRIC_EXPORT_INTERVAL"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "novalue", "OTEL_EXPORTER_OTLP_HEADERS"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team", "OTEL_RESOURCE_ATTRIBUTES"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem", "/nonexistent/ca.pem"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes", "cumulative"),
        ("OTEL_METRICS_EXPORTER", "otlp,carrier-pigeon", "carrier-pigeon"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(tmp_path, otlp_sink, variable, value, fragment):
    env = otlp_env(
        otlp_sink.endpoint,
    )
    env[variable] = value
    proc = run_cli(["run", "quickstart", "--instant"], env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
    assert "Traceback" not in proc.stderr
    assert not otlp_sink.metric_requests and not otlp_sink.log_requests  # nothing half-sent


def test_bad_scenario_names_file_and_line_and_sends_nothing(tmp_path, otlp_sink):
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\nname: good\nsessions:\n  - steps:\n      - prompt: {length: 10}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nname: bad\nsessions:\n  - steps:\n      - prompt: {length: 10}\n"
        "      - api_request: {input_tokens: -5}\n"
    )
    env = otlp_env(
        otlp_sink.endpoint,
        logs=False,
    )
    proc = run_cli(["run", str(good), str(bad), "--instant"], env, cwd=tmp_path)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert f"{bad}:6:" in line and "input_tokens" in line
    assert not otlp_sink.metric_requests


@pytest.mark.parametrize(
    "text, where",
    [
        ("version: 1\nname: x\nsessions:\n  - steps:\n      - prompt: {length: 10\n", ":5:"),
        ("version: 1\nname: x\nsessions:\n  - steps:\n      - deploy: {}\n", ":5:"),
        ("version: 1\nname: x\nsessions:\n  - steps:\n      - prompt: {length: ten}\n", ":5:"),
        ("version: 1\nname: x\nsessions:\n  - colour: blue\n    steps: []\n", ":4:"),
    ],
)
def test_validate_reports_each_problem_with_its_line(tmp_path, text, where):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    proc = run_cli(["scenarios", "validate", str(path)], telemetry_env())
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert f"{path}{where}" in line


def test_validate_accepts_every_bundled_scenario():
    names = [r["name"] for r in run_json(["scenarios", "list"], telemetry_env())]
    assert {"quickstart", "feature-branch", "team-day", "failures"} <= set(names)
    proc = run_cli(["scenarios", "validate", *names], telemetry_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok ") == len(names)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["catalog", "--profile", "2024-01"], "unknown profile '2024-01'"),
        (["run", "quickstart", "--instant", "--speed", "2"], "--instant and --speed"),
        (["run", "quickstart", "-e", "NOEQUALS"], "NOEQUALS"),
        (["run", "no-such-scenario"], "no-such-scenario"),
        (["run", "quickstart", "--linger", "soon"], "--linger"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, fragment):
    proc = run_cli(args, telemetry_env(), cwd=tmp_path)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert fragment in line


def test_env_file_errors_name_file_and_line(tmp_path):
    env_file = tmp_path / "telemetry.env"
    env_file.write_text("CLAUDE_CODE_ENABLE_TELEMETRY=1\n# comment\nthis is not a pair\n")
    proc = run_cli(["config", "--env-file", str(env_file)], telemetry_env(), cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{env_file}:3:" in proc.stderr


def test_catalog_lists_the_contract_for_both_profiles():
    current = run_json(["catalog"], telemetry_env())
    assert len(current["metrics"]) == 8 and current["metric_export_interval_ms"] == 60000
    units = {m["name"]: m["unit"] for m in current["metrics"]}
    assert units["claude_code.cost.usage"] == "USD" and units["claude_code.session.count"] == ""
    assert {"user_prompt", "api_request", "tool_result"} <= {e["name"] for e in current["events"]}
    seed = run_json(["catalog", "--profile", "2025-05"], telemetry_env())
    assert len(seed["metrics"]) == 6 and seed["events"] == [] and seed["metric_export_interval_ms"] == 10000
    assert {m["name"]: m["unit"] for m in seed["metrics"]}["claude_code.commit.count"] == "count"


def test_totals_count_only_the_signals_the_senders_configuration_exports(tmp_path):
    everything = run_json(["scenarios", "totals", "quickstart"], telemetry_env(), cwd=tmp_path)
    assert everything["metrics"] and everything["events"]
    metrics_only = run_json(
        ["scenarios", "totals", "quickstart"],
        telemetry_env(
            CLAUDE_CODE_ENABLE_TELEMETRY="1", OTEL_METRICS_EXPORTER="otlp", OTEL_EXPORTER_OTLP_PROTOCOL="grpc"
        ),
        cwd=tmp_path,
    )
    assert metrics_only["metrics"] == everything["metrics"] and metrics_only["events"] == {}


def test_output_into_a_pipe_keeps_whole_urls_and_names(tmp_path):
    """A CI log has no terminal width: nothing is cut at 80 columns or folded mid-URL."""
    url = "http://127.0.0.1:49999/a/rather/long/path/to/the/collector/of/this/team/v1"
    env = telemetry_env()
    env.pop("COLUMNS", None)
    proc = run_cli(
        ["config", "-e", "CLAUDE_CODE_ENABLE_TELEMETRY=1", "-e", f"OTEL_EXPORTER_OTLP_ENDPOINT={url}"],
        env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert url in proc.stdout
    assert "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE" in proc.stdout
    assert "…" not in proc.stdout


def test_counts_agree_with_their_nouns():
    proc = run_cli(["scenarios", "validate", "quickstart"], telemetry_env())
    assert proc.returncode == 0, proc.stderr
    assert "(1 session, " in proc.stdout
