"""Decoded points, events and spans -> Totals, correct under delta and cumulative temporality."""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

from claude_telemetry_cli.content import Content, content_of, span_pairs
from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint, DecodedSpan
from claude_telemetry_cli.records import Totals

_BY_KEY = itemgetter(0)


class Tally:
    """Accumulates what arrived. Delta points are summed; a cumulative series (name, attributes,
    start time) is read at its latest point, so a resent cumulative point is never counted twice.

    Resource attributes are tallied as content ("resource", signal): once per log record and per
    span, and once per metric series and resource (however often the series is exported). Points
    and records of one request share its resource object, so each resource is looked at once per
    request, not once per record."""

    def __init__(self) -> None:
        # Metric values per (name, attributes, resource number), so that which series came from which
        # resource is known without keeping anything per point.
        self._delta: dict[tuple, float] = {}
        self._cumulative: dict[tuple, tuple[int, float]] = {}
        self._resource_numbers: dict[tuple, int] = {}
        self._resources: list[tuple] = []
        self.events = Totals()
        self.points = 0
        self.event_count = 0
        self.span_count = 0
        # What the events, spans and logs' and traces' resources carry, per (kind, name).
        self.content: dict[tuple[str, str], Content] = {}

    def expect(self, expected: Totals) -> None:
        """Count exactly every value `expected` counts exactly, so a difference is told record by record."""
        for key, c in (expected.content or {}).items():
            content_of(self.content, key).expect(c)

    def _resource_number(self, resource: tuple) -> int:
        frozen = tuple(sorted(resource, key=_BY_KEY))
        number = self._resource_numbers.get(frozen)
        if number is None:
            number = self._resource_numbers[frozen] = len(self._resources)
            self._resources.append(frozen)
        return number

    def add_points(self, points: Iterable[DecodedPoint]) -> None:
        delta, cumulative = self._delta, self._cumulative
        resource, number = None, 0
        for p in points:
            self.points += 1
            if p.resource is not resource:
                resource, number = p.resource, self._resource_number(p.resource)
            attributes = tuple(sorted(p.attributes, key=_BY_KEY))
            if p.temporality == "cumulative":
                key = (p.name, attributes, p.start_ns, number)
                seen = cumulative.get(key)
                if seen is None or p.time_ns >= seen[0]:
                    cumulative[key] = (p.time_ns, p.value)
            else:
                key = (p.name, attributes, number)
                delta[key] = delta.get(key, 0.0) + p.value

    def add_events(self, events: Iterable[DecodedEvent]) -> None:
        resource, run = None, 0
        for e in events:
            self.event_count += 1
            name = e.name
            self.events.add_event(name)
            content_of(self.content, ("event", name)).add(e.attributes)
            if e.resource is not resource:
                self._add_resource("logs", resource, run)
                resource, run = e.resource, 0
            run += 1
        self._add_resource("logs", resource, run)

    def add_spans(self, spans: Iterable[DecodedSpan]) -> None:
        resource, run = None, 0
        for s in spans:
            self.span_count += 1
            self.events.add_span(s.name)
            content_of(self.content, ("span", s.name)).add(
                span_pairs(s.attributes, s.status, s.status_message)
            )
            if s.resource is not resource:
                self._add_resource("traces", resource, run)
                resource, run = s.resource, 0
            run += 1
        self._add_resource("traces", resource, run)

    def _add_resource(self, signal: str, resource, records: int) -> None:
        if records:
            content_of(self.content, ("resource", signal)).add(resource, records)

    def totals(self) -> Totals:
        content = {k: c.copy() for k, c in self.content.items() if c.count}
        metrics: dict[tuple, float] = {}
        series: set[tuple] = set()
        # The attributes are sorted already, as Totals keys them.
        for (name, attributes, number), value in self._delta.items():
            metrics[name, attributes] = metrics.get((name, attributes), 0.0) + value
            series.add((name, attributes, number))
        for (name, attributes, _start, number), (_t, value) in self._cumulative.items():
            metrics[name, attributes] = metrics.get((name, attributes), 0.0) + value
            series.add((name, attributes, number))
        out = Totals(metrics, dict(self.events.events), dict(self.events.spans), content)
        if series:
            seeded = self.content.get(("resource", "metrics"))
            resources = content[("resource", "metrics")] = seeded.copy() if seeded is not None else Content()
            per_resource: dict[int, int] = {}
            for _name, _attributes, number in series:
                per_resource[number] = per_resource.get(number, 0) + 1
            for number, n in per_resource.items():
                resources.add(self._resources[number], n)
        return out
