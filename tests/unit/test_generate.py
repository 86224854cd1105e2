"""`generate`: seeded organisations that validate, stream, replay exactly and match the published figures."""

from __future__ import annotations

import json
import math
import tracemalloc

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_telemetry_cli.contract import MODEL_PRICES
from claude_telemetry_cli.errors import UsageError
from claude_telemetry_cli.records import EVENT
from claude_telemetry_cli.scenario import (
    bundled_scenarios,
    compile_scenario,
    load_scenario,
    load_scenario_text,
)
from claude_telemetry_cli.scenario.generate import (
    PRESETS_DIR,
    GenerateParams,
    build_params,
    generate,
    generate_text,
    incident_window,
    param_names,
    preset_names,
)
from claude_telemetry_cli.scenario.generate.engine import _num
from tests.support.cli import otlp_env, run_cli, telemetry_env
from tests.support.otlp_sink import OtlpSink

# A light population: a few prompts per session keeps files small where only the shape matters.
LIGHT = ["prompts_per_session=2", "requests_per_prompt=2", "sessions_per_day=1.5"]


def _text(**flags) -> str:
    sets = flags.pop("sets", [])
    return generate_text(build_params(flags=flags, sets=sets))[0]


# -- determinism --------------------------------------------------------------------------------------


def test_the_same_parameters_give_the_same_bytes():
    first = _text(developers=7, teams=2, days=3, seed=11)
    assert first == _text(developers=7, teams=2, days=3, seed=11)
    assert first != _text(developers=7, teams=2, days=3, seed=12)


def test_the_order_of_a_mix_does_not_matter():
    a = _text(developers=3, days=2, sets=["model_mix={claude-opus-4-5: 1, claude-sonnet-4-5: 1}"])
    b = _text(developers=3, days=2, sets=["model_mix={claude-sonnet-4-5: 1, claude-opus-4-5: 1}"])
    assert a == b


def test_the_cli_writes_the_same_bytes_every_time(tmp_path):
    args = ["generate", "--preset", "small-team", "--days", "2", "--seed", "3"]
    first = run_cli([*args, "--out", str(tmp_path / "a.yaml")], telemetry_env())
    second = run_cli([*args, "--out", "-"], telemetry_env())
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert (tmp_path / "a.yaml").read_text() == second.stdout
    assert first.stdout.startswith(f"wrote {tmp_path / 'a.yaml'}: ")


def test_a_developers_day_does_not_change_when_the_period_grows():
    short = _text(developers=4, days=2, seed=5)
    longer = _text(developers=4, days=4, seed=5)
    body = short[short.index("sessions:\n") :]
    assert body in longer


# -- every generated file validates ---------------------------------------------------------------------

_MODELS = sorted(MODEL_PRICES)
_RATE = st.floats(0, 1, allow_nan=False)
_WEIGHTS = st.floats(0.01, 5, allow_nan=False)


@st.composite
def _params(draw) -> GenerateParams:
    developers = draw(st.integers(1, 6))
    teams = draw(st.integers(1, developers))
    days = draw(st.integers(1, 3))
    subagent = draw(st.floats(0, 0.4))
    errors = {k: draw(st.floats(0, 0.05)) for k in ("429", "500", "529", "connection")}
    return GenerateParams(
        developers=developers,
        teams=teams,
        orgs=draw(st.integers(1, teams)),
        days=days,
        seed=draw(st.integers(0, 2**40)),
        start_weekday=draw(st.integers(0, 6)),
        work_start_hour=draw(st.floats(0, 23.5)),
        work_hours=draw(st.floats(0.25, 12)),
        time_zones=tuple(
            sorted({"UTC-08:00": 1.0, draw(st.sampled_from(["UTC+14:00", "UTC", "UTC+05:30"])): 2.0}.items())
        ),
        active_day_rate=draw(_RATE),
        weekend_activity=draw(_RATE),
        sessions_per_day=draw(st.floats(1, 3)),
        prompts_per_session=draw(st.floats(1, 3)),
        requests_per_prompt=draw(st.floats(1, 4)),
        developer_sigma=draw(st.floats(0, 2)),
        day_sigma=draw(st.floats(0, 2)),
        session_sigma=draw(st.floats(0, 1)),
        context_tokens=draw(st.integers(0, 50_000)),
        output_tokens=draw(st.integers(1, 5000)),
        compact_threshold=draw(st.integers(60_000, 200_000)),
        model_mix=tuple(
            sorted({m: draw(_WEIGHTS) for m in draw(st.sets(st.sampled_from(_MODELS), min_size=1))}.items())
        ),
        model_loyalty=draw(_RATE),
        subagent_share=subagent,
        auxiliary_share=draw(st.floats(0, 0.8 - subagent)),
        tool_failure_rate=draw(_RATE),
        tool_reject_rate=draw(_RATE),
        commits_per_day=draw(st.floats(0, 5)),
        pull_requests_per_day=draw(st.floats(0, 3)),
        error_rates=tuple(sorted(errors.items())),
        retry_rate=draw(_RATE),
        max_attempts=draw(st.integers(1, 20)),
        incident_day=draw(st.one_of(st.none(), st.integers(0, days - 1))),
        incident_start_hour=draw(st.floats(0, 23)),
        incident_hours=draw(st.floats(0.5, 30)),
    ).validate()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_params())
