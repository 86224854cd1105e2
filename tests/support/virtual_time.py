"""A clock for the load engines that its own waits advance instantly: hours of schedule in a moment."""

from __future__ import annotations


class VirtualTime:
    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        """Advance by `seconds`; never asked to stop."""
        self.now += seconds
        return False
