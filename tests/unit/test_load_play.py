"""The worker's event loop plays an engine's steps: it waits for the next due request without spinning."""

from __future__ import annotations

import threading

from claude_telemetry_cli.clock import VirtualClock
from claude_telemetry_cli.load.runner import LoadSpec, _play, _run_loop


class _PausesSeen(VirtualClock):
    def __init__(self) -> None:
        super().__init__()
        self.pauses: list[float] = []

    async def sleep_async(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await super().sleep_async(seconds)


def test_waiting_for_requests_due_a_fraction_of_a_millisecond_apart_pauses_a_millisecond_at_least():
    # 250 moments 0.2 ms apart (a fleet of 100,000 sessions sends about one request per 0.2 ms); before
    # each, the engine pauses until it is due, asking again after every pause, as FleetEngine does.
    clock = _PausesSeen()

    def steps():
        for k in range(250):
            due = k * 0.0002
            while (delay := due - clock.now()) > 0:
                yield min(delay, 0.25)

    stop = threading.Event()
    spec = LoadSpec(mode="fleet", config=None)
    _run_loop(_play(steps(), {}, lambda *a: None, stop.is_set, stop, threading.Event(), spec, clock))
    # One wake-up a millisecond. uvloop's timers count whole milliseconds: a shorter sleep woke at once,
    # some 17,000 times in these 50 ms, most of a core at 100,000 sessions.
    assert clock.pauses == [0.001] * 50
