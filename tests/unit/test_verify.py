"""The verdict: nothing lost, nothing invented, nothing altered, and a diff that says which."""

from __future__ import annotations

from claude_telemetry_cli.receiver.verify import compare
from claude_telemetry_cli.records import Totals


def _totals(metrics=(), events=None) -> Totals:
    t = Totals()
    for name, attrs, value in metrics:
        t.add_metric(name, tuple(attrs.items()), value)
    for name, n in (events or {}).items():
        t.add_event(name, n)
    return t


TOKENS = "claude_code.token.usage"
EXPECTED = _totals(
    [
        (TOKENS, {"model": "opus", "type": "input", "session.id": "s1"}, 100.0),
        (TOKENS, {"model": "sonnet", "type": "input", "session.id": "s1"}, 50.0),
        ("claude_code.cost.usage", {"model": "opus", "session.id": "s1"}, 0.25),
    ],
    {"api_request": 2, "user_prompt": 1},
)


def test_identical_totals_pass():
    verdict = compare(
        EXPECTED, _totals([(n, dict(k), v) for (n, k), v in EXPECTED.metrics.items()], EXPECTED.events)
    )
    assert verdict.ok and verdict.mismatches == []
    assert verdict.to_json()["ok"] is True


def test_a_lost_series_and_lost_events_are_named():
    received = _totals(
        [
            (TOKENS, {"model": "opus", "type": "input", "session.id": "s1"}, 100.0),
            ("claude_code.cost.usage", {"model": "opus", "session.id": "s1"}, 0.25),
        ],
        {"api_request": 1, "user_prompt": 1},
    )
    verdict = compare(EXPECTED, received)
    lines = [m.describe() for m in verdict.mismatches]
    assert not verdict.ok
    assert lines == [
        "missing   claude_code.token.usage {model=sonnet, session.id=s1, type=input}:"
        " expected 50, nothing arrived",
        "events    api_request: expected 2, received 1",
    ]


def test_an_altered_value_and_an_invented_series():
    received = _totals(
        [
            (TOKENS, {"model": "opus", "type": "input", "session.id": "s1"}, 200.0),
            (TOKENS, {"model": "sonnet", "type": "input", "session.id": "s1"}, 50.0),
            ("claude_code.cost.usage", {"model": "opus", "session.id": "s1"}, 0.25),
            ("claude_code.commit.count", {"session.id": "s1"}, 1.0),
        ],
        EXPECTED.events,
    )
    kinds = [(m.kind, m.name, m.expected, m.received) for m in compare(EXPECTED, received).mismatches]
    assert kinds == [("extra", "claude_code.commit.count", None, 1.0), ("altered", TOKENS, 100.0, 200.0)]


def test_a_dropped_label_is_reported_once_and_values_compared_without_it():
    # A collector dropped `model` from token.usage: the two series merged into one with the sum.
    received = _totals(
        [
            (TOKENS, {"type": "input", "session.id": "s1"}, 150.0),
            ("claude_code.cost.usage", {"model": "opus", "session.id": "s1"}, 0.25),
        ],
        EXPECTED.events,
    )
    verdict = compare(EXPECTED, received)
    assert [m.describe() for m in verdict.mismatches] == [
        "attribute dropped: claude_code.token.usage: 'model' is missing from every point"
    ]


def test_float_sums_compare_with_tolerance():
    a = _totals([("claude_code.cost.usage", {}, 0.1 + 0.2)])
    b = _totals([("claude_code.cost.usage", {}, 0.3)])
    assert compare(a, b).ok


def _config(enabled: bool, metrics: bool, logs: bool):
    from types import SimpleNamespace

    return SimpleNamespace(
        enabled=enabled,
        metrics=SimpleNamespace(exporters=["otlp"] if metrics else []),
        logs=SimpleNamespace(exporters=["otlp"] if logs else []),
    )


def test_a_sender_delivers_only_the_signals_it_exports():
    from claude_telemetry_cli.receiver.verify import delivered_totals

    totals = _totals([(TOKENS, {"type": "input"}, 1.0)], {"api_request": 1})
    totals.add_span("claude_code.interaction")
    metrics_only = delivered_totals(totals, _config(True, metrics=True, logs=False))
    assert (metrics_only.metrics, metrics_only.events, metrics_only.spans) == (
        totals.metrics,
        {},
        totals.spans,
    )
    assert delivered_totals(totals, _config(True, metrics=False, logs=True)).metrics == {}
    # Without a sender's configuration, everything is expected.
    assert delivered_totals(totals, _config(False, metrics=False, logs=False)) is totals


def test_totals_parse_from_their_json_and_anything_else_names_its_source():
    import pytest

    from claude_telemetry_cli.errors import UsageError
    from claude_telemetry_cli.receiver.verify import parse_totals

    assert parse_totals(EXPECTED.dumps(), source="x").equals(EXPECTED)
    with pytest.raises(UsageError) as caught:
        parse_totals("[1, 2]", source="--expect-totals t.json")
    assert caught.value.message.startswith(
        "--expect-totals t.json: not a totals file from `scenarios totals --json` or `load --totals-out` ("
    )
