"""`load`'s options as given: their defaults (the only ones), and the checks between them."""

from __future__ import annotations

from dataclasses import dataclass

from claude_telemetry_cli.durations import duration_option
from claude_telemetry_cli.errors import UsageError

__all__ = ["BATCH", "LoadOptions"]

BATCH = 100  # throughput mode's points (or events) per request, unless told


@dataclass(frozen=True)
class LoadOptions:
    """What the command line (or a caller) asks of a load run, before a configuration resolves it into
    a runner.LoadSpec. Durations are kept as written, so a mistake is reported in the user's words."""

    sessions: int = 100  # fleet mode: concurrent simulated sessions
    throughput: bool = False  # throughput mode instead of fleet mode
    rate: float | None = None  # throughput mode: requests per second (None: as fast as accepted)
    batch: int | None = None  # throughput mode: points (or events) per request (None: BATCH)
    interval: str | None = None  # fleet mode: metric export interval (None: the configuration's)
    ramp_up: str | None = None  # fleet mode: start the sessions over this long (None: one interval)
    session_rate: float | None = None  # fleet mode: sessions started per second, instead of ramp_up
    preset: str = "enterprise"
    seed: int = 1
    duration: str = "60s"  # or inf
    workers: int | None = None  # None: one per core
    concurrency: int = 256  # requests in flight per worker
    allow_export_failures: bool = False
    max_error_rate: float | None = None  # go on through failures; fail above this share of requests
    track_totals: bool = False  # add up what the collector acknowledged
    export_timeout_s: float = 10.0

    def validate(self) -> None:
        """A one-line UsageError for options that exclude each other or a duration that is no duration."""
        if not self.throughput and (self.rate is not None or self.batch is not None):
            raise UsageError(
                "--rate and --batch are for --throughput mode; fleet mode paces itself by --interval"
            )
        if self.throughput and (self.interval or self.ramp_up or self.session_rate):
            raise UsageError("--interval, --ramp-up and --session-rate are for fleet mode, not --throughput")
        if self.ramp_up is not None and self.session_rate is not None:
            raise UsageError("--ramp-up and --session-rate exclude each other; choose one")
        duration_s = self.duration_s
        if duration_s is not None and duration_s <= 0:
            raise UsageError("--duration: must be more than 0, or inf")
        interval_s = self.interval_s
        if interval_s is not None and interval_s <= 0:
            raise UsageError("--interval: must be more than 0")
        duration_option("--ramp-up", self.ramp_up)

    @property
    def duration_s(self) -> float | None:
        """None: until stopped."""
        return duration_option("--duration", self.duration, allow_inf=True)

    @property
    def interval_s(self) -> float | None:
        return duration_option("--interval", self.interval)

    @property
    def ramp_up_s(self) -> float | None:
        if self.session_rate is not None:
            return self.sessions / self.session_rate
        return duration_option("--ramp-up", self.ramp_up)
