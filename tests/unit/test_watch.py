"""Waiting on a Reception, in virtual time. The verdict loop backs off comparing under a heavy stream and
decides as soon as the stream goes quiet rather than at the end of its back-off, and with an idle limit
gives up once the stream stopped short (or never started); record stops at its timeout, or once nothing
new has been accepted for a while."""

from __future__ import annotations

import functools
import json
import threading

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from claude_telemetry_cli.clock import VirtualClock
from claude_telemetry_cli.receiver.dump import DumpFailed
from claude_telemetry_cli.receiver.reception import Reception
from claude_telemetry_cli.receiver.watch import record_until, watch
from claude_telemetry_cli.records import Totals


class ScriptedReception:
    """Arrivals at given (virtual) times; each full comparison costs `compare_s` of the clock."""

    def __init__(self, clock: VirtualClock, arrivals: list[tuple[float, Totals]], compare_s: float) -> None:
        self.clock, self.compare_s = clock, compare_s
        self.current = Totals()
        self.generation = 0
        self.compares: list[float] = []
        self.failure: str | None = None
        self._changed = threading.Event()
        for at, totals in arrivals:
            clock.call_at(at, functools.partial(self._arrive, totals))

    def expect(self, expected: Totals) -> None:
        pass

    @property
    def accepted(self) -> int:
        return self.generation

    def _arrive(self, totals: Totals) -> None:
        self.current = totals
        self.generation += 1
        self._changed.set()

    def wait_for_change(self, seen: int, timeout: float, clock) -> int:
        if self.generation == seen:
            self._changed.clear()
            clock.wait(self._changed, timeout)
        return self.generation

    def event_total(self) -> int:
        return sum(self.current.events.values())

    def totals(self) -> Totals:
        """What arrived when the comparison began; arrivals while it runs are seen afterwards."""
        self.compares.append(self.clock.now())
        current = self.current
        self.clock.sleep(self.compare_s)
        return current


def _totals(points: float) -> Totals:
    return Totals(metrics={("claude_code.cost.usage", ()): points}, events={"api_request": 2})


def test_the_verdict_follows_the_last_arrival_once_the_stream_is_quiet():
    clock = VirtualClock()
    # Every event is in at 1 s but the last points arrive during the (slow) first comparison.
    reception = ScriptedReception(clock, [(1.0, _totals(1.0)), (30.0, _totals(2.0))], compare_s=60.0)
    result = watch(reception, expected=_totals(2.0), timeout_s=3600, clock=clock)
    assert result.verdict is not None and result.verdict.ok
    assert not result.timed_out
    # Without the quiet rule the second comparison would wait for four times the first one's cost
    # (until 301 s); the stream has been quiet for a second at 62 s.
    assert reception.compares == [1.0, 62.0]
    assert result.seconds == 122.0


def test_totals_that_never_arrive_are_a_failed_verdict_at_the_deadline():
    clock = VirtualClock(500.0)
    reception = ScriptedReception(clock, [(510.0, _totals(1.0))], compare_s=0.0)
    result = watch(reception, expected=_totals(2.0), timeout_s=30.0, clock=clock)
    assert result.timed_out and result.verdict is not None and not result.verdict.ok
    assert result.seconds == 30.0 and clock.now() == 530.0
    assert result.ended == "timeout"


def _scripted(clock: VirtualClock, arrivals: list[tuple[float, Totals]]) -> ScriptedReception:
    return ScriptedReception(clock, arrivals, compare_s=0.0)


def test_a_stream_that_stops_short_fails_once_it_has_been_idle_not_at_the_deadline():
    clock = VirtualClock()
    # Half of what is expected arrives by 3 s, then nothing more.
    reception = _scripted(clock, [(1.0, _totals(0.5)), (3.0, _totals(1.0))])
    result = watch(reception, expected=_totals(2.0), timeout_s=120.0, idle_s=5.0, clock=clock)
    assert result.ended == "idle" and not result.timed_out
    assert result.verdict is not None and not result.verdict.ok
    assert clock.now() == 8.0 and result.seconds == 8.0


def test_arrivals_keep_an_idle_wait_going_and_a_match_ends_it_at_once():
    clock = VirtualClock()
    # Gaps of 4 s, each shorter than the idle limit; the totals are met at 12 s.
    arrivals = [(4.0, _totals(0.5)), (8.0, _totals(1.0)), (12.0, _totals(2.0))]
    result = watch(
        _scripted(clock, arrivals), expected=_totals(2.0), timeout_s=120.0, idle_s=5.0, clock=clock
    )
    assert result.ended == "verified" and result.verdict is not None and result.verdict.ok
    assert clock.now() == 12.0


def test_nothing_arriving_within_the_idle_limit_ends_the_wait_as_nothing_arrived():
    clock = VirtualClock()
    reception = _scripted(clock, [(40.0, _totals(2.0))])  # too late
    result = watch(reception, expected=_totals(2.0), timeout_s=120.0, idle_s=30.0, clock=clock)
    assert result.ended == "nothing-arrived" and not result.timed_out
    assert clock.now() == 30.0 and not result.verdict.ok


