"""Hostile values of the OTEL_* and CLAUDE_CODE_* variables the tool reads: the configuration is shown
(and a scenario's totals computed) or the variable is refused in one line naming it, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_telemetry_cli.settings import RELEVANT_VARIABLES
from tests.fuzz.harness import assert_handled, assert_refused, fuzz, quiet_env, run_case
from tests.fuzz.hostile import CONTROL


def _pairs(count: int) -> str:
    return ",".join(f"k{n}=v{n}" for n in range(count))


# (variable, value, what the error line says)
REFUSED = [
    ("OTEL_RESOURCE_ATTRIBUTES", _pairs(1000), "OTEL_RESOURCE_ATTRIBUTES: 1,000 attributes are more than 32"),
    (
        "OTEL_RESOURCE_ATTRIBUTES",
        _pairs(33),
        "33 attributes are more than 32, the most one variable may list",
    ),
    ("OTEL_EXPORTER_OTLP_HEADERS", _pairs(100), "OTEL_EXPORTER_OTLP_HEADERS: 100 headers are more than 32"),
    ("OTEL_METRIC_EXPORT_INTERVAL", "9" * 23, "is more than 2,147,483,647 ms"),
    ("OTEL_LOGS_EXPORT_INTERVAL", "1" + "0" * 5000, "OTEL_LOGS_EXPORT_INTERVAL: "),
    ("OTEL_EXPORTER_PROMETHEUS_PORT", "9" * 5000, "is not a port number"),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-home")


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: f"{case[0]}={case[1][:12]}")
def test_hostile_variables_are_refused_in_one_line_naming_them(home, case):
    variable, value, message = case
    env = quiet_env(str(home), CLAUDE_CODE_ENABLE_TELEMETRY="1", OTEL_METRICS_EXPORTER="prometheus")
    assert_refused(run_case(["config"], {**env, variable: value}), message)


def test_the_limits_are_not_refused(home):
    env = quiet_env(
        str(home),
        CLAUDE_CODE_ENABLE_TELEMETRY="1",
        OTEL_RESOURCE_ATTRIBUTES=_pairs(32),
        OTEL_EXPORTER_OTLP_HEADERS=_pairs(32),
        OTEL_METRIC_EXPORT_INTERVAL="2147483647",
        OTEL_EXPORTER_PROMETHEUS_PORT="00065535",
    )
    outcome = run_case(["config"], env)
    assert_handled(outcome)
    assert outcome.code == 0, outcome.describe()


# Values a variable may plausibly hold and values it never should; environment values cannot hold NUL.
ENV_VALUES = st.one_of(
    st.sampled_from(["1", "0", "true", "false", "yes", "", " ", "otlp", "console", "prometheus", "none"]),
    st.sampled_from(["grpc", "http/protobuf", "http/json", "delta", "cumulative", "otlp,console,otlp"]),
    st.sampled_from(
        ["http://localhost:4317", "https://[::1]:4318/v1", "http://a b", "ftp://x", "http://:99999"]
    ),
    st.sampled_from(
        ["file:/tmp", "/nonexistent/cert.pem", "[/x]", "[bold]x[/bold]", "k=v,=v,k=", "%zz=%", "a=b=c"]
    ),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["9" * 30, "0" * 40 + "5", "1" + "0" * 5000, "1e3", "-1", "0x10", "٣"]),
    st.integers(0, 2000).map(_pairs),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
    st.builds(lambda c: f"k=v{c},x=y", st.sampled_from([c for c in CONTROL if c != "\x00"])),
)
VARIABLES = st.dictionaries(st.sampled_from(RELEVANT_VARIABLES), ENV_VALUES, min_size=1, max_size=5)


@fuzz(40)
@given(variables=VARIABLES, enabled=st.booleans())
def test_any_configuration_is_shown_or_refused(home, variables, enabled):
    env = quiet_env(str(home), **({"CLAUDE_CODE_ENABLE_TELEMETRY": "1"} if enabled else {}))
    assert_handled(run_case(["config"], {**env, **variables}))


@fuzz(10)
@given(variables=VARIABLES)
def test_any_configuration_gives_totals_or_is_refused(home, variables):
    env = quiet_env(str(home), CLAUDE_CODE_ENABLE_TELEMETRY="1")
    assert_handled(run_case(["scenarios", "totals", "quickstart"], {**env, **variables}))


# ~/.claude/settings.json: (file content, what the error line says)
SETTINGS_REFUSED = {
    "JSON nested 100,000 deep": ('{"env": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deep"),
    "a number of 5,000 digits": ('{"env": {"OTEL_METRIC_EXPORT_INTERVAL": 1' + "0" * 5000 + "}}", "too long"),
    "bytes that are not UTF-8": ("\udcff\udcfe{}", "not UTF-8 text"),
}


def _settings(home: Path, text: str) -> Path:
    path = home / ".claude" / "settings.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    return path


@pytest.mark.parametrize("case", list(SETTINGS_REFUSED))
def test_hostile_settings_files_are_refused_in_one_line_naming_them(tmp_path, case):
    text, message = SETTINGS_REFUSED[case]
    path = _settings(tmp_path, text)
    assert_refused(run_case(["config"], quiet_env(str(tmp_path))), f"error: {path}: ", message)


@fuzz(20)
@given(variables=st.dictionaries(st.sampled_from(RELEVANT_VARIABLES), ENV_VALUES | st.integers(), max_size=4))
def test_any_settings_file_is_shown_or_refused(home, variables):
    _settings(home, json.dumps({"env": variables}))
    try:
        assert_handled(run_case(["config"], quiet_env(str(home))))
    finally:
        (home / ".claude" / "settings.json").unlink()
