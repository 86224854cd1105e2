"""The input that hung, exhausted memory or traced back, given to the real command: a subprocess with a
timeout and a 2 GB address space proves each is now refused at load, in one line, in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.harness import assert_refused, run_subprocess
from tests.fuzz.test_preset_input import REFUSED as PRESETS_REFUSED
from tests.fuzz.test_scenario_input import AT_THE_LIMIT, REFUSED, REVEALING
from tests.support.cli import telemetry_env

CONSOLE = {
    "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
    "OTEL_METRICS_EXPORTER": "console",
    "OTEL_LOGS_EXPORTER": "console",
}
# What the fuzzing pass found, by its effect before it was refused: hung (killed at 60 s), memory
# exhausted, or a traceback.
FOUND = [
    "alias bomb",  # hung
    "repeat: 1000000000",  # hung
    "cache_creation_tokens: 1000000000",  # 26 s and 7.9 GB
    "cache_creation_tokens: 1500000000000000",  # MemoryError
    "input_tokens: 1e26 written out",  # OverflowError
    "brackets nested 5,000 deep",  # RecursionError
    "a control character",  # two lines pointing at line 1
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    out = {}
    for n, case in enumerate(FOUND + ["wait: 1000000000000000000000h"]):
        out[case] = folder / f"case{n}.yaml"
        out[case].write_text(REFUSED[case][0], encoding="utf-8")
    return out


def test_validate_refuses_each_in_one_line(files):
    paths = [str(files[case]) for case in FOUND]
    outcome = run_subprocess(["scenarios", "validate", *paths], telemetry_env())
    assert outcome.code == 2, outcome.describe()
    lines = outcome.stderr.splitlines()
    assert len(lines) == len(FOUND), outcome.describe()
    for case, line in zip(FOUND, lines, strict=True):
        text, number, message = REFUSED[case]
        assert line.startswith(f"error: {files[case]}:{number}: ") and message in line, line


def test_totals_and_run_refuse_a_bomb_and_a_wait_of_ages(files):
    assert_refused(
        run_subprocess(["scenarios", "totals", str(files["alias bomb"])], telemetry_env()), "aliases repeat"
    )
    outcome = run_subprocess(
        ["run", str(files["wait: 1000000000000000000000h"]), "--instant"], telemetry_env(**CONSOLE)
    )
    assert_refused(outcome, "more than 30 days, the longest one step may wait")


def test_receive_refuses_a_bomb_before_listening(files):
    args = ["receive", "--expect", str(files["alias bomb"]), "--grpc-port", "0", "--http-port", "0"]
    assert_refused(run_subprocess([*args, "--timeout", "30s"], telemetry_env()), "aliases repeat")


def test_generate_refuses_a_control_character_in_a_preset(tmp_path):
    text, line, message = PRESETS_REFUSED["a control character"]
    preset = tmp_path / "preset.yaml"
    preset.write_text(text, encoding="utf-8")
    outcome = run_subprocess(["generate", "--preset", str(preset), "--out", str(tmp_path / "out.yaml")])
    assert_refused(outcome, f"{preset}:{line}: ", message)


def test_load_refuses_a_thousand_resource_attributes():
    attributes = ",".join(f"k{n}=v{n}" for n in range(1000))
    env = telemetry_env(
        CLAUDE_CODE_ENABLE_TELEMETRY="1",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
        OTEL_RESOURCE_ATTRIBUTES=attributes,
    )
    outcome = run_subprocess(["load", "--sessions", "2", "--duration", "1s"], env)
    assert_refused(outcome, "OTEL_RESOURCE_ATTRIBUTES: 1,000 attributes are more than 32")


def test_run_refuses_an_export_interval_no_timer_waits():
    env = telemetry_env(**CONSOLE, OTEL_METRIC_EXPORT_INTERVAL="9" * 23)
    outcome = run_subprocess(["run", "quickstart", "--speed", "100"], env)
    assert_refused(outcome, "OTEL_METRIC_EXPORT_INTERVAL: ", "more than 2,147,483,647 ms")


def test_values_at_the_limits_fit_in_a_small_address_space(tmp_path):
    # The request bodies of 30 million tokens of context needed more than 450 MB; the command itself
    # runs in 250 MB.
    path = tmp_path / "limits.yaml"
    path.write_text(AT_THE_LIMIT["tokens, bodies inline and in files"], encoding="utf-8")
    outcome = run_subprocess(
        ["scenarios", "totals", str(path)], telemetry_env(**REVEALING), address_space=384 * 1024**2
    )
    assert outcome.code == 0, outcome.describe()