def test_nothing_arriving_by_the_deadline_is_nothing_arrived_too():
    clock = VirtualClock()
    result = watch(_scripted(clock, []), expected=_totals(2.0), timeout_s=10.0, clock=clock)
    assert result.ended == "nothing-arrived" and result.timed_out
    assert clock.now() == 10.0


def test_without_an_idle_limit_a_stream_that_stops_short_waits_for_the_deadline():
    clock = VirtualClock()
    reception = _scripted(clock, [(1.0, _totals(1.0))])
    result = watch(reception, expected=_totals(2.0), timeout_s=120.0, clock=clock)
    assert result.ended == "timeout" and clock.now() == 120.0


def test_requests_refused_are_no_arrival_for_the_idle_limit():
    clock = VirtualClock()
    reception = Reception()
    clock.call_at(1.0, functools.partial(_accept, reception))
    for at in (3.0, 5.0, 7.0):
        clock.call_at(at, functools.partial(reception.reject, "grpc", "unauthenticated"))
    result = watch(reception, expected=_totals(2.0), timeout_s=120.0, idle_s=4.0, clock=clock)
    assert result.ended == "idle" and clock.now() == 5.0
    refused_only = Reception()
    clock = VirtualClock()
    clock.call_at(1.0, functools.partial(refused_only.reject, "grpc", "unauthenticated"))
    result = watch(refused_only, expected=_totals(2.0), timeout_s=120.0, idle_s=4.0, clock=clock)
    assert result.ended == "nothing-arrived" and clock.now() == 4.0


def test_an_idle_wait_for_a_totals_file_lasts_until_the_file_is_read(tmp_path):
    from claude_telemetry_cli.receiver.watch import TotalsFile

    clock = VirtualClock()
    reception = Reception()
    path = tmp_path / "sent.json"
    clock.call_at(1.0, functools.partial(_accept, reception))
    # The sender writes its totals 20 s after its last request (a long flush): no verdict before that.
    clock.call_at(21.0, functools.partial(path.write_text, '{"metrics": [], "events": {"api_request": 2}}\n'))
    source = TotalsFile(path, lambda text: Totals.from_json(json.loads(text)))
    result = watch(reception, expected=source, timeout_s=120.0, idle_s=5.0, clock=clock)
    assert result.ended == "idle" and clock.now() == pytest.approx(26.0, abs=0.3)
    assert result.verdict is not None and not result.verdict.ok


def _accept(reception: Reception) -> None:
    reception.accept_metrics(ExportMetricsServiceRequest(), "grpc")


@pytest.mark.parametrize(
    ("arrivals", "timeout_s", "idle_s", "why", "at"),
    [
        ([], 30.0, None, "timeout", 30.0),
        ([2.0, 3.5], None, 5.0, "idle", 8.5),
        ([2.0, 3.5], 6.0, 5.0, "timeout", 6.0),
        ([0.1 * k for k in range(1, 100)], 12.0, 1.0, "idle", 10.9),  # a second after the last of a stream
    ],
)
def test_record_stops_at_its_timeout_or_once_the_stream_is_idle(arrivals, timeout_s, idle_s, why, at):
    clock = VirtualClock()
    reception = Reception()
    for arrival in arrivals:
        clock.call_at(arrival, functools.partial(_accept, reception))
    assert record_until(reception, timeout_s=timeout_s, idle_s=idle_s, clock=clock) == why
    assert clock.now() == pytest.approx(at, abs=1e-9)
    assert reception.accepted == len(arrivals)


def test_record_is_not_idle_before_anything_arrived_and_stops_on_ctrl_c():
    clock = VirtualClock()
    clock.call_at(600.0, _interrupt)
    assert record_until(Reception(), timeout_s=None, idle_s=5.0, clock=clock) == "interrupted"
    assert clock.now() == 600.0


def _interrupt() -> None:
    raise KeyboardInterrupt


def test_a_refused_request_is_no_arrival_for_record():
    clock = VirtualClock()
    reception = Reception()
    clock.call_at(1.0, functools.partial(_accept, reception))
    clock.call_at(4.0, functools.partial(reception.reject, "grpc", "too large"))
    assert record_until(reception, timeout_s=None, idle_s=5.0, clock=clock) == "idle"
    assert clock.now() == 6.0


class _FullDisk:
    def write(self, data: bytes) -> None:
        raise DumpFailed("--dump dump.jsonl: cannot write: no space left on device")


def test_a_dump_that_cannot_be_written_ends_the_wait_at_once():
    clock = VirtualClock()
    reception = Reception(dump=_FullDisk())

    def arrive() -> None:
        with pytest.raises(DumpFailed):
            _accept(reception)

    clock.call_at(2.0, arrive)
    result = watch(reception, expected=_totals(2.0), timeout_s=120.0, clock=clock)
    assert result.failure == (
        "--dump dump.jsonl: cannot write: no space left on device;"
        " the request was refused, not counted, and receiving stopped"
    )
    assert not result.timed_out and clock.now() == 2.0
    assert result.verdict is not None and not result.verdict.ok
    assert reception.accepted == 0 and reception.requests == {}