def test_every_generated_file_loads_compiles_and_agrees_with_its_statistics(params):
    text, stats = generate_text(params)
    scenario = load_scenario_text(text, "generated.yaml")
    timeline = compile_scenario(scenario)
    summary = stats.summary
    assert len(timeline.sessions) == summary["sessions"]
    totals = timeline.totals()
    assert totals.events.get("api_request", 0) == summary["requests"]["total"]
    assert totals.events.get("api_error", 0) == sum(summary["api_errors"].values())
    assert math.isclose(totals.metric_sums().get("claude_code.cost.usage", 0.0), stats.cost, abs_tol=1e-6)
    assert summary["bytes"] == len(text)


def test_an_idle_period_still_gives_a_valid_scenario():
    # Day 0 is a Saturday and nobody works weekends.
    text = _text(developers=2, days=1, sets=["start_weekday=5", "weekend_activity=0"])
    assert len(load_scenario_text(text).sessions) == 1


def test_costs_are_written_exactly_as_yaml_reads_them():
    for value in (1e-05, 5e-07, 0.0023200000000000004, 0.1, 12.5):
        assert yaml.safe_load(f"x: {_num(value)}")["x"] == value


# -- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--developers", "-3"], "developers"),
        (["--developers", "0"], "developers"),
        (["--preset", "no-such-preset"], "unknown preset"),
        (["--set", "error_rates.529=1.5"], "error_rates"),
        (["--set", "error_rates={429: 0.6, 529: 0.6}"], "error_rates"),
        (["--days", "0"], "days"),
        (["--teams", "9", "--developers", "3"], "teams"),
        (["--set", "active_day_rate=-0.1"], "active_day_rate"),
        (["--set", "no_such_parameter=1"], "no_such_parameter"),
        (["--set", "model_mix={gpt-4: 1}"], "model_mix"),
        (["--set", "time_zones={UTC+3: 1}"], "time_zones"),
        (["--set", "incident_day=9"], "incident_day"),
        (["--set", "subagent_share=0.5", "--set", "auxiliary_share=0.5"], "subagent_share"),
        (["--set", "developers"], "KEY=VALUE"),
    ],
)
def test_impossible_parameters_are_one_line_and_exit_2(args, needle):
    proc = run_cli(["generate", *args, "--out", "-"], telemetry_env())
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert proc.stdout == ""


def test_validate_names_the_parameter_and_its_range():
    with pytest.raises(UsageError, match=r"^developers: must be an integer from 1 to 1,000,000, got -1$"):
        GenerateParams(developers=-1).validate()
    with pytest.raises(UsageError, match=r"^error_rates: 529: must be a rate from 0 to 1, got 2$"):
        GenerateParams(error_rates=(("529", 2.0),)).validate()


def test_a_preset_problem_names_its_file_and_line(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("developers: 5\n# a comment\ncolour: blue\n")
    with pytest.raises(UsageError, match=rf"^{preset}:3: unknown parameter 'colour'"):
        build_params(str(preset))
    preset.write_text("developers: 5\nactive_day_rate: 1.5\n")
    with pytest.raises(UsageError, match=rf"^{preset}:2: active_day_rate: must be a number from 0 to 1"):
        build_params(str(preset))
    proc = run_cli(["generate", "--preset", str(preset)], telemetry_env())
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: {preset}:2: active_day_rate: must be a number from 0 to 1, got 1.5"
    ]


# -- presets --------------------------------------------------------------------------------------------


def test_the_presets_are_documented_and_are_not_scenarios():
    assert preset_names() == ["enterprise", "incident", "small-team"]
    assert all(p.parent != PRESETS_DIR for p in bundled_scenarios().values())
    for name in preset_names():
        text = (PRESETS_DIR / f"{name}.yaml").read_text()
        keys = list(yaml.safe_load(text))
        # Every parameter is in every preset, each with a comment saying what it means.
        assert keys == list(param_names()), name
        for line in text.splitlines():
            if line and not line.startswith((" ", "#")):
                assert "#" in line, f"{name}: undocumented: {line}"
        build_params(name)


def test_flags_and_set_override_a_preset():
    params = build_params(
        "enterprise", {"developers": 40, "days": 2}, ["error_rates.529=0.01", "active_day_rate=0.9"]
    )
    assert (params.developers, params.days, params.active_day_rate) == (40, 2, 0.9)
    assert dict(params.error_rates)["529"] == 0.01 and dict(params.error_rates)["429"] == 0.002
    # 60 teams in the preset, 40 developers asked for: fewer teams, not an error.
    assert params.teams == 40 and params.name == "enterprise"


