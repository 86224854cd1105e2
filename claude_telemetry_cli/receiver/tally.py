"""Decoded points, events and spans -> Totals, correct under delta and cumulative temporality."""

from __future__ import annotations

from collections.abc import Iterable

from claude_telemetry_cli.content import Content, content_of, span_pairs
from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint, DecodedSpan
from claude_telemetry_cli.records import Totals


class Tally:
    """Accumulates what arrived. Delta points are summed; a cumulative series (name, attributes,
    start time) is read at its latest point, so a resent cumulative point is never counted twice."""

    def __init__(self) -> None:
        self._delta = Totals()
        self._cumulative: dict[tuple, tuple[int, float]] = {}
        self.events = Totals()
        self.points = 0
        self.event_count = 0
        self.span_count = 0
        # What the events and spans carry, per ("event" | "span", name).
        self.content: dict[tuple[str, str], Content] = {}

    def expect(self, expected: Totals) -> None:
        """Count exactly every value `expected` counts exactly, so a difference is told record by record."""
        for key, c in (expected.content or {}).items():
            content_of(self.content, key).expect(c)

    def add_points(self, points: Iterable[DecodedPoint]) -> None:
        for p in points:
            self.points += 1
            if p.temporality == "cumulative":
                key = (p.name, tuple(sorted(p.attributes, key=lambda kv: kv[0])), p.start_ns)
                seen = self._cumulative.get(key)
                if seen is None or p.time_ns >= seen[0]:
                    self._cumulative[key] = (p.time_ns, p.value)
            else:
                self._delta.add_metric(p.name, p.attributes, p.value)

    def add_events(self, events: Iterable[DecodedEvent]) -> None:
        for e in events:
            self.event_count += 1
            name = e.name
            self.events.add_event(name)
            content_of(self.content, ("event", name)).add(e.attributes)

    def add_spans(self, spans: Iterable[DecodedSpan]) -> None:
        for s in spans:
            self.span_count += 1
            self.events.add_span(s.name)
            content_of(self.content, ("span", s.name)).add(
                span_pairs(s.attributes, s.status, s.status_message)
            )

    def totals(self) -> Totals:
        out = Totals(
            dict(self._delta.metrics),
            dict(self.events.events),
            dict(self.events.spans),
            {k: c.copy() for k, c in self.content.items() if c.count},
        )
        for (name, key, _start), (_t, value) in self._cumulative.items():
            out.add_metric(name, key, value)
        return out
