"""Clocks that both tell and pass time: real, scaled (--speed), instant and virtual."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Collection
from typing import Any, Protocol


class Waitable(Protocol):
    """A threading.Event, or a threading.Condition whose lock the caller holds."""

    def wait(self, timeout: float | None = None) -> bool: ...


class Clock(Protocol):
    """Where time comes from and how it passes. Seconds are the clock's own: scenario seconds for a
    scaled clock, seconds that only waits move for an instant or a virtual one."""

    def now(self) -> float:
        """Seconds on this clock (only differences between two readings mean anything)."""

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass."""

    def sleep_until(self, at: float) -> None:
        """Block until `now()` reaches `at` (returns at once if it has passed)."""

    def wait(self, waitable: Waitable, seconds: float) -> bool:
        """Wait on `waitable` for up to `seconds`: True when it was set (or the condition notified)."""

    async def sleep_async(self, seconds: float) -> None:
        """`sleep` on the running event loop."""

    async def wait_async(self, event: Any, seconds: float) -> bool:
        """`wait` for a threading.Event on the running event loop, which goes on meanwhile."""

    async def wait_tasks(self, tasks: Collection[Any], seconds: float) -> None:
        """Until every task is done or `seconds` pass, whichever comes first."""


# How often an asynchronous wait looks at a threading.Event: it cannot be awaited, only asked.
_EVENT_POLL_S = 0.05


class ScaledClock:
    """Scenario time runs `speed` times faster than wall time (speed 1 is real time)."""

    def __init__(self, speed: float = 1.0, *, monotonic=time.monotonic, sleep=time.sleep) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._monotonic = monotonic
        self._sleep = sleep
        self._origin = monotonic()

    def now(self) -> float:
        return (self._monotonic() - self._origin) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds / self.speed)

    def sleep_until(self, at: float) -> None:
        self.sleep(at - self.now())

    def wait(self, waitable: Waitable, seconds: float) -> bool:
        return bool(waitable.wait(max(0.0, seconds) / self.speed))

    async def sleep_async(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def wait_async(self, event, seconds: float) -> bool:
        import asyncio

        wake = self._monotonic() + max(0.0, seconds) / self.speed
        while not event.is_set() and (left := wake - self._monotonic()) > 0:
            await asyncio.sleep(min(_EVENT_POLL_S, left))
        return event.is_set()

    async def wait_tasks(self, tasks: Collection, seconds: float) -> None:
        import asyncio

        if tasks:
            await asyncio.wait(tasks, timeout=max(0.0, seconds) / self.speed)


class RealClock(ScaledClock):
    """Wall time as it passes: `now()` is the system's monotonic clock."""

    # Read for every step of a fleet of thousands: the system call itself, with nothing around it.
    now = staticmethod(time.monotonic)

    def __init__(self) -> None:
        super().__init__(1.0)


class InstantClock:
    """Time jumps straight to whatever is awaited: replay as fast as possible. A wait on an event that
    is not set lasts its whole length, in no time at all."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._pass(self._now + max(0.0, seconds))

    def sleep_until(self, at: float) -> None:
        if at > self._now:
            self._pass(at)

    def wait(self, waitable: Waitable, seconds: float) -> bool:
        if waitable.wait(0):
            return True
        return self._pass(self._now + max(0.0, seconds), waitable)

    async def sleep_async(self, seconds: float) -> None:
        import asyncio

        self.sleep(seconds)
        await asyncio.sleep(0)  # the others on the loop get their turn, as after a real sleep

    async def wait_async(self, event, seconds: float) -> bool:
        import asyncio

        await asyncio.sleep(0)  # whoever would set the event meanwhile gets its turn first
        return self.wait(event, seconds)

    async def wait_tasks(self, tasks: Collection, seconds: float) -> None:
        import asyncio

        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=0)
            if pending:
                self.sleep(seconds)

    def _pass(self, until: float, waitable: Waitable | None = None) -> bool:
        """Move on to `until`; True if `waitable` was set on the way."""
        self._now = max(self._now, until)
        return False


class VirtualClock(InstantClock):
    """An instant clock on which things can be made to happen at given times (`call_at`): arrivals, a
    stop, a file appearing. Hours of schedule run in a moment, and a test asserts exact times."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__(start)
        self._calls: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()

    def call_at(self, at: float, action: Callable[[], object]) -> None:
        """Run `action` when time reaches `at` (at once, on the next wait or sleep, if it has passed)."""
        heapq.heappush(self._calls, (at, next(self._order), action))

    def _pass(self, until: float, waitable: Waitable | None = None) -> bool:
        while self._calls and self._calls[0][0] <= until:
            at, _, action = heapq.heappop(self._calls)
            self._now = max(self._now, at)
            action()
            if waitable is not None:
                if waitable.wait(0):
                    return True
                # Whatever the action changed, a condition's owner looks again (a notified wait).
                if not hasattr(waitable, "is_set"):
                    return True
        self._now = max(self._now, until)
        return False
