"""Hostile and mutated generator presets and `--set` values: a scenario is generated or the input is
refused in one line, in bounded time and memory, never with a traceback."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from claude_telemetry_cli.scenario.generate import PRESETS_DIR, param_names
from tests.fuzz.harness import assert_handled, assert_refused, fuzz, quiet_env, run_case
from tests.fuzz.hostile import CONTROL, TEXT, VALUES, damaged, dump, mutated

# A preset may ask for a million developers over ten years; that is a big file by design, not what this
# suite looks for. The command line keeps every generated organisation small, whatever the preset says.
SMALL = [
    "--developers",
    "1",
    "--teams",
    "1",
    "--orgs",
    "1",
    "--days",
    "1",
    "--set",
    "sessions_per_day=1",
    "--set",
    "prompts_per_session=1",
    "--set",
    "requests_per_prompt=1",
]

_LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{before}'] * 9)}]\n"
    for before, name in zip("abcdefgh", "bcdefghi", strict=True)
)

# (preset text, line of the error, what the error line says)
REFUSED = {
    "alias bomb": (_LAUGHS.replace("i: &i", "model_mix: &i"), 7, "aliases repeat more than 1,000,000 values"),
    "brackets nested 5,000 deep": (
        "developers: 2\nmodel_mix: " + "[" * 5000 + "]" * 5000 + "\n",
        2,
        "nested more than 64 levels deep, the most a preset may nest",
    ),
    "an alias inside its own anchor": (
        "model_mix: &m {a: *m}\n",
        1,
        "an alias repeats a mapping or list inside",
    ),
    "a control character": ('name: team\ndescription: "a\x01b"\n', 2, "the character U+0001"),
    "an integer of 5,000 digits": ("days: 1" + "0" * 5000 + "\n", 1, "a number of 5,001 digits"),
    "a date that is not one": ("description: 2001-13-45\n", 1, "month must be in 1..12"),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-presets")


def _generate(workdir: Path, *args: str):
    out = workdir / "generated.yaml"
    return run_case(["generate", *args, "--out", str(out)], quiet_env(str(workdir)))


@pytest.mark.parametrize("case", list(REFUSED))
def test_hostile_presets_are_refused_in_one_line_naming_file_and_line(workdir, case):
    text, line, message = REFUSED[case]
    preset = workdir / "preset.yaml"
    preset.write_text(text, encoding="utf-8")
    assert_refused(_generate(workdir, "--preset", str(preset)), f"{preset}:{line}: ", message)


# (--set item, what the error line says)
SET_REFUSED = [
    (
        "model_mix=" + "[" * 3000 + "]" * 3000,
        "--set model_mix: cannot read",
        "nested more than 64 levels deep",
    ),
    (
        "model_mix={" + _LAUGHS.replace("\n", ", ") + "}",
        "--set model_mix: cannot read",
        "aliases repeat more",
    ),
    ("developers=1" + "0" * 5000, "--set developers: cannot read", "a number of 5,001 digits"),
    ("name=a\x01b", "--set name: cannot read", "the character U+0001"),
]


@pytest.mark.parametrize("case", SET_REFUSED, ids=lambda case: case[0][:24])
def test_hostile_set_values_are_refused_in_one_line(workdir, case):
    item, *fragments = case
    assert_refused(_generate(workdir, "--set", item), *fragments)


@functools.cache
def _presets() -> dict[str, object]:
    return {path.stem: yaml.safe_load(path.read_text()) for path in sorted(PRESETS_DIR.glob("*.yaml"))}


@fuzz(10)
@given(data=st.data())
def test_mutated_presets_generate_or_are_refused(workdir, data):
    name = data.draw(st.sampled_from(sorted(_presets())))
    keys = st.sampled_from(param_names()) | TEXT
    document = data.draw(mutated(_presets()[name], keys=keys))
    preset = workdir / "preset.yaml"
    preset.write_text(data.draw(damaged(dump(document))), encoding="utf-8")
    assert_handled(_generate(workdir, "--preset", str(preset), *SMALL))


SET_TEXT = (
    VALUES.map(lambda value: yaml.safe_dump(value, default_flow_style=True, width=10**9).strip())
    | TEXT
    | st.sampled_from(["&a [*a]", "{a: 1, a: 2}", "[1, 2", "*nope", "!!python/object:os.system x", "1_000"])
    | st.builds(lambda c: f"x{c}y", st.sampled_from(CONTROL))
    | st.integers(65, 100_000).map(lambda depth: "[" * depth + "]" * depth)
)


@fuzz(10)
@given(
    key=st.sampled_from(param_names())
    | st.sampled_from(["model_mix.claude-opus-4-5", "error_rates.529", "x"]),
    value=SET_TEXT,
)
def test_set_values_generate_or_are_refused(workdir, key, value):
    assert_handled(_generate(workdir, *SMALL, "--set", f"{key}={value}"))
