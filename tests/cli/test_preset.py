"""`run` and `scenarios totals` take a preset and the generator's options instead of a scenario file."""

from __future__ import annotations

import pytest

from tests.support.cli import run_cli, run_json, telemetry_env

PRESET = ["--preset", "small-team", "--days", "2", "--seed", "3"]


def test_totals_of_a_preset_are_those_of_the_file_generate_writes(tmp_path):
    env = telemetry_env()
    path = tmp_path / "team.yaml"
    proc = run_cli(["generate", *PRESET, "--out", str(path)], env)
    assert proc.returncode == 0, proc.stderr
    from_file = run_json(["scenarios", "totals", str(path)], env)
    direct = run_json(["scenarios", "totals", *PRESET], env)
    assert direct == from_file
    assert direct["metrics"] and direct["events"]


def test_totals_take_set_and_the_population_flags(tmp_path):
    env = telemetry_env()
    options = ["--preset", "enterprise", "--developers", "5", "--teams", "2", "--orgs", "1", "--days", "1"]
    options += ["--set", "error_rates.529=0.2"]
    path = tmp_path / "org.yaml"
    assert run_cli(["generate", *options, "--out", str(path)], env).returncode == 0
    assert run_json(["scenarios", "totals", *options], env) == run_json(
        ["scenarios", "totals", str(path)], env
    )


def test_run_replays_a_preset():
    env = telemetry_env(CLAUDE_CODE_ENABLE_TELEMETRY="1", OTEL_METRICS_EXPORTER="console")
    proc = run_cli(["run", "--preset", "small-team", "--days", "1", "--seed", "1", "--instant"], env)
    assert proc.returncode == 0, proc.stderr
    assert "small-team" in proc.stdout
    assert "claude_code.cost.usage" in proc.stdout


def test_run_json_names_the_generated_scenario():
    env = telemetry_env(CLAUDE_CODE_ENABLE_TELEMETRY="1", OTEL_METRICS_EXPORTER="console")
    data = run_json(["run", *PRESET, "--instant"], env, timeout=300)
    (summary,) = data["scenarios"]
    assert summary["scenario"] == "small-team"
    assert summary["sessions"] > 20 and not summary["aborted"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "quickstart", *PRESET], "not both"),
        (["run", "--instant"], "or --preset NAME"),
        (["run", "quickstart", "--days", "3"], "--days goes with --preset"),
        (["run", "quickstart", "--set", "days=3"], "--set goes with --preset"),
        (["run", "--preset", "nope"], "unknown preset 'nope'"),
        (["run", "--preset", "small-team", "--days", "0"], "days:"),
        (["scenarios", "totals", "quickstart", "--preset", "small-team"], "not both"),
        (["scenarios", "totals"], "or --preset NAME"),
        (["scenarios", "totals", "--seed", "1"], "--seed goes with --preset"),
        (["scenarios", "totals", "--preset", "small-team", "--set", "bogus=1"], "bogus"),
    ],
)
def test_bad_combinations_are_one_line_and_exit_2(args, message):
    proc = run_cli(args, telemetry_env(CLAUDE_CODE_ENABLE_TELEMETRY="1", OTEL_METRICS_EXPORTER="console"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr
