"""Hostile and mutated scenario files: each is validated (or its totals shown) or refused in one line,
in bounded time and memory, never with a traceback."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from claude_telemetry_cli.scenario import bundled_scenarios
from claude_telemetry_cli.scenario.generate import GenerateParams, generate_text
from tests.fuzz.harness import assert_handled, assert_refused, fuzz, quiet_env, run_case
from tests.fuzz.hostile import damaged, dump, mutated

HEAD = "version: 1\nname: hostile\nsessions:\n"


def _session(*steps: str, fields: str = "") -> str:
    return HEAD + "  - " + fields + "steps:\n" + "".join(f"      - {step}\n" for step in steps)


def _laughs(levels: int, indent: int = 2) -> str:
    """Mapping entries a0 .. a{levels-1}, each nine aliases of the one before: 9**levels strings."""
    pad = " " * indent
    lines = [f'{pad}a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels):
        lines.append(f"{pad}a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def _tool_input(laughs: str) -> str:
    return HEAD + "  - steps:\n      - tool:\n          name: Bash\n          input:\n" + laughs


# (file text, line of the error, what the error line says): what a fuzzing pass found hanging,
# exhausting memory or tracing back, and its neighbours.
REFUSED = {
    "alias bomb": (
        "version: 1\nname: laughs\nlaughs:\n" + _laughs(9) + "sessions:\n  - steps: []\n",
        10,
        "aliases repeat more than 1,000,000 values, the most aliases may add to a scenario",
    ),
    "alias bomb in a tool's input": (
        _tool_input(_laughs(9, indent=12)),
        14,
        "aliases repeat more than 1,000,000 values",
    ),
    "an alias inside its own anchor": (
        "version: 1\nname: loop\nsessions: &s\n  - steps: *s\n",
        4,
        "an alias repeats a mapping or list inside itself",
    ),
    "brackets nested 5,000 deep": (
        "version: 1\nname: deep\nx: " + "[" * 5000 + "]" * 5000 + "\nsessions:\n  - steps: []\n",
        3,
        "nested more than 64 levels deep, the most a scenario may nest",
    ),
    "a tool input nested 100 deep": (
        _session("tool:\n          name: Bash\n          input:\n            a: " + "[" * 100 + "]" * 100),
        8,
        "nested more than 64 levels deep",
    ),
    "blocks nested 2,000 deep": (
        "version: 1\nname: deep\nx:\n" + "".join(" " * i + "- \n" for i in range(1, 2000)) + "sessions: []\n",
        None,
        "nested more than 64 levels deep",
    ),
    "a control character": (HEAD + '  - label: "a\x01b"\n    steps: []\n', 4, "the character U+0001"),
    "a control character past a long first line": (
        HEAD + "  - label: " + "x" * 300 + "\n    steps: []\n  - label: a\x1fb\n    steps: []\n",
        6,
        "the character U+001F",
    ),
    "an integer of 5,000 digits": (
        _session("prompt: {length: 1" + "0" * 5000 + "}"),
        5,
        "a number of 5,001 digits is longer than 40",
    ),
    "repeat: 1000000000": (
        HEAD + "  - repeat: 1000000000\n    steps: []\n",
        4,
        "sessions[0].repeat: 1000000000 is more than 100,000, the most times a session may repeat",
    ),
    "wait: 1000000000000000000000h": (
        _session("wait: 1000000000000000000000h"),
        5,
        "sessions[0].steps[0].wait: 4.16667e+19 days is more than 30 days",
    ),
    "wait: inf": (_session("wait: inf"), 5, "wait: inf days is more than 30 days"),
    "cache_creation_tokens: 1000000000": (
        _session("api_request: {cache_creation_tokens: 1000000000}"),
        5,
        "cache_creation_tokens: 1000000000 is more than 10,000,000, the most tokens a step may count",
    ),
    "cache_creation_tokens: 1500000000000000": (
        _session("api_request: {cache_creation_tokens: 1500000000000000}"),
        5,
        "cache_creation_tokens: 1500000000000000 is more than 10,000,000",
    ),
    "input_tokens: 1e26 written out": (
        _session("api_request: {input_tokens: 100000000000000000000000000}"),
        5,
        "input_tokens: 100000000000000000000000000 is more than 10,000,000",
    ),
    "response_length: 10**9": (
        _session("api_request: {response_length: 1000000000}"),
        5,
        "response_length: 1000000000 is more than 1,000,000",
    ),
    "prompt length: 10**9": (_session("prompt: {length: 1000000000}"), 5, "length: 1000000000 is more than"),
    "duration_ms a year": (
        _session("tool: {name: Bash, duration_ms: 31536000000}"),
        5,
        "duration_ms: 31536000000 is more than 86,400,000, the longest a step may last",
    ),
    "attempt: 10**9": (
        _session("api_error: {attempt: 1000000000}"),
        5,
        "attempt: 1000000000 is more than 100",
    ),
    "hooks: 10**9": (
        _session("hook: {event: Stop, hooks: 1000000000}"),
        5,
        "hooks: 1000000000 is more than 1,000",
    ),
    "cost_usd: 1e300": (
        _session("api_request: {cost_usd: 1.0e+300}"),
        5,
        "cost_usd: 1e+300 is more than 100,000",
    ),
    "start_at: 10**9 hours": (
        HEAD + "  - start_at: 1000000000h\n    steps: []\n",
        4,
        "the latest a session may start",
    ),
    "copies spread past the span": (
        HEAD + "  - repeat: 100000\n    repeat_every: 90000h\n    steps: []\n",
        4,
        "its last copy ends 374,996,250 days after the scenario starts, more than 10,000 days",
    ),
    "defaults copied into many sessions": (
        "version: 1\nname: copies\ndefaults:\n  plugins: ["
        + ", ".join(f"p{n}" for n in range(1000))
        + "]\nsessions:\n"
        + "  - {}\n" * 2000,
        4,
        "defaults: 1,002 values copied into each of 2,000 sessions add more than 1,000,000",
    ),
    "a key that reads as markup": (
        HEAD.replace("sessions:", '"[/x]": 1\nsessions:') + "  - steps: []\n",
        3,
        "'[/x]'",
    ),
    "a date that is not one": (
        HEAD.replace("name: hostile", "name: 2001-13-45") + "  - steps: []\n",
        2,
        "month must be in 1..12",
    ),
    "a date in a tool's input": (
        _session("tool: {name: Bash, input: {when: 2001-01-01}}"),
        5,
        "input was not a valid JSON value",
    ),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-scenarios")


def _write(workdir: Path, text: str) -> Path:
    path = workdir / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["validate", "totals"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_hostile_scenarios_are_refused_in_one_line_naming_file_and_line(workdir, case, command):
    text, line, message = REFUSED[case]
    path = _write(workdir, text)
    where = f"{path}:{line}: " if line is not None else f"{path}:"
    assert_refused(run_case(["scenarios", command, str(path)], quiet_env(str(workdir))), where, message)


# Just inside the limits: accepted, and none takes seconds or gigabytes.
ACCEPTED = {
    "attempts and hooks at the limit": _session(
        "api_error: {attempt: 100, duration_ms: 86400000}",
        "hook: {event: Stop, hooks: 1000, command: ./x.sh}",
        fields="log_raw_api_bodies: 1\n    beta_tracing_detailed: true\n    ",
    ),
    "a long wait and a late start": HEAD + "  - start_at: 96000h\n    steps:\n      - wait: 720h\n",
    "aliases within the budget": _tool_input(_laughs(6, indent=12)),
    "a tool input 57 levels deep": _session("tool: {name: Bash, input: {a: " + "[" * 57 + "]" * 57 + "}}"),
    "names that read as markup": HEAD.replace("hostile", '"[/x]"')
    + '  - label: "[/l]"\n    steps:\n      - api_request: {model: "[/m]", cost_usd: 1}\n',
}
REVEALING = {"OTEL_LOG_USER_PROMPTS": "1", "OTEL_LOG_ASSISTANT_RESPONSES": "1", "OTEL_LOG_TOOL_DETAILS": "1"}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_values_at_the_limits_are_accepted(workdir, case):
    path = _write(workdir, ACCEPTED[case])
    outcome = run_case(["scenarios", "totals", str(path)], quiet_env(str(workdir), **REVEALING))
    assert_handled(outcome)
    assert outcome.code == 0, outcome.describe()


# Request bodies were filled with four characters per token of context, and texts given by length drawn
# sentence by sentence: at the limits, hundreds of megabytes and seconds per step.
AT_THE_LIMIT = {
    "tokens, bodies inline and in files": HEAD
    + "".join(
        f"  - log_raw_api_bodies: {mode}\n    steps:\n      - api_request: {{input_tokens: 10000000,"
        " cache_read_tokens: 10000000, cache_creation_tokens: 10000000, response_length: 1000000}\n"
        for mode in ("1", '"file:/tmp/bodies"')
    ),
    "texts, revealed": _session(
        *["prompt: {length: 1000000}", "api_request: {response_length: 1000000}"] * 16
    ),
}


@pytest.mark.parametrize("case", list(AT_THE_LIMIT))
def test_values_at_the_limits_take_neither_seconds_nor_memory(workdir, case):
    path = _write(workdir, AT_THE_LIMIT[case])
    outcome = run_case(
        ["scenarios", "totals", str(path)], quiet_env(str(workdir), **REVEALING), megabytes=100
    )
    assert_handled(outcome)
    assert outcome.code == 0 and outcome.seconds < 5, outcome.describe()


@functools.cache
def _bundled() -> dict[str, object]:
    return {name: yaml.safe_load(path.read_text()) for name, path in bundled_scenarios().items()}


@functools.cache
def _generated() -> object:
    text, _ = generate_text(GenerateParams(developers=1, teams=1, days=1, seed=11).validate())
    return yaml.safe_load(text)


def _check(workdir: Path, text: str, command: str) -> None:
    path = _write(workdir, text)
    assert_handled(run_case(["scenarios", command, str(path)], quiet_env(str(workdir))))


@fuzz(30)
@given(data=st.data(), command=st.sampled_from(["validate", "totals"]))
def test_mutated_bundled_scenarios_are_replayed_or_refused(workdir, data, command):
    name = data.draw(st.sampled_from(sorted(_bundled())))
    document = data.draw(mutated(_bundled()[name]))
    _check(workdir, data.draw(damaged(dump(document))), command)


@fuzz(8)
@given(data=st.data())
def test_mutated_generated_scenarios_are_replayed_or_refused(workdir, data):
    document = data.draw(mutated(_generated()))
    _check(workdir, data.draw(damaged(dump(document))), "validate")
