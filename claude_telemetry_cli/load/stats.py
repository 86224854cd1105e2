"""What a load run counts: requests by outcome and code, points, events and spans sent and acknowledged,
bytes, latency percentiles, how far the schedule fell behind.

Each worker process keeps one LoadStats and ships snapshots (plain dicts) to the parent, which adds them up.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["LatencyHistogram", "LoadStats", "RecentRates"]

# Buckets 2% wide from 10 µs: percentiles within 2% at any scale, in a few hundred integers.
_BASE = 1.02
_FLOOR_S = 1e-5


@dataclass
class LatencyHistogram:
    buckets: Counter = field(default_factory=Counter)
    count: int = 0
    max_s: float = 0.0

    def add(self, seconds: float) -> None:
        index = 0 if seconds <= _FLOOR_S else int(math.log(seconds / _FLOOR_S, _BASE)) + 1
        self.buckets[index] += 1
        self.count += 1
        if seconds > self.max_s:
            self.max_s = seconds

    def merge(self, other: LatencyHistogram) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.max_s = max(self.max_s, other.max_s)

    def percentile(self, q: float) -> float:
        """The upper edge of the bucket holding the q-th quantile (0 < q <= 1), never above the max."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(self.max_s, _FLOOR_S * _BASE**index)
        return self.max_s

    def to_json(self) -> dict:
        return {"buckets": dict(self.buckets), "count": self.count, "max_s": self.max_s}

    @classmethod
    def from_json(cls, data: dict) -> LatencyHistogram:
        return cls(Counter({int(k): v for k, v in data["buckets"].items()}), data["count"], data["max_s"])


# Counts that add up across workers.
_ADDED = (
    "retries",
    "points_sent",
    "points_acked",
    "events_sent",
    "events_acked",
    "spans_sent",
    "spans_acked",
    "bytes_sent",
    "sessions_started",
    "sessions_active",
    "peak_rss_bytes",
    "baseline_rss_bytes",
    "cpu_s",
)


@dataclass
class LoadStats:
    # (signal, outcome, code) -> requests; outcome is accepted | rejected | failed.
    requests: Counter = field(default_factory=Counter)
    retries: int = 0
    points_sent: int = 0
    points_acked: int = 0
    events_sent: int = 0
    events_acked: int = 0
    spans_sent: int = 0
    spans_acked: int = 0
    bytes_sent: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    sessions_started: int = 0
    sessions_active: int = 0
    lag_max_s: float = 0.0  # the latest a due export was handed to a sender
    peak_rss_bytes: int = 0
    baseline_rss_bytes: int = 0  # after start-up, before the first session
    cpu_s: float = 0.0  # the workers' processor time since they were ready

    def record(self, signal: str, outcome, points: int, events: int, size: int, spans: int = 0) -> None:
        kind = "accepted" if outcome.ok else ("rejected" if outcome.rejected else "failed")
        self.requests[(signal, kind, outcome.code)] += 1
        self.retries += outcome.retries
        self.points_sent += points
        self.events_sent += events
        self.spans_sent += spans
        self.bytes_sent += size
        if outcome.ok:
            self.points_acked += points
            self.events_acked += events
            self.spans_acked += spans
        self.latency.add(outcome.latency_s)

    def count(self, outcome: str | None = None) -> int:
        return sum(n for (_, kind, _), n in self.requests.items() if outcome is None or kind == outcome)

    @property
    def error_rate(self) -> float:
        total = self.count()
        return (total - self.count("accepted")) / total if total else 0.0

    def merge(self, other: LoadStats) -> None:
        self.requests.update(other.requests)
        for name in _ADDED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.merge(other.latency)
        self.lag_max_s = max(self.lag_max_s, other.lag_max_s)

    def to_json(self) -> dict:
        return {
            "requests": [[s, k, c, n] for (s, k, c), n in sorted(self.requests.items())],
            "latency": self.latency.to_json(),
            **{name: getattr(self, name) for name in (*_ADDED, "lag_max_s")},
        }

    @classmethod
    def from_json(cls, data: dict) -> LoadStats:
        out = cls(
            requests=Counter({(s, k, c): n for s, k, c, n in data["requests"]}),
            latency=LatencyHistogram.from_json(data["latency"]),
        )
        for name in (*_ADDED, "lag_max_s"):
            setattr(out, name, data[name])
        return out


class RecentRates:
    """Requests, points and events per second over the last `window_s` seconds, for the live view
    (the report's throughput is the average over the whole run)."""

    def __init__(self, window_s: float = 3.0) -> None:
        self.window_s = window_s
        self._samples: list[tuple[float, int, int, int]] = []

    def update(self, stats: LoadStats, elapsed_s: float) -> dict[str, float]:
        sample = (elapsed_s, stats.count(), stats.points_sent, stats.events_sent)
        self._samples.append(sample)
        while len(self._samples) > 2 and elapsed_s - self._samples[1][0] >= self.window_s:
            self._samples.pop(0)
        first = self._samples[0]
        span = elapsed_s - first[0]
        if span <= 0:
            return {"requests_per_s": 0.0, "points_per_s": 0.0, "events_per_s": 0.0}
        return {
            "requests_per_s": (sample[1] - first[1]) / span,
            "points_per_s": (sample[2] - first[2]) / span,
            "events_per_s": (sample[3] - first[3]) / span,
        }
