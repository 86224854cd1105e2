"""A preset compiled directly is the scenario `generate` writes compiled from its file: every record,
span, session and total the same, in one process or several."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.records import Record, TotalsBuilder
from claude_telemetry_cli.scenario.compile.wire_values import BASE62, base62_digits
from claude_telemetry_cli.scenario.generate import build_params, generate, generate_text
from claude_telemetry_cli.scenario.source import compile_preset, read_generated_session
from claude_telemetry_cli.scenario.spool import CompiledScenario, compile_file


def _via_file(params, tmp_path: Path, **kwargs) -> CompiledScenario:
    path = tmp_path / "org.yaml"
    with path.open("w", encoding="utf-8", newline="\n") as out:
        generate(params, out)
    return compile_file(path, **kwargs)


def _assert_same(a: CompiledScenario, b: CompiledScenario, *, plays: bool = True) -> None:
    assert (a.name, a.profile, a.session_count, a.record_count, a.span_count, a.duration) == (
        b.name,
        b.profile,
        b.session_count,
        b.record_count,
        b.span_count,
        b.duration,
    )
    assert a.totals() == b.totals()
    if plays:
        count = 0
        for x, y in zip(a.plays(), b.plays(), strict=True):
            assert x == y
            count += 1
        assert count == a.session_count


def test_small_team_equals_its_file(tmp_path):
    params = build_params("small-team", {"days": 2, "seed": 3})
    with _via_file(params, tmp_path) as a, compile_preset(params, workers=0) as b:
        assert a.session_count > 20
        _assert_same(a, b)


def test_incident_with_spans_equals_its_file(tmp_path):
    params = build_params("incident", {"developers": 12, "days": 2, "seed": 5})
    options = EmitOptions(include_session_id=False, log_user_prompts=True)
    with (
        _via_file(params, tmp_path, options=options, tracing=True) as a,
        compile_preset(params, options, tracing=True, workers=0) as b,
    ):
        assert a.has_spans and "api_error" in a.totals().events
        _assert_same(a, b)


def test_worker_processes_give_the_same_scenario(tmp_path):
    params = build_params("enterprise", {"developers": 30, "days": 2, "seed": 2})
    with _via_file(params, tmp_path, tracing=True) as a, compile_preset(params, tracing=True, workers=2) as b:
        assert a.session_count > 64  # more than two batches, so the workers share them
        _assert_same(a, b)


def test_counts_and_totals_only(tmp_path):
    params = build_params("small-team", {"days": 1, "seed": 1})
    with (
        _via_file(params, tmp_path, keep_records=False) as a,
        compile_preset(params, keep_records=False, workers=0) as b,
    ):
        _assert_same(a, b, plays=False)
        with pytest.raises(RuntimeError):
            next(b.plays())
    with compile_preset(params, totals=False, workers=0) as c:
        assert c.session_count == a.session_count
        with pytest.raises(RuntimeError):
            c.totals()


def test_an_idle_period_still_has_its_one_session(tmp_path):
    # Day 0 is a Saturday and nobody works weekends: the generator writes one session without steps.
    params = build_params("small-team", {"days": 1, "seed": 1}, ["start_weekday=5", "weekend_activity=0"])
    with _via_file(params, tmp_path) as a, compile_preset(params, workers=0) as b:
        assert b.session_count == 1
        _assert_same(a, b)


def test_the_reader_gives_what_yaml_gives():
    import yaml

    params = build_params(
        "enterprise", {"developers": 6, "days": 2, "seed": 9}, ["tool_mix.mcp__db__query=0.2"]
    )
    text, _ = generate_text(params)
    sessions = yaml.safe_load(text)["sessions"]
    items = text.split("\nsessions:\n", 1)[1].split("\n- ")
    items = [items[0]] + ["- " + item for item in items[1:]]
    assert len(items) == len(sessions)
    for item, expected in zip(items, sessions, strict=True):
        assert read_generated_session(item) == expected


@pytest.mark.parametrize(
    "text",
    [
        "- label: a\n  user: {email: a@b.example.com, on: 1}\n",  # a key YAML reads as true
        "- label: a\n    nested: 1\n",
        "- label: a\n  steps:\n  - wait: 1\n  model: x\n",  # a field after the steps
        "- label: a\n  label: b\n",
        "- label: a # comment\n",
        "- label: a\n  steps:\n  - prompt: {length: 1, length: 2}\n",
        "- label: a\n  steps:\n  - prompt: {length: [1]}\n",
    ],
)
def test_the_reader_leaves_other_shapes_to_the_loader(text):
    assert read_generated_session(text) is None


def test_quoted_and_special_scalars():
    text = (
        '- label: "x: y"\n  model: "claude\\u00e9"\n  start_at: 1.0e-05\n  steps:\n'
        '  - tool: {name: "a b", duration_ms: 3, success: false}\n  - wait: 2\n'
    )
    import yaml

    assert read_generated_session(text) == yaml.safe_load(text)[0]


def test_base62_digits_draw_as_choice_does():
    for seed in range(200):
        a, b = random.Random(seed), random.Random(seed)
        for _ in range(3):
            assert base62_digits(a, 24) == "".join(b.choice(BASE62) for _ in range(24))
        assert a.random() == b.random()


def test_exact_parts_merge_to_the_same_totals():
    rng = random.Random(7)
    values = [rng.choice([1e16, 1.0, 0.1, -1e16, 3.3e-7]) * rng.random() for _ in range(5000)]
    records = [Record(0.0, 0, "metric", "m", v, (("k", "v"),)) for v in values]
    records += [Record(0.0, 0, "event", "e", None, ())] * 3
    whole, merged = TotalsBuilder(), TotalsBuilder()
    whole.add(records)
    for start in range(0, len(records), 700):
        part = TotalsBuilder()
        part.add(records[start : start + 700])
        merged.merge(part.exact_part())
    assert merged.totals() == whole.totals()
    assert merged.totals().metrics[("m", (("k", "v"),))] == math.fsum(values)
    assert merged.totals().events == {"e": 3}
