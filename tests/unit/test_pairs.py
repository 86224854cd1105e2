"""KEY=VALUE pairs: one split for every option and variable, and one wording of a malformed pair."""

from __future__ import annotations

import pytest

from claude_telemetry_cli.errors import ConfigError, UsageError
from claude_telemetry_cli.history.openmetrics import parse_labels
from claude_telemetry_cli.pairs import split_pair
from claude_telemetry_cli.scenario.generate.params import GenerateParams, apply_overrides


def test_a_pair_splits_at_its_first_equals_sign_with_its_key_trimmed() -> None:
    assert split_pair(" Authorization = Bearer a=b ", "-e") == ("Authorization", " Bearer a=b ")
    assert split_pair("EMPTY=", "-e") == ("EMPTY", "")


@pytest.mark.parametrize("text", ["FOO", "=bar", " = bar"])
def test_a_pair_without_a_key_names_the_option(text: str) -> None:
    with pytest.raises(UsageError) as error:
        split_pair(text, "-e")

    assert error.value.message == f"-e '{text.strip()}': expected KEY=VALUE"


def test_a_secret_pair_is_shown_up_to_its_name() -> None:
    with pytest.raises(UsageError) as error:
        split_pair("Authorization: Bearer s3cr3t", "--header", secret=True)

    assert error.value.message == "--header 'Authorization***': expected KEY=VALUE"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("SECRET-abc123", "***"),  # a bare word may be the token itself
        ("=SECRET-abc123", "***"),
        ("Bearer SECRET-abc123", "Bearer***"),
        ("Authorization:SECRET-abc123", "Authorization***"),
    ],
)
def test_a_secret_pair_shows_a_name_only_when_one_stands_apart(text: str, shown: str) -> None:
    with pytest.raises(UsageError) as error:
        split_pair(text, "--require-header", form="NAME=VALUE", secret=True)

    assert error.value.message == f"--require-header '{shown}': expected NAME=VALUE"


def test_the_form_hint_error_class_and_key_check_are_the_callers() -> None:
    with pytest.raises(ConfigError) as error:
        split_pair("1KEY=v", "otel.env:3:", key_ok=str.isidentifier, hint=", e.g. A=1", error=ConfigError)

    assert error.value.message == "otel.env:3: '1KEY=v': expected KEY=VALUE, e.g. A=1"


def test_every_option_words_a_malformed_pair_the_same_way() -> None:
    with pytest.raises(UsageError) as set_error:
        apply_overrides(GenerateParams(), ["developers"])
    with pytest.raises(UsageError) as label_error:
        parse_labels(["__name__=x"])

    assert set_error.value.message == (
        "--set 'developers': expected KEY=VALUE, e.g. --set active_day_rate=0.8"
    )
    assert label_error.value.message == (
        "--label '__name__=x': expected KEY=VALUE with a Prometheus label name as KEY"
    )
