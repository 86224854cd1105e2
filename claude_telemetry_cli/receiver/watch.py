"""Wait on a Reception: until what arrived equals what was expected (receive), or until the stream
goes idle (record); or a deadline passes, or Ctrl-C."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from claude_telemetry_cli.clock import Clock, RealClock
from claude_telemetry_cli.receiver.reception import Reception
from claude_telemetry_cli.receiver.verify import Verdict, compare
from claude_telemetry_cli.records import Totals


@dataclass
class WatchResult:
    verdict: Verdict | None  # None when nothing was expected
    timed_out: bool = False
    interrupted: bool = False
    seconds: float = 0.0
    failure: str | None = None  # why the reception stopped before its verdict (the dump failed)
    # Why the wait ended: "verified", "timeout", "idle" (nothing new for idle_s once something arrived),
    # "nothing-arrived" (no request accepted at all, and the totals, if any, not met), "interrupted" or
    # "failure" (the reception failed: see `failure`).
    ended: str = "timeout"


_QUIET_S = 1.0  # no arrival for this long: the stream is quiet


class TotalsFile:
    """Expected totals from a file that may be written after the receiver started (`load --totals-out`):
    read when it appears, and again whenever it changes."""

    def __init__(self, path, load: Callable[[str], Totals]) -> None:
        self.path = path
        self._load = load
        self._stamp = None
        self.totals: Totals | None = None

    def poll(self) -> bool:
        """Whether the totals changed since the last poll."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return False
        text = self.path.read_text(encoding="utf-8")
        if not text.endswith("\n"):
            return False  # still being written
        self._stamp = stamp
        self.totals = self._load(text)
        return True


def watch(
    reception: Reception,
    *,
    expected: Totals | TotalsFile | None,
    timeout_s: float | None,
    idle_s: float | None = None,
    on_tick: Callable[[], None] | None = None,
    poll_s: float = 0.25,
    clock: Clock | None = None,
) -> WatchResult:
    """Verify on arrivals; return as soon as the totals match, or at the deadline, or once no request
    has been accepted for `idle_s` (counted from the start while nothing has arrived), or at once when
    the reception fails (its dump cannot be written).

    A full comparison costs time proportional to the series expected, so under a heavy stream it
    runs only when the event count already matches, and at most every four times its own cost:
    the receiver's threads, not the verdict, get the CPU; once nothing has arrived for a second it
    runs at once, so the verdict follows the last arrival closely. With a TotalsFile, nothing is compared
    until the file exists; each new version of it is compared afresh, and a quiet stream does not end
    the wait before the file is read (the sender writes it once it has sent everything).
    """
    clock = clock if clock is not None else RealClock()
    source = expected if isinstance(expected, TotalsFile) else None
    if source is not None:
        source.poll()
        expected = source.totals
    if expected is not None:
        reception.expect(expected)
    started = clock.now()
    deadline = None if timeout_s is None else started + timeout_s
    generation = -1
    verdict: Verdict | None = None
    expected_events = sum(expected.events.values()) if expected is not None else 0
    next_compare, pending = started, False
    last_change = started
    accepted, last_arrival = 0, started

    def idle_at() -> float | None:
        if idle_s is None or (expected is None and accepted):
            return None
        return last_arrival + idle_s

    def ending(why: str, **result) -> WatchResult:
        final = compare(expected, reception.totals()) if expected is not None else None
        if final is not None and final.ok and why in ("timeout", "idle"):
            why = "verified"
        elif why in ("timeout", "idle") and reception.accepted == 0:
            why = "nothing-arrived"
        return WatchResult(final, seconds=clock.now() - started, ended=why, **result)

    try:
        while True:
            now = clock.now()
            if deadline is not None and now >= deadline:
                break
            quiet_until = idle_at()
            if quiet_until is not None and now >= quiet_until:
                return ending("idle")
            limits = [poll_s, *(at - now for at in (deadline, quiet_until) if at is not None)]
            seen = reception.wait_for_change(generation, min(limits), clock)
            if on_tick is not None:
                on_tick()
            if reception.failure is not None:
                # Requests are refused from now on: no verdict can pass, so none is waited for.
                return ending("failure", failure=reception.failure)
            if reception.accepted != accepted:
                # A refused request changes the generation too, but brings nothing to verify.
                accepted, last_arrival = reception.accepted, clock.now()
            if source is not None and source.poll():
                expected = source.totals
                reception.expect(expected)
                expected_events = sum(expected.events.values())
                pending, next_compare = True, clock.now()
                last_arrival = max(last_arrival, clock.now())
            if seen != generation:
                pending, last_change = True, clock.now()
            generation = seen
            # Once the stream has gone quiet, the receiver's threads need no CPU: compare at once.
            due = clock.now() >= next_compare or clock.now() - last_change >= _QUIET_S
            if pending and expected is not None and due:
                if reception.event_total() == expected_events:
                    began = clock.now()
                    verdict = compare(expected, reception.totals())
                    if verdict.ok:
                        return WatchResult(verdict, seconds=clock.now() - started, ended="verified")
                    next_compare = clock.now() + 4 * (clock.now() - began)
                pending = False
    except KeyboardInterrupt:
        return ending("interrupted", interrupted=True)
    return ending("timeout", timed_out=True)


def record_until(
    reception: Reception,
    *,
    timeout_s: float | None,
    idle_s: float | None,
    poll_s: float = 0.25,
    clock: Clock | None = None,
) -> str:
    """Let the stream arrive until `timeout_s` has passed, or nothing new has been accepted for `idle_s`
    once something was, or Ctrl-C. Returns why it stopped: "timeout", "idle" or "interrupted"."""
    clock = clock if clock is not None else RealClock()
    started = clock.now()
    generation, accepted, last_arrival = -1, 0, None
    try:
        while True:
            limits = []
            if timeout_s is not None:
                limits.append(started + timeout_s)
            if idle_s is not None and last_arrival is not None:
                limits.append(last_arrival + idle_s)
            wait_s = min([poll_s, *(at - clock.now() for at in limits)])
            generation = reception.wait_for_change(generation, max(0.0, wait_s), clock)
            now = clock.now()
            if reception.accepted != accepted:
                accepted, last_arrival = reception.accepted, now
            if timeout_s is not None and now - started >= timeout_s:
                return "timeout"
            if idle_s is not None and last_arrival is not None and now - last_arrival >= idle_s:
                return "idle"
    except KeyboardInterrupt:
        return "interrupted"
