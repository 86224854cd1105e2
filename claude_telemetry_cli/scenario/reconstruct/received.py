"""What a receiver decoded, read for a scenario: numbers, text, event times, attribute sets, metric sums."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from claude_telemetry_cli.contract import PROFILES

if TYPE_CHECKING:
    from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint

__all__ = [
    "METRIC_KEYS",
    "STANDARD_KEYS",
    "MetricKey",
    "as_int",
    "as_text",
    "event_time",
    "freeze",
    "metric_query_source",
    "metric_totals",
    "most_common",
    "specific_attributes",
    "validation_problem",
]

# Keys a metric carries for itself, in any profile; every other key on a point is a standard attribute
# or an OTEL_RESOURCE_ATTRIBUTES pair.
METRIC_KEYS: dict[str, frozenset[str]] = {}
for _profile in PROFILES.values():
    for _name, _spec in _profile.metrics.items():
        METRIC_KEYS[_name] = METRIC_KEYS.get(_name, frozenset()) | frozenset(_spec.attribute_keys)
STANDARD_KEYS = tuple(a.key for a in PROFILES["current"].standard_attributes)
_MAIN_SUBSYSTEMS = frozenset({"repl_main_thread", "sdk"})
_AUXILIARY_SUBSYSTEMS = frozenset({"compact", "generate_session_title"})

MetricKey = tuple[str, tuple[tuple[str, Any], ...]]


def metric_query_source(subsystem: str | None) -> str:
    """The metrics' query_source (main, subagent, auxiliary) of an event-side subsystem."""
    if subsystem is None or subsystem in _MAIN_SUBSYSTEMS:
        return "main"
    if subsystem in _AUXILIARY_SUBSYSTEMS:
        return "auxiliary"
    return "subagent"


def freeze(attributes: Iterable[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(attributes, key=lambda kv: kv[0]))


def metric_totals(points: Iterable[DecodedPoint]) -> dict[MetricKey, float]:
    """Sum per (name, attributes) as Tally computes it, but independent of arrival order: a delta series
    is summed exactly (fsum), a cumulative one (name, attributes, start) read at its latest point."""
    delta: dict[MetricKey, list[float]] = {}
    latest: dict[tuple[MetricKey, int], tuple[int, float]] = {}
    for p in points:
        key = (p.name, freeze(p.attributes))
        if p.temporality == "cumulative":
            seen = latest.get((key, p.start_ns))
            if seen is None or (p.time_ns, p.value) > seen:
                latest[key, p.start_ns] = (p.time_ns, p.value)
        else:
            delta.setdefault(key, []).append(p.value)
    for (key, _start), (_time, value) in sorted(latest.items(), key=lambda kv: repr(kv[0])):
        delta.setdefault(key, []).append(value)
    return {k: math.fsum(v) for k, v in delta.items()}


def specific_attributes(name: str, attributes: Iterable[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    """The attributes the metric carries for itself, frozen: no standard attribute, no resource pair."""
    keys = METRIC_KEYS.get(name, frozenset())
    return freeze((k, v) for k, v in attributes if k in keys)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(round(float(value)))
    except (TypeError, ValueError):
        return None


def as_text(value: Any) -> str | None:
    """A string fit for a scenario: non-empty, and never mistaken for a {{ faker }} expression."""
    if value is None:
        return None
    text = str(value).replace("{{", "{ {")
    return text or None


def validation_problem(model: type[BaseModel], data: dict) -> str | None:
    """None if `data` validates as `model`, else the first problem."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"])
        return f"{where}: {error['msg']}" if where else str(error["msg"])
    return None


def most_common(values: Iterable[Any]) -> Any:
    """The most frequent value, the earliest seen among equals; None for nothing."""
    counts = Counter(values)
    if not counts:
        return None
    best = max(counts.values())
    return next(v for v in counts if counts[v] == best)


def event_time(event: DecodedEvent) -> int:
    if event.time_ns:
        return event.time_ns
    if event.observed_ns:
        return event.observed_ns
    stamp = dict(event.attributes).get("event.timestamp")
    if isinstance(stamp, str):
        try:
            return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1e9)
        except ValueError:
            pass
    return 0
