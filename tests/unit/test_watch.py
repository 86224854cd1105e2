"""The receiver's verdict loop: it backs off comparing under a heavy stream, and decides as soon as the
stream goes quiet rather than at the end of its back-off."""

from __future__ import annotations

from claude_telemetry_cli.receiver.watch import watch
from claude_telemetry_cli.records import Totals


class ScriptedReception:
    """Arrivals at given (virtual) times; each full comparison costs `compare_s` of the clock."""

    def __init__(self, clock, arrivals: list[tuple[float, Totals]], compare_s: float) -> None:
        self.clock, self.arrivals, self.compare_s = clock, arrivals, compare_s
        self.current = Totals()
        self.generation = 0
        self.compares: list[float] = []

    def wait_for_change(self, seen: int, timeout: float) -> int:
        self.clock.now += timeout
        while self.arrivals and self.arrivals[0][0] <= self.clock.now:
            self.current = self.arrivals.pop(0)[1]
            self.generation += 1
        return self.generation

    def event_total(self) -> int:
        return sum(self.current.events.values())

    def totals(self) -> Totals:
        self.compares.append(self.clock.now)
        self.clock.now += self.compare_s
        return self.current


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _totals(points: float) -> Totals:
    return Totals(metrics={("claude_code.cost.usage", ()): points}, events={"api_request": 2})


def test_the_verdict_follows_the_last_arrival_once_the_stream_is_quiet():
    clock = Clock()
    # Every event is in at 1 s but the last points arrive during the (slow) first comparison.
    reception = ScriptedReception(clock, [(1.0, _totals(1.0)), (30.0, _totals(2.0))], compare_s=60.0)
    result = watch(reception, expected=_totals(2.0), timeout_s=3600, clock=clock)
    assert result.verdict is not None and result.verdict.ok
    assert not result.timed_out
    # Without the quiet rule the second comparison would wait for four times the first one's cost.
    assert len(reception.compares) == 2
    assert reception.compares[1] < 1.0 + 60.0 + 5.0
