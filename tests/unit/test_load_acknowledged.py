"""The totals load writes of what was acknowledged carry what its events and spans carry, exactly as a
receiver decoding the same requests counts them."""

from __future__ import annotations

import json

import pytest

from claude_telemetry_cli.clock import VirtualClock
from claude_telemetry_cli.content import same_contents
from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.load.acknowledged import AcknowledgedTotals, request_content
from claude_telemetry_cli.load.activity import Template, build_templates
from claude_telemetry_cli.load.engine import FleetEngine, ThroughputEngine
from claude_telemetry_cli.otlp.decode import decode_logs, decode_metrics, decode_traces
from claude_telemetry_cli.otlp.encode import OtlpEncoder
from claude_telemetry_cli.receiver.tally import Tally
from claude_telemetry_cli.receiver.verify import compare
from claude_telemetry_cli.records import Totals


@pytest.fixture(scope="module")
def templates() -> list[Template]:
    return build_templates("small-team", developers=6, tracing=True)


def _fleet(templates, **kwargs) -> FleetEngine:
    kwargs.setdefault("sessions", 12)
    return FleetEngine(
        templates,
        OtlpEncoder(get_profile("current")),
        metric_interval_s=60.0,
        logs_interval_s=5.0,
        ramp_up_s=30.0,
        traces_on=True,
        track_totals=True,
        clock=VirtualClock(),
        **kwargs,
    )


def _fleet_requests(templates, seconds: float = 900.0, **kwargs) -> list:
    requests: list = []
    _fleet(templates, **kwargs).run(requests.append, lambda: False, seconds)
    return requests


def _pool(templates, **kwargs) -> list:
    engine = ThroughputEngine(
        templates, OtlpEncoder(get_profile("current")), batch=40, traces_on=True, track_totals=True, **kwargs
    )
    return engine.build_pool()


def _received(requests) -> Tally:
    """What a receiver makes of these requests."""
    tally = Tally()
    for r in requests:
        if r.signal == "logs":
            tally.add_events(decode_logs(r.body))
        elif r.signal == "traces":
            tally.add_spans(decode_traces(r.body))
        else:
            tally.add_points(decode_metrics(r.body))
    return tally


def _check_each_request(requests) -> None:
    for signal in ("logs", "traces"):
        sent = [r for r in requests if r.signal == signal]
        assert sent, f"no {signal} requests"
        for r in sent:
            recorded = request_content([r])
            assert recorded and same_contents(recorded, _received([r]).content), signal


def test_each_fleet_request_carries_what_a_receiver_counts_of_it(templates):
    requests = _fleet_requests(templates)
    _check_each_request(requests)
    # Many sessions of the same templates: the same records but for their identity, added up.
    everything = _received(requests).content
    recorded = request_content(requests)
    assert same_contents(recorded, everything)
    assert {k for k, c in recorded.items() if c.count} == {k for k, c in everything.items() if c.count}
    assert any(kind == "span" for kind, _ in recorded)
    sessions = recorded[("event", "user_prompt")].attributes["session.id"]
    assert sessions.count == recorded[("event", "user_prompt")].count and len(sessions.values) > 1


def test_each_throughput_request_carries_what_a_receiver_counts_of_it(templates):
    pool = _pool(templates)
    _check_each_request(pool)
    # Sent round and round: the pool twice and its first requests once more.
    sent = pool + pool + pool[:5]
    assert same_contents(request_content(sent), _received(sent).content)


@pytest.mark.parametrize("mode", ["fleet", "throughput"])
def test_the_totals_of_what_was_acknowledged_verify_exactly_against_what_a_receiver_decodes(templates, mode):
    requests = _fleet_requests(templates) if mode == "fleet" else _pool(templates) * 3
    acknowledged = AcknowledgedTotals()
    for r in requests:
        acknowledged.add(r)
    # Through the file the receiver reads.
    expected = Totals.from_json(json.loads(acknowledged.totals().dumps()))
    assert expected.content is not None and expected.spans
    verdict = compare(expected, _received(requests).totals())
    assert verdict.ok and verdict.content_verified and verdict.spans_verified, [
        m.describe() for m in verdict.mismatches
    ]
    assert sum(expected.events.values()) == sum(r.events for r in requests)
    assert sum(expected.spans.values()) == sum(r.spans for r in requests)


def test_a_changed_event_attribute_is_caught_by_the_verdict(templates):
    requests = [r for r in _fleet_requests(templates) if r.signal == "logs"]
    acknowledged = AcknowledgedTotals()
    for r in requests:
        acknowledged.add(r)
    data = json.loads(acknowledged.totals().dumps())
    # The model of the first value counted on api_request, changed in the file.
    model = data["content"]["event api_request"]["attributes"]["model"]["values"][0]
    model[1] = "a-model-that-never-was"
    verdict = compare(Totals.from_json(data), _received(requests).totals())
    lines = [m.describe() for m in verdict.mismatches]
    assert not verdict.ok
    assert any("api_request" in line and "'model' changed" in line for line in lines), lines


@pytest.mark.parametrize("mode", ["fleet", "throughput"])
def test_workers_totals_merged_equal_one_process_sending_the_same(templates, mode):
    def totals_of(requests) -> Totals:
        acknowledged = AcknowledgedTotals()
        for r in requests:
            acknowledged.add(r)
        return acknowledged.totals()

    if mode == "fleet":
        # Sessions 0..11 on one process, or the even ones on one worker and the odd ones on the other.
        alone = totals_of(_fleet_requests(templates, sessions=12, replace_ended=False))
        parts = [
            totals_of(_fleet_requests(templates, sessions=6, first_number=i, stride=2, replace_ended=False))
            for i in (0, 1)
        ]
    else:
        alone = totals_of(_pool(templates, pool_sessions=8) * 2)
        parts = [totals_of(_pool(templates, pool_sessions=4, first_number=i, stride=2) * 2) for i in (0, 1)]
    # Each worker sends its totals to the parent as JSON.
    merged = Totals.sum_of(Totals.from_json(json.loads(p.dumps())) for p in parts)
    assert merged.content is not None and merged.equals(alone, content=True)
    assert merged.to_json()["content"] == alone.to_json()["content"]
    assert merged.events == alone.events and merged.spans == alone.spans
