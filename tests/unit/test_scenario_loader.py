"""Loading scenario files: what a user sees when a file is right, and the FILE:LINE message when it is not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from claude_telemetry_cli.errors import ExitCode, ScenarioError
from claude_telemetry_cli.scenario import STEP_KINDS, load_scenario, load_scenario_text, parse_duration

# The message lists every step kind the model knows, in its order.
ALLOWED_STEPS = "allowed: " + ", ".join(STEP_KINDS)
DURATION = "use e.g. 250ms, 5s, 1m30s, 2h or a number of seconds"

HEAD = """\
version: 1
name: t
sessions:
  - steps:
      - prompt: {length: 10}
"""


def _error(text: str, name: str = "team.yaml") -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, name)
    message = str(caught.value)
    assert "\n" not in message
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD + "      - api_request: {input_tokens: -5}\n",
            "team.yaml:6: sessions[0].steps[1].api_request.input_tokens: must be >= 0, got -5",
        ),
        (
            HEAD + "      - deploy: {}\n",
            "team.yaml:6: sessions[0].steps[1]: unknown step 'deploy'; " + ALLOWED_STEPS,
        ),
        (
            HEAD + "      - api_requets: {}\n",
            "team.yaml:6: sessions[0].steps[1]: unknown step 'api_requets' (did you mean 'api_request'?); "
            + ALLOWED_STEPS,
        ),
        (
            HEAD + "      - api_request: {input_tokens: '5'}\n",
            "team.yaml:6: sessions[0].steps[1].api_request.input_tokens: must be an integer, got '5'",
        ),
        (
            HEAD + "      - api_request: {input_tokens: 5.5}\n",
            "team.yaml:6: sessions[0].steps[1].api_request.input_tokens: must be an integer, got 5.5",
        ),
        (
            HEAD + "      - api_request: {effort: extreme}\n",
            "team.yaml:6: sessions[0].steps[1].api_request.effort: "
            "must be 'low', 'medium', 'high', 'xhigh' or 'max', got 'extreme'",
        ),
        (
            HEAD + "      - wait: 5 minutes\n",
            "team.yaml:6: sessions[0].steps[1].wait: invalid duration '5 minutes'; " + DURATION,
        ),
        (
            HEAD + "      - wait:\n",
            "team.yaml:6: sessions[0].steps[1].wait: needs a duration; " + DURATION,
        ),
        (
            HEAD + "      - prompt: {}\n        wait: 5s\n",
            "team.yaml:6: sessions[0].steps[1]: a step is a mapping with exactly one key, "
            "got 2 keys (prompt, wait); " + ALLOWED_STEPS,
        ),
        (
            HEAD + "      - commit\n",
            "team.yaml:6: sessions[0].steps[1]: a step is a mapping; write `- commit: {}`",
        ),
        (
            HEAD + "      - tool: {duration_ms: 5}\n",
            "team.yaml:6: sessions[0].steps[1].tool.name: required field is missing",
        ),
        (
            HEAD + "      - edit: {source: user_reject}\n",
            "team.yaml:6: sessions[0].steps[1].edit: source 'user_reject' only goes with decision: reject; "
            "for accept use one of config, hook, user_permanent, user_temporary",
        ),
        (
            HEAD + "      - api_error: {status_code: 1000}\n",
            "team.yaml:6: sessions[0].steps[1].api_error.status_code: must be <= 599, got 1000",
        ),
        (
            HEAD + "      - api_request: {duration_ms: 100, ttft_ms: 200}\n",
            "team.yaml:6: sessions[0].steps[1].api_request: ttft_ms (200) cannot exceed duration_ms (100)",
        ),
        (
            HEAD + "      - api_request: {text: 5}\n",
            "team.yaml:6: sessions[0].steps[1].api_request.text: must be true or false or a string, got 5",
        ),
        (
            HEAD + "      - active: {}\n",
            "team.yaml:6: sessions[0].steps[1].active: give user, cli or both, e.g. {user: 30s, cli: 12s}",
        ),
        (
            "version: 1\nsessions:\n  - app_version: 2.1\n",
            "team.yaml:3: sessions[0].app_version: must be a string, got 2.1 (quote it in YAML)",
        ),
        (
            "version: 1\nsessions:\n  - start_type: warm\n",
            "team.yaml:3: sessions[0].start_type: "
            "must be 'fresh', 'resume', 'continue' or 'agents_view', got 'warm'",
        ),
        (
            "version: 1\nsessions:\n  - user:\n      email: bob\n",
            "team.yaml:4: sessions[0].user.email: must be an email address like dev@example.com, got 'bob'",
        ),
        (
            "version: 1\nsessions:\n  - user:\n      organization_id: acme\n",
            "team.yaml:4: sessions[0].user.organization_id: must be a UUID, got 'acme'",
        ),
        (
            "version: 1\nsessions:\n  - plugins: [3]\n",
            "team.yaml:3: sessions[0].plugins[0]: must be a mapping, got 3",
        ),
    ],
)
def test_a_wrong_value_is_reported_at_its_line_with_what_is_allowed(text, expected):
    assert _error(text) == expected


def test_an_unknown_field_is_reported_on_its_own_line_with_a_suggestion():
    text = HEAD + "      - api_request:\n          output_tokens: 3\n          input_tokenz: 5\n"
    message = _error(text)
    assert message.startswith(
        "team.yaml:8: sessions[0].steps[1].api_request: unknown field 'input_tokenz' "
        "(did you mean 'input_tokens'?); allowed: input_tokens, output_tokens, "
    )
    assert message.endswith(", response_length, text, attempt, total_retry_duration_ms")


def test_a_misspelt_top_level_key_wins_over_the_missing_field_it_causes():
    assert _error("version: 1\nsessionz: []\n") == (
        "team.yaml:2: unknown field 'sessionz' (did you mean 'sessions'?); "
        "allowed: version, name, description, seed, prices, defaults, sessions"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 2\nsessions: []\n", "team.yaml:1: version: must be 1, got 2"),
        ("sessions: []\n", "team.yaml:1: version: missing; add `version: 1` at the top"),
        ("version: 1\nsessions: []\n", "team.yaml:2: sessions: needs at least 1 entry"),
        ("version: 1\n", "team.yaml:1: sessions: required field is missing"),
        ("", "team.yaml:1: the scenario is empty; it needs at least `version: 1` and `sessions:`"),
        ("- a\n- b\n", "team.yaml:1: a scenario is a mapping with version, name, sessions, ..."),
        ("version: 1\nversion: 1\n", "team.yaml:2: duplicate key 'version' (first at line 1)"),
        ("version: 1\nseed: abc\nsessions: []\n", "team.yaml:2: seed: must be an integer, got 'abc'"),
        (
            HEAD + "      - api_request: {input_tokens: 5\n",
            "team.yaml:6: invalid YAML: expected ',' or '}', but got '<stream end>' "
            "(while parsing a flow mapping started at line 6)",
        ),
        (
            "version: 1\nsessions:\n  - steps: [\n   foo: : bar\n",
            "team.yaml:4: invalid YAML: expected the node content, but found ':' "
            "(while parsing a flow node started at line 4)",
        ),
    ],
)
def test_file_level_problems(text, expected):
    assert _error(text) == expected


def test_an_unknown_model_without_a_cost_names_the_model_and_the_known_ones():
    message = _error(HEAD + "      - api_request:\n          input_tokens: 10\n          model: gpt-4\n")
    assert message.startswith(
        "team.yaml:8: sessions[0].steps[1].api_request: unknown model 'gpt-4' and no "
        "cost_usd to report; known models: claude-3-5-haiku, "
    )
    assert "claude-sonnet-4-5" in message
    assert message.endswith("add cost_usd to the step or a `prices:` entry for the model")


def test_an_unknown_model_is_fine_with_a_cost_or_a_price():
    with_cost = load_scenario_text(HEAD + "      - api_request: {model: gpt-4, cost_usd: 0.5}\n", "t.yaml")
    assert with_cost.sessions[0].steps[1].api_request.cost_usd == 0.5
    priced = load_scenario_text(
        "version: 1\nprices:\n  gpt-4: {input: 1, output: 2}\nsessions:\n  - model: gpt-4\n"
        "    steps:\n      - api_request: {}\n",
        "t.yaml",
    )
    assert priced.prices["gpt-4"].output == 2


def test_defaults_apply_to_every_session_and_errors_point_into_them():
    scenario = load_scenario_text(
        "version: 1\ndefaults:\n  model: claude-opus-4-5\n"
        "  user: {organization_id: 3f1c9a2e-0a7d-4d7e-9d55-2f1f5c7e8b10}\n"
        "sessions:\n  - user: {email: a@example.com}\n  - model: claude-haiku-4-5\n",
        "t.yaml",
    )
    first, second = scenario.sessions
    assert (first.model, second.model) == ("claude-opus-4-5", "claude-haiku-4-5")
    # A mapping in defaults merges key by key with the session's own.
    assert first.user.email == "a@example.com"
    assert first.user.organization_id == second.user.organization_id == "3f1c9a2e-0a7d-4d7e-9d55-2f1f5c7e8b10"
    assert _error("version: 1\ndefaults:\n  repeat: 0\nsessions:\n  - {}\n") == (
        "team.yaml:3: sessions[0].repeat (set in defaults): must be > 0, got 0"
    )
    assert _error("version: 1\ndefaults:\n  modle: x\nsessions:\n  - {}\n").startswith(
        "team.yaml:3: defaults: unknown session field 'modle' (did you mean 'model'?); allowed: label, user, "
    )


def test_name_defaults_to_the_file_stem():
    assert load_scenario_text("version: 1\nsessions:\n  - {}\n", "scenarios/nightly.yaml").name == "nightly"


def test_a_step_written_without_a_value_takes_the_defaults():
    scenario = load_scenario_text(HEAD + "      - commit:\n      - pull_request: {}\n", "t.yaml")
    kinds = [s.kind for s in scenario.sessions[0].steps]
    assert kinds == ["prompt", "commit", "pull_request"]
    assert scenario.sessions[0].steps[1].commit.duration_ms == 70


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("250ms", 0.25),
        ("5s", 5.0),
        ("1m30s", 90.0),
        ("2h", 7200.0),
        ("1h2m3s4ms", 3723.004),
        (7, 7.0),
        (1.5, 1.5),
        ("12", 12.0),
        ("0s", 0.0),
    ],
)
def test_durations(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["5 minutes", "30s1m", "5s5s", "-1s", "", "ms", True, -3])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_load_scenario_reads_a_file_and_names_it_in_errors(tmp_path: Path):
    path = tmp_path / "team.yaml"
    path.write_text(HEAD + "      - api_request: {input_tokens: -5}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert (
        str(caught.value) == f"{path}:6: sessions[0].steps[1].api_request.input_tokens: must be >= 0, got -5"
    )
    assert (caught.value.path, caught.value.line) == (str(path), 6)
    with pytest.raises(ScenarioError, match=r"missing\.yaml: cannot read the scenario"):
        load_scenario(tmp_path / "missing.yaml")


FAKER = """\
version: 1
seed: {seed}
defaults:
  user: {{email: "{{{{ faker.email }}}}"}}
