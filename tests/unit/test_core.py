"""Records, totals, tally, clocks and durations: the pieces every command stands on."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from claude_telemetry_cli.clock import InstantClock, RealClock, ScaledClock, VirtualClock
from claude_telemetry_cli.durations import format_duration, parse_duration
from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint
from claude_telemetry_cli.receiver.tally import Tally
from claude_telemetry_cli.records import Record, Totals


def _point(value, *, temporality="delta", start=1, time=2, attrs=(("type", "input"),)):
    return DecodedPoint(
        name="claude_code.token.usage",
        description="",
        unit="tokens",
        kind="sum",
        temporality=temporality,
        monotonic=True,
        value=value,
        is_double=True,
        attributes=attrs,
        start_ns=start,
        time_ns=time,
        resource=(),
        scope_name="s",
        scope_version="1",
    )


def test_totals_sum_per_name_and_attribute_set_regardless_of_attribute_order():
    records = [
        Record(0, 0, "metric", "claude_code.cost.usage", 0.1, (("model", "a"), ("session.id", "s"))),
        Record(1, 0, "metric", "claude_code.cost.usage", 0.2, (("session.id", "s"), ("model", "a"))),
        Record(1, 0, "metric", "claude_code.cost.usage", 0.5, (("session.id", "s"), ("model", "b"))),
        Record(1, 0, "event", "api_request", None, ()),
        Record(2, 0, "event", "api_request", None, ()),
    ]
    t = Totals.from_records(records)
    assert t.metric_sums() == {"claude_code.cost.usage": pytest.approx(0.8)}
    assert t.series_count() == {"claude_code.cost.usage": 2}
    assert t.events == {"api_request": 2}
    assert Totals.from_json(t.to_json()).equals(t)


def test_totals_equality_spots_a_missing_attribute_and_an_altered_value():
    base = Totals()
    base.add_metric("m", (("a", "1"), ("b", True)), 3.0)
    dropped = Totals()
    dropped.add_metric("m", (("a", "1"),), 3.0)
    altered = Totals()
    altered.add_metric("m", (("b", True), ("a", "1")), 3.5)
    same = Totals()
    same.add_metric("m", (("b", True), ("a", "1")), 1.0)
    same.add_metric("m", (("a", "1"), ("b", True)), 2.0)
    assert not base.equals(dropped) and not base.equals(altered) and base.equals(same)


def test_tally_sums_delta_points_and_reads_cumulative_series_at_their_latest_point():
    tally = Tally()
    tally.add_points([_point(5), _point(7)])
    assert tally.totals().metric_sums() == {"claude_code.token.usage": 12}

    tally = Tally()
    # A cumulative series exported three times (and the last export resent) counts once.
    tally.add_points(
        [_point(5, temporality="cumulative", time=2), _point(9, temporality="cumulative", time=3)]
    )
    tally.add_points([_point(9, temporality="cumulative", time=3)])
    # The same attributes with a new start time is a restarted series: it adds.
    tally.add_points([_point(4, temporality="cumulative", start=10, time=11)])
    assert tally.totals().metric_sums() == {"claude_code.token.usage": 13}


def test_tally_counts_events_by_name_from_event_name_or_body():
    def ev(body, attrs):
        return DecodedEvent(body, attrs, 1, 1, 0, (), "s", "1")

    tally = Tally()
    tally.add_events(
        [ev("claude_code.user_prompt", (("event.name", "user_prompt"),)), ev("claude_code.tool_result", ())]
    )
    assert tally.totals().events == {"user_prompt": 1, "tool_result": 1}


def test_scaled_clock_sleeps_scenario_time_divided_by_speed():
    now = [100.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    clock = ScaledClock(10.0, monotonic=lambda: now[0], sleep=sleep)
    clock.sleep_until(30.0)
    assert slept == [pytest.approx(3.0)] and clock.now() == pytest.approx(30.0)
    clock.sleep_until(5.0)  # the past: no sleep
    assert len(slept) == 1


def test_scaled_clock_waits_scenario_time_divided_by_speed():
    class Waitable:
        def wait(self, timeout=None):
            self.timeout = timeout
            return False

    waitable = Waitable()
    assert ScaledClock(4.0).wait(waitable, 2.0) is False and waitable.timeout == 0.5


def test_the_real_clock_is_the_monotonic_one_and_a_set_event_ends_its_waits_at_once():
    clock = RealClock()
    before = time.monotonic()
    assert before <= clock.now() <= time.monotonic()
    stop = threading.Event()
    stop.set()
    assert clock.wait(stop, 3600)
    assert asyncio.run(clock.wait_async(stop, 3600))


def test_instant_clock_jumps_without_sleeping():
    clock = InstantClock()
    clock.sleep_until(3600)
    assert clock.now() == 3600
    clock.sleep_until(10)
    assert clock.now() == 3600
    clock.sleep(-5)
    assert clock.now() == 3600
    assert not clock.wait(threading.Event(), 60) and clock.now() == 3660


def test_virtual_clock_runs_what_is_scheduled_as_time_passes_it():
    clock = VirtualClock(100.0)
    seen: list[tuple[str, float]] = []
    clock.call_at(130.0, lambda: seen.append(("late", clock.now())))
    clock.call_at(110.0, lambda: seen.append(("early", clock.now())))
    clock.call_at(110.0, lambda: seen.append(("then", clock.now())))
    clock.sleep(20)
    assert seen == [("early", 110.0), ("then", 110.0)] and clock.now() == 120.0
    clock.sleep_until(200)
    assert seen[-1] == ("late", 130.0) and clock.now() == 200.0


def test_a_virtual_wait_ends_when_its_event_is_set_and_not_before():
    clock, stop = VirtualClock(), threading.Event()
    clock.call_at(2.0, lambda: None)  # something else happens first: the wait goes on
    clock.call_at(5.0, stop.set)
    assert clock.wait(stop, 60) and clock.now() == 5.0
    assert clock.wait(stop, 60) and clock.now() == 5.0  # set already: no time passes


def test_a_virtual_wait_on_a_condition_wakes_when_anything_scheduled_happens():
    clock, changed = VirtualClock(), threading.Condition()
    clock.call_at(2.5, lambda: None)
    with changed:
        assert clock.wait(changed, 60)
    assert clock.now() == 2.5
    with changed:
        assert not clock.wait(changed, 60)
    assert clock.now() == 62.5


def test_virtual_asynchronous_waits_take_no_time_but_their_own():
    clock = VirtualClock()

    async def main():
        quick = asyncio.ensure_future(asyncio.sleep(0))
        await clock.wait_tasks({quick}, 10)  # done at the next turn of the loop: no time passes
        at_quick = clock.now()
        stuck = asyncio.get_running_loop().create_future()
        await clock.wait_tasks({stuck}, 10)
        stuck.cancel()
        await clock.sleep_async(2.5)
        return at_quick

    assert asyncio.run(main()) == 0.0
    assert clock.now() == 12.5


@pytest.mark.parametrize(
    "text, seconds",
    [("250ms", 0.25), ("5s", 5), ("1m30s", 90), ("2h", 7200), ("1.5", 1.5), (3, 3.0), ("1h2m3s", 3723)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "5 parsecs", "-1", "", "5s3", True])
def test_bad_durations_say_what_is_accepted(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_reads_naturally():
    assert [format_duration(s) for s in (0.25, 5, 90, 3723)] == ["250ms", "5s", "1m30s", "1h02m03s"]


def test_an_option_s_duration_is_seconds_or_a_usage_error_naming_the_option():
    from claude_telemetry_cli.durations import duration_option
    from claude_telemetry_cli.errors import UsageError

    assert duration_option("--timeout", None) is None
    assert duration_option("--timeout", "1m30s") == 90.0
    assert duration_option("--duration", "inf", allow_inf=True) is None
    with pytest.raises(UsageError) as caught:
        duration_option("--linger", "soon")
    assert caught.value.message == (
        "--linger: invalid duration 'soon'; use e.g. 250ms, 5s, 1m30s, 2h or a number of seconds"
    )
