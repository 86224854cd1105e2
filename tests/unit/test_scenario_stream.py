"""Large scenario files are read and compiled one session at a time: the same scenario, the same errors,
the same telemetry as loading the file whole, in a fraction of the memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from claude_telemetry_cli.errors import ScenarioError
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.scenario import bundled_scenarios, compile_scenario, load_scenario
from claude_telemetry_cli.scenario.generate import build_params, generate
from claude_telemetry_cli.scenario.loader import read_sessions
from claude_telemetry_cli.scenario.spans import derive_spans
from claude_telemetry_cli.scenario.spool import compile_file

LIGHT = ["prompts_per_session=2", "requests_per_prompt=3", "sessions_per_day=2"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("org") / "org.yaml"
    params = build_params(flags={"developers": 12, "days": 2, "seed": 4}, sets=LIGHT)
    with path.open("w") as out:
        generate(params, out)
    return path


def _same_as_whole(path: Path) -> bool:
    whole = load_scenario(path)
    source = read_sessions(path)
    entries = list(source.entries)
    assert [i for i, _ in entries] == list(range(len(whole.sessions)))
    assert source.count == len(whole.sessions)
    header = source.header.model_dump(exclude={"sessions"})
    assert header == whole.model_dump(exclude={"sessions"})
    assert [s for _, s in entries] == whole.sessions
    return source.streamed


def test_a_generated_file_is_read_a_session_at_a_time_into_the_same_scenario(generated):
    assert _same_as_whole(generated) is True


@pytest.mark.parametrize("name", sorted(bundled_scenarios()))
def test_every_bundled_scenario_reads_the_same_either_way(name):
    # Files using faker (its values follow file order) or aliases are loaded whole; the rest stream.
    path = bundled_scenarios()[name]
    streamed = _same_as_whole(path)
    text = path.read_text()
    assert streamed is ("{{" not in text and "*" not in text)


def test_a_file_with_sessions_not_last_or_aliases_is_loaded_whole(tmp_path):
    session = "  - user: {email: a@example.com}\n    steps:\n      - prompt: {length: 5}\n"
    layouts = {
        "after": "version: 1\nsessions:\n" + session + "name: late\n",
        "alias": "version: 1\nname: x\nsessions:\n" + session + "  - &s {steps: []}\n  - *s\n",
    }
    for name, text in layouts.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        assert _same_as_whole(path) is False, name


def _inject(generated: Path, tmp_path: Path, old: str, new: str, *, nth: int = 30) -> Path:
    """The generated file with the nth occurrence of `old` replaced by `new`."""
    text = generated.read_text()
    at = -1
    for _ in range(nth):
        at = text.index(old, at + 1)
    path = tmp_path / "broken.yaml"
    path.write_text(text[:at] + new + text[at + len(old) :])
    return path


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("input_tokens: ", "input_tokens: -", "must be >= 0"),
        ("- prompt:", "- promt:", "unknown step 'promt' (did you mean 'prompt'?)"),
        ("  app_version: ", "  app_version: v", "must be a version like 2.1.197"),
        ("  start_at: ", "  start_at: [", "invalid YAML"),
        ("  steps:\n", "  stepz: 3\n  steps:\n", "unknown field 'stepz'"),
        ("- label: ", "- 42\n- label: ", "must be a mapping"),
    ],
)
def test_an_error_deep_in_a_streamed_file_is_the_error_loading_it_whole_gives(
    generated, tmp_path, old, new, needle
):
    path = _inject(generated, tmp_path, old, new)
    with pytest.raises(ScenarioError) as whole:
        load_scenario(path)
    with pytest.raises(ScenarioError) as streamed:
        for _ in read_sessions(path).entries:
            pass
    assert needle in str(whole.value)
    assert str(streamed.value) == str(whole.value)
    # A real line, well inside the file: the piece's own line numbers were shifted.
    assert streamed.value.line > 100 and "sessions[0]" not in str(streamed.value)


def test_two_sessions_sharing_a_session_id_are_reported_at_the_second(generated, tmp_path):
    marker = "  app_version: "
    sid = "  session_id: 11111111-2222-4333-8444-555555555555\n"
    text = generated.read_text()
    first = text.index(marker)
    second = text.index(marker, text.index(marker, first + 1) + 1)
    path = tmp_path / "dup.yaml"
    path.write_text(text[:first] + sid + text[first:second] + sid + text[second:])
    with pytest.raises(ScenarioError) as caught:
        for _ in read_sessions(path).entries:
            pass
    assert "has the session_id of sessions[0]" in str(caught.value)
    assert caught.value.line == text[:second].count("\n") + 2


@pytest.mark.parametrize("tracing", [False, True])
def test_a_compiled_file_plays_what_the_whole_timeline_plays(generated, tracing):
    scenario = load_scenario(generated)
    timeline = compile_scenario(scenario, EmitOptions())
    if tracing:
        timeline = derive_spans(timeline, seed=scenario.seed)
    with compile_file(generated, EmitOptions(), tracing=tracing) as compiled:
        assert compiled.session_count == len(timeline.sessions) > 10
        assert compiled.record_count == len(timeline.records)
        assert compiled.has_spans is tracing
        assert compiled.totals() == timeline.totals()
        got = [(p.info, list(p.records), list(p.spans)) for p in compiled.plays()]
    want = [(p.info, list(p.records), list(p.spans)) for p in timeline.plays()]
    assert got == want
    # In the order the processes start, which is not the file's order (time zones).
    starts = [info.start_at for info, _, _ in got]
    assert starts == sorted(starts)
    assert [info.index for info, _, _ in got] != sorted(info.index for info, _, _ in got)


def test_compiling_a_file_holds_far_less_than_loading_it_whole(tmp_path):
    path = tmp_path / "org.yaml"
    params = build_params(flags={"developers": 80, "days": 2, "seed": 5}, sets=LIGHT)
    with path.open("w") as out:
        generate(params, out)
    compile_file(path).close()  # imports and caches warmed up before measuring

    def peak(work) -> int:
        tracemalloc.start()
        try:
            work()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole = peak(lambda: compile_scenario(load_scenario(path)))
    streamed = peak(lambda: compile_file(path).close())
    size = path.stat().st_size
    assert size > 500_000
    # The file's text and one session in the making, against every session's nodes, models and records.
    assert streamed < whole / 4, (streamed, whole, size)
