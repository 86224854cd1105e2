"""The load engines' schedule, the retry policy and the latency percentiles, in virtual time."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from claude_telemetry_cli.clock import VirtualClock
from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.load.activity import Template, build_templates
from claude_telemetry_cli.load.engine import FleetEngine, ThroughputEngine
from claude_telemetry_cli.load.session import pick_template
from claude_telemetry_cli.load.stats import LatencyHistogram
from claude_telemetry_cli.load.transport import Sender
from claude_telemetry_cli.otlp.encode import OtlpEncoder


@pytest.fixture(scope="module")
def templates() -> list[Template]:
    return build_templates("small-team", developers=6)


def _fleet(templates, clock, **kwargs) -> FleetEngine:
    kwargs.setdefault("metric_interval_s", 60.0)
    kwargs.setdefault("logs_interval_s", 5.0)
    return FleetEngine(templates, OtlpEncoder(get_profile("current")), clock=clock, **kwargs)


def test_sessions_start_evenly_over_the_ramp_up_and_export_on_their_own_cadence(templates):
    clock = VirtualClock()
    engine = _fleet(templates, clock, sessions=40, ramp_up_s=40.0)
    first_export: dict[bytes, float] = {}

    def submit(request):
        if request.signal == "metrics":
            body = ExportMetricsServiceRequest.FromString(request.body)
            point = body.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
            sid = next(kv.value.string_value for kv in point.attributes if kv.key == "session.id")
            first_export.setdefault(sid, clock.now())

    engine.run(submit, lambda: False, 100.0)
    assert engine.started == 40
    # Each session's first metric export is one interval after its start: spread over 60..100 s.
    times = sorted(first_export.values())
    assert len(times) >= 35
    assert 60.0 <= times[0] < 62.0 and 98.0 <= times[-1] <= 100.0
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) < 5.0
    assert engine.lag_max_s == 0.0  # every pause ends exactly when the next step is due


def test_at_the_deadline_every_running_session_flushes_what_it_holds(templates):
    # The run ends before the ramp-up does and before any export interval: each session started sends,
    # at the deadline, every point and event it recorded until then, as Claude Code does at exit.
    clock = VirtualClock()
    engine = _fleet(templates, clock, sessions=50, ramp_up_s=60.0, track_totals=True, wall_ns=lambda: 0)
    requests = []
    engine.run(requests.append, lambda: False, 30.0)
    assert engine.started == 25
    assert clock.now() == pytest.approx(30.0)
    points = sum(r.points for r in requests if r.signal == "metrics")
    events = sum(r.events for r in requests if r.signal == "logs")
    expected_values = expected_events = 0.0
    for k in range(engine.started):
        template = pick_template(templates, 1, k)
        elapsed = 30.0 - 60.0 * k / 50
        expected_values += sum(value for offset, _, value, _ in template.metrics if offset <= elapsed)
        expected_events += sum(1 for offset, *_ in template.events if offset <= elapsed)
    assert points > 0 and events == expected_events > 0
    sent = sum(value for r in requests for _, _, value in (r.metric_items or ()))
    assert sent == pytest.approx(expected_values)
    sessions = set()
    for r in requests:
        if r.signal == "metrics":
            for rm in ExportMetricsServiceRequest.FromString(r.body).resource_metrics:
                for point in rm.scope_metrics[0].metrics[0].sum.data_points:
                    assert point.time_unix_nano == 30_000_000_000
                    sessions.update(
                        kv.value.string_value for kv in point.attributes if kv.key == "session.id"
                    )
    assert len(sessions) == 25


def test_a_stopped_run_sends_nothing_more(templates):
    clock = VirtualClock()
    engine = _fleet(templates, clock, sessions=10, ramp_up_s=10.0, logs_interval_s=60.0)
    requests = []
    stop = threading.Event()
    clock.call_at(20.0, stop.set)
    engine.run(requests.append, stop.is_set, 30.0, stop)
    assert engine.started == 10 and clock.now() == 20.0
    assert requests == []  # stopped before any export was due, and a stop is not an exit flush


def test_an_ended_session_is_replaced_by_a_fresh_one(templates):
    clock = VirtualClock()
    engine = _fleet(templates, clock, sessions=5)
    longest = max(t.duration for t in templates)
    engine.run(lambda r: None, lambda: False, 2.5 * longest)
    assert engine.active == 5
    assert engine.started > 5


def test_the_throughput_pool_fills_requests_to_the_batch_size(templates):
    engine = ThroughputEngine(templates, OtlpEncoder(get_profile("current")), batch=50, track_totals=True)
    pool = engine.build_pool()
    metrics = [r for r in pool if r.signal == "metrics"]
    logs = [r for r in pool if r.signal == "logs"]
    assert metrics and logs
    assert all(r.points <= 50 for r in metrics) and sum(r.points == 50 for r in metrics) >= len(metrics) - 1
    assert all(r.events <= 50 for r in logs)
    for r in metrics:
        decoded = ExportMetricsServiceRequest.FromString(r.body)
        points = sum(
            len(m.sum.data_points)
            for rm in decoded.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
        assert points == r.points == len(r.metric_items)


# A wall clock between two milliseconds, and session starts and ends between them too.
_WALL_NS = 1_790_000_000_123_456_789


def _point_times(requests) -> list[int]:
    return [
        t
        for r in requests
        if r.signal == "metrics"
        for rm in ExportMetricsServiceRequest.FromString(r.body).resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.sum.data_points
        for t in (p.start_time_unix_nano, p.time_unix_nano)
    ]


@pytest.mark.parametrize("temporality", ["delta", "cumulative"])
def test_fleet_metric_points_start_and_end_on_whole_milliseconds(templates, temporality):
    clock = VirtualClock()
    engine = _fleet(
        templates, clock, sessions=7, ramp_up_s=7.7777, temporality=temporality, wall_ns=lambda: _WALL_NS
    )
    requests = []
    engine.run(requests.append, lambda: False, 2.5 * max(t.duration for t in templates))
    times = _point_times(requests)
    assert times and all(t % 1_000_000 == 0 for t in times)


def test_throughput_metric_points_start_and_end_on_whole_milliseconds(templates):
    engine = ThroughputEngine(templates, OtlpEncoder(get_profile("current")), wall_ns=lambda: _WALL_NS)
    times = _point_times(engine.build_pool())
    assert times and all(t % 1_000_000 == 0 for t in times)


class _Scripted(Sender):
    """A sender whose attempts answer from a script: (ok, code, retryable, wait, message)."""

    signal = "metrics"
    destination = "scripted"

    def __init__(self, answers, timeout_s: float, clock, stop=None) -> None:
        super().__init__(timeout_s, stop=stop, clock=clock)
        self.answers = list(answers)
        self.attempts: list[float] = []  # when each attempt was made

    def _attempt(self, body, timeout_s):
        self.attempts.append(self._clock.now())
        return self.answers.pop(0)

    async def _attempt_async(self, body, timeout_s):
        return self._attempt(body, timeout_s)


@pytest.fixture
def no_jitter(monkeypatch):
    """Each pause at the top of its jitter range: the backoff doubles exactly."""
    from claude_telemetry_cli.load import transport

    monkeypatch.setattr(transport.random, "uniform", lambda low, high: high)


def test_throttling_is_retried_after_what_the_server_asked_and_a_refusal_is_not():
    clock = VirtualClock()
    asks = (False, "429", True, 2.0, "")
    throttled = _Scripted([asks, asks, (True, "200", False, None, "")], 5, clock)
    outcome = throttled.send(b"x")
    assert (outcome.ok, outcome.retries, outcome.latency_s) == (True, 2, 4.0)
    assert throttled.attempts == [0.0, 2.0, 4.0]
    refused = _Scripted([(False, "400", False, None, "bad")], 5, clock)
    outcome = refused.send(b"x")
    assert (outcome.ok, outcome.rejected, outcome.message, outcome.latency_s) == (False, True, "bad", 0.0)
    assert len(refused.attempts) == 1


def test_the_backoff_doubles_up_to_its_ceiling(no_jitter):
    clock = VirtualClock()
    unavailable = (False, "UNAVAILABLE", True, None, "")
    sender = _Scripted([unavailable] * 7 + [(True, "OK", False, None, "")], 60, clock)
    outcome = sender.send(b"x")
    assert outcome.ok and outcome.retries == 7
    pauses = [b - a for a, b in zip(sender.attempts, sender.attempts[1:], strict=False)]
    assert pauses == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_the_jitter_shortens_a_pause_by_at_most_half():
    clock = VirtualClock()
    sender = _Scripted(
        [(False, "UNAVAILABLE", True, None, "")] * 40 + [(True, "OK", False, None, "")], 600, clock
    )
    assert sender.send(b"x").ok
    pauses = [b - a for a, b in zip(sender.attempts, sender.attempts[1:], strict=False)]
    ceilings = [min(0.5 * 2**k, 8.0) for k in range(len(pauses))]
    assert all(c / 2 <= p <= c for p, c in zip(pauses, ceilings, strict=True))


@pytest.mark.parametrize("side", ["send", "exchange"])
def test_retries_give_up_when_the_next_would_end_past_the_export_timeout(no_jitter, side):
    clock = VirtualClock()
    forever = _Scripted([(False, "UNAVAILABLE", True, None, "")] * 100, timeout_s=10.0, clock=clock)
    outcome = forever.send(b"x") if side == "send" else asyncio.run(forever.exchange(b"x"))
    # Attempts at 0, 0.5, 1.5, 3.5 and 7.5 s; the next, 8 s later, would be past the 10 s timeout.
    assert forever.attempts == [0.0, 0.5, 1.5, 3.5, 7.5]
    assert (outcome.ok, outcome.rejected, outcome.code) == (False, False, "UNAVAILABLE")
    assert (outcome.retries, outcome.latency_s) == (4, 7.5)


@pytest.mark.parametrize("side", ["send", "exchange"])
def test_a_stop_ends_the_pause_before_a_retry_at_once(side):
    clock, stop = VirtualClock(), threading.Event()
    clock.call_at(1.25, stop.set)
    throttled = _Scripted([(False, "429", True, 5.0, "")] * 2, timeout_s=10.0, clock=clock, stop=stop)
    outcome = throttled.send(b"x") if side == "send" else asyncio.run(throttled.exchange(b"x"))
    assert (outcome.ok, outcome.code, outcome.retries, outcome.latency_s) == (False, "429", 0, 1.25)
    assert throttled.attempts == [0.0]


def test_latency_percentiles_are_within_two_percent():
    rng = random.Random(3)
    values = sorted(rng.lognormvariate(-5, 1.2) for _ in range(20_000))
    histogram = LatencyHistogram()
    for v in values:
        histogram.add(v)
    for q in (0.5, 0.9, 0.99):
        exact = values[int(q * len(values)) - 1]
        assert abs(histogram.percentile(q) - exact) / exact < 0.025
    assert histogram.percentile(1.0) == histogram.max_s == values[-1]


def test_the_live_view_rate_follows_the_last_seconds_not_the_whole_run():
    from claude_telemetry_cli.load.stats import LoadStats, RecentRates

    stats, recent = LoadStats(), RecentRates(window_s=3.0)
    rates = {}
    for second in range(1, 21):
        # 100 points a second for ten seconds, then 1,000 a second.
        stats.points_sent += 100 if second <= 10 else 1_000
        rates[second] = recent.update(stats, float(second))["points_per_s"]
    assert rates[10] == pytest.approx(100)
    assert rates[20] == pytest.approx(1_000)  # the average since the start would be 550