sessions:
  - label: "{{{{ faker.first_name }}}}-laptop"
  - {{}}
  - user: &same {{email: "{{{{ faker.email }}}}"}}
  - user: *same
"""


def test_faker_is_seeded_so_the_same_seed_gives_the_same_people():
    first = load_scenario_text(FAKER.format(seed=7), "f.yaml")
    again = load_scenario_text(FAKER.format(seed=7), "f.yaml")
    other = load_scenario_text(FAKER.format(seed=8), "f.yaml")
    emails = [s.user.email for s in first.sessions]
    assert emails == [s.user.email for s in again.sessions]
    assert emails != [s.user.email for s in other.sessions]
    assert all("@" in e for e in emails)
    # Defaults give each session its own value; an alias repeats its anchor's.
    assert emails[0] != emails[1] != emails[2]
    assert emails[2] == emails[3]
    assert first.sessions[0].label.endswith("-laptop") and "{{" not in first.sessions[0].label


def test_a_whole_value_faker_expression_keeps_its_type():
    scenario = load_scenario_text(HEAD + '      - edit: {lines_added: "{{ faker.pyint }}"}\n', "t.yaml")
    assert isinstance(scenario.sessions[0].steps[1].edit.lines_added, int)


def test_faker_mistakes_are_reported_at_their_line():
    assert _error("version: 1\nsessions:\n  - user:\n      email: '{{ faker.emial }}'\n").startswith(
        "team.yaml:4: sessions[0].user.email: unknown faker provider 'emial' (did you mean 'email'?)"
    )
    assert _error("version: 1\nsessions:\n  - label: '{{ os.system }}'\n") == (
        "team.yaml:3: sessions[0].label: unsupported expression {{ os.system }}; only {{ faker.<provider> }} "
        "is allowed, e.g. {{ faker.email }}"
    )
    assert _error("version: 1\nsessions:\n  - label: '{{ faker.seed }}'\n").startswith(
        "team.yaml:3: sessions[0].label: unknown faker provider 'seed'"
    )


def test_importing_the_scenario_package_does_not_import_faker():
    # `claude-telemetry --help` must stay fast; faker takes a noticeable time to import.
    code = "import sys, claude_telemetry_cli.scenario; print('faker' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False"