# -- calibration ----------------------------------------------------------------------------------------


def test_the_enterprise_preset_lands_in_the_published_ranges():
    params = build_params("enterprise", {"developers": 300, "days": 20, "seed": 1})
    stats = generate(params, _Discard())
    s = stats.summary
    assert 11.05 <= s["mean_cost_per_active_day"] <= 14.95, s
    assert s["p90_cost_per_active_day"] < 30, s
    assert 150 <= s["cost_per_developer_month"] <= 250, s
    assert 0.25 <= s["rpm_per_user"] <= 0.35, s
    # Heavy tails: the mean sits above the median, a few developers cost several times the typical one.
    assert s["median_cost_per_active_day"] < s["mean_cost_per_active_day"]
    assert s["max_cost_per_developer_month"] > 2.5 * s["median_cost_per_developer_month"]
    # Cache reads dominate input, as in real agentic use.
    assert s["cache_read_share_of_input"] > 0.85
    assert 0.12 < s["requests"]["subagent"] / s["requests"]["total"] < 0.18
    assert 0.06 < s["requests"]["auxiliary"] / s["requests"]["total"] < 0.10


def test_report_json_checks_every_target_for_500_developers(tmp_path):
    proc = run_cli(
        ["generate", "--preset", "enterprise", "--developers", "500", "--days", "10", "--seed", "1"]
        + ["--out", str(tmp_path / "org.yaml"), "--json"],
        telemetry_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["statistics"]["guidance_row"] == "500+"
    assert [t["key"] for t in report["targets"]] == [
        "mean_cost_per_active_day",
        "p90_cost_per_active_day",
        "cost_per_developer_month",
        "rpm_per_user",
    ]
    assert all(t["ok"] for t in report["targets"]), report["targets"]
    assert report["statistics"]["bytes"] == (tmp_path / "org.yaml").stat().st_size


def test_report_goes_to_stderr_when_the_yaml_goes_to_stdout():
    proc = run_cli(
        ["generate", "--developers", "2", "--days", "1", "--report", *_sets(LIGHT)], telemetry_env()
    )
    assert proc.returncode == 0, proc.stderr
    load_scenario_text(proc.stdout)
    assert "mean cost per developer per active day" in proc.stderr


def _sets(pairs: list[str]) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


class _Discard:
    """A writer that keeps only the size of what it was given."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


# -- streaming ------------------------------------------------------------------------------------------


def test_generation_streams_instead_of_holding_the_file():
    # Faker's data and the normal table are loaded once per process; load them before measuring.
    generate(build_params(flags={"developers": 1, "days": 1}), _Discard())
    params = build_params(
        flags={"developers": 1000, "teams": 50, "days": 5, "seed": 2},
        sets=["prompts_per_session=2", "requests_per_prompt=3", "sessions_per_day=1.5"],
    )
    sink = _Discard()
    tracemalloc.start()
    try:
        generate(params, sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.size > 10_000_000
    # The population, one cost per developer-day and one developer-day of text: a sliver of the output.
    assert peak < sink.size / 8, (peak, sink.size)


# -- the incident preset --------------------------------------------------------------------------------


def test_the_incident_preset_has_an_error_burst():
    # Fewer, shorter sessions than the preset's keep the file small enough to compile quickly.
    sets = ["prompts_per_session=2", "requests_per_prompt=3", "sessions_per_day=4"]
    params = build_params("incident", {"developers": 30, "teams": 3}, sets)
    text, _ = generate_text(params)
    start, end = incident_window(params)
    records = compile_scenario(load_scenario_text(text)).records
    inside = {"api_request": 0, "api_error": 0}
    outside = {"api_request": 0, "api_error": 0}
    for r in records:
        if r.signal == EVENT and r.name in inside:
            (inside if start <= r.at < end else outside)[r.name] += 1
    assert inside["api_request"] > 40 and outside["api_request"] > 1000
    rate_inside = inside["api_error"] / inside["api_request"]
    rate_outside = outside["api_error"] / outside["api_request"]
    assert rate_inside > 0.2 and rate_outside < 0.02, (inside, outside)
    assert rate_inside > 10 * rate_outside


# -- replay ---------------------------------------------------------------------------------------------


def test_a_generated_file_replays_with_exact_totals(tmp_path):
    path = tmp_path / "org.yaml"
    params = build_params(
        flags={"developers": 3, "days": 1, "seed": 9}, sets=[*LIGHT, "error_rates.529=0.05"]
    )
    with path.open("w") as out:
        generate(params, out)
    expected = compile_scenario(load_scenario(path)).totals()
    sink = OtlpSink().start()
    try:
        env = otlp_env(sink.endpoint, HOME=str(tmp_path))
        proc = run_cli(["run", str(path), "--instant"], env, cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr
        arrived = sink.wait_for(lambda s: s.tally().totals().equals(expected), timeout=30)
        assert arrived, f"expected {expected.to_json()}\ngot {sink.tally().totals().to_json()}"
    finally:
        sink.stop()
