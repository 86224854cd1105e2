"""Clocks that both tell and pass time: real, scaled (--speed) and instant."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds of scenario time elapsed since the clock started."""

    def sleep_until(self, at: float) -> None:
        """Block until scenario time `at` (returns at once if it has passed)."""


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

    def sleep_until(self, at: float) -> None:
        remaining = (at - self.now()) / self.speed
        if remaining > 0:
            self._sleep(remaining)


class InstantClock:
    """Scenario time jumps straight to whatever is awaited: replay as fast as possible."""

    def __init__(self) -> None:
        self._now = 0.0

    def now(self) -> float:
        return self._now

    def sleep_until(self, at: float) -> None:
        if at > self._now:
            self._now = at
