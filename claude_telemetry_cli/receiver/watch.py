"""Wait on a Reception until what arrived equals what was expected, a deadline passes, or Ctrl-C."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from claude_telemetry_cli.receiver.reception import Reception
from claude_telemetry_cli.receiver.verify import Verdict, compare
from claude_telemetry_cli.records import Totals


@dataclass
class WatchResult:
    verdict: Verdict | None  # None when nothing was expected
    timed_out: bool = False
    interrupted: bool = False
    seconds: float = 0.0


def watch(
    reception: Reception,
    *,
    expected: Totals | None,
    timeout_s: float | None,
    on_tick: Callable[[], None] | None = None,
    poll_s: float = 0.25,
    clock: Callable[[], float] = time.monotonic,
) -> WatchResult:
    """Verify on every arrival; return as soon as the totals match (or at the deadline)."""
    started = clock()
    deadline = None if timeout_s is None else started + timeout_s
    generation = -1
    verdict: Verdict | None = None
    try:
        while True:
            remaining = None if deadline is None else deadline - clock()
            if remaining is not None and remaining <= 0:
                break
            seen = reception.wait_for_change(
                generation, poll_s if remaining is None else min(poll_s, remaining)
            )
            if on_tick is not None:
                on_tick()
            if seen != generation and expected is not None:
                generation = seen
                verdict = compare(expected, reception.totals())
                if verdict.ok:
                    return WatchResult(verdict, seconds=clock() - started)
            generation = seen
    except KeyboardInterrupt:
        final = compare(expected, reception.totals()) if expected is not None else None
        return WatchResult(final, interrupted=True, seconds=clock() - started)
    final = compare(expected, reception.totals()) if expected is not None else None
    return WatchResult(final, timed_out=True, seconds=clock() - started)
