"""Record, Timeline and Totals: the plain data every part of the program exchanges."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Literal

AttrValue = str | bool | int | float | tuple
Attributes = tuple[tuple[str, AttrValue], ...]
Signal = Literal["metric", "event"]

METRIC: Signal = "metric"
EVENT: Signal = "event"


def attrs(mapping: Mapping[str, AttrValue]) -> Attributes:
    """Freeze a mapping into the ordered attribute tuple records carry (order is wire order)."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in mapping.items())


@dataclass(frozen=True, slots=True)
class Record:
    """One measurement or one event, fully resolved: exactly what goes on the wire but the clock.

    `at` is seconds from the scenario start; `session` indexes Timeline.sessions.
    Metric records carry the increment in `value`; events carry None.
    Event names carry no `claude_code.` prefix (the body does).
    """

    at: float
    session: int
    signal: Signal
    name: str
    value: float | None
    attributes: Attributes


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One simulated Claude Code process: its identity on the wire and its life span."""

    index: int
    session_id: str
    app_version: str
    resource: Attributes
    start_at: float
    end_at: float
    label: str = ""


@dataclass(frozen=True)
class Timeline:
    """A compiled scenario: sessions and their records ordered by time."""

    name: str
    profile: str
    sessions: tuple[SessionInfo, ...]
    records: tuple[Record, ...]

    @property
    def duration(self) -> float:
        return max((s.end_at for s in self.sessions), default=0.0)

    def totals(self) -> Totals:
        return Totals.from_records(self.records)


_BY_KEY = itemgetter(0)


def _freeze_key(attributes: Iterable[tuple[str, AttrValue]]) -> tuple[tuple[str, AttrValue], ...]:
    return tuple(sorted(attributes, key=_BY_KEY))


@dataclass
class Totals:
    """Sum per metric name and attribute set, count per event name: what must arrive."""

    metrics: dict[tuple[str, tuple[tuple[str, AttrValue], ...]], float] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[Record]) -> Totals:
        sums: dict[tuple[str, tuple], list[float]] = {}
        events: dict[str, int] = {}
        for r in records:
            if r.signal == METRIC:
                sums.setdefault((r.name, _freeze_key(r.attributes)), []).append(float(r.value or 0.0))
            else:
                events[r.name] = events.get(r.name, 0) + 1
        return cls({k: math.fsum(v) for k, v in sums.items()}, events)

    def add_metric(self, name: str, attributes: Iterable[tuple[str, AttrValue]], value: float) -> None:
        key = (name, _freeze_key(attributes))
        self.metrics[key] = self.metrics.get(key, 0.0) + value

    def add_event(self, name: str, count: int = 1) -> None:
        self.events[name] = self.events.get(name, 0) + count

    def metric_sums(self) -> dict[str, float]:
        """Sum per metric name over every attribute set."""
        out: dict[str, list[float]] = {}
        for (name, _), v in self.metrics.items():
            out.setdefault(name, []).append(v)
        return {k: math.fsum(v) for k, v in sorted(out.items())}

    def series_count(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, _ in self.metrics:
            out[name] = out.get(name, 0) + 1
        return dict(sorted(out.items()))

    def to_json(self) -> dict:
        return {
            "metrics": [
                {"name": name, "attributes": {k: _jsonable(v) for k, v in key}, "value": value}
                for (name, key), value in sorted(
                    self.metrics.items(), key=lambda kv: (kv[0][0], repr(kv[0][1]))
                )
            ],
            "events": dict(sorted(self.events.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Totals:
        out = cls()
        for m in data.get("metrics", []):
            items = [(k, tuple(v) if isinstance(v, list) else v) for k, v in m["attributes"].items()]
            out.add_metric(m["name"], items, float(m["value"]))
        for name, n in data.get("events", {}).items():
            out.add_event(name, int(n))
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False)

    def equals(self, other: Totals, *, rel_tol: float = 1e-9, abs_tol: float = 1e-9) -> bool:
        if self.events != other.events or self.metrics.keys() != other.metrics.keys():
            return False
        return all(
            math.isclose(v, other.metrics[k], rel_tol=rel_tol, abs_tol=abs_tol)
            for k, v in self.metrics.items()
        )


def _jsonable(v: AttrValue):
    return list(v) if isinstance(v, tuple) else v
