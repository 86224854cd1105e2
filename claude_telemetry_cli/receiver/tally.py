"""Decoded points, events and spans -> Totals, correct under delta and cumulative temporality."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

from claude_telemetry_cli.content import Content, merge_contents, span_pairs
from claude_telemetry_cli.otlp.decode import (
    DecodedEvent,
    DecodedPoint,
    DecodedSpan,
    EventBatch,
    MetricBatch,
    Series,
    SpanBatch,
)
from claude_telemetry_cli.records import Totals

_BY_KEY = itemgetter(0)


@dataclass
class TallyPart:
    """What a Tally counted since its last take(): a worker process's share, merged by the one that
    judges (Tally.merge)."""

    delta: dict[tuple, float]  # Totals.metrics key -> sum of the delta points
    series: dict[Series, float]  # the same, of the points of add_batch
    cumulative: dict[tuple, tuple[int, float]]  # (name, attributes, start) -> (time, value) of the latest
    cumulative_series: dict[tuple[Series, int], tuple[int, float]]  # the same, of add_batch
    events: dict[str, int]
    spans: dict[str, int]
    content: dict[tuple[str, str], Content]
    # Per resource (its attributes, sorted): the series that came from it, of add_batch and add_points.
    resource_series: dict[tuple, set[Series]]
    resource_keys: dict[tuple, set[tuple]]
    points: int
    event_count: int
    span_count: int


class Tally:
    """Accumulates what arrived. Delta points are summed; a cumulative series (name, attributes,
    start time) is read at its latest point, so a resent cumulative point is never counted twice.

    Resource attributes are tallied as content ("resource", signal): once per log record and per
    span, and once per metric series and resource (however often the series is exported). Points
    and records of one request share its resource, so each resource is looked at once per request
    (per metric), not once per record.

    A load test sends the same records again and again. A record that came before is first counted
    by what it carries (content_key()), and added to its Content once, n times over, when the counts
    are read or PENDING distinct records are waiting (Content.add(..., n) gives what n additions give).
    A record seen for the first time, as every record of a replay is, goes to its Content at once."""

    # More than the distinct records of a load test's pool, which then each reach their Content once
    # per read of the totals.
    PENDING = 100_000

    def __init__(self) -> None:
        self._delta = Totals()
        # Delta sums of add_batch, per Series (hashed by identity, unlike a Totals key of many tuples).
        self._by_series: dict[Series, float] = {}
        self._cumulative: dict[tuple, tuple[int, float]] = {}
        self._cumulative_by_series: dict[tuple[Series, int], tuple[int, float]] = {}
        self.events = Totals()
        self.points = 0
        self.event_count = 0
        self.span_count = 0
        # What the events, spans and logs' and traces' resources carry, per (kind, name): see content.
        self._contents: dict[tuple[str, str], Content] = {}
        # Which series came from which resource: the metrics' resources, counted once per series.
        self._resource_series: dict[tuple, set[Series]] = {}
        self._resource_keys: dict[tuple, set[tuple]] = {}
        # The values to count exactly (expect()), per content key: seeded as each Content is created.
        self._expected: dict[tuple[str, str], Content] = {}
        # content_key() -> how many records carried it, not yet added to their Content.
        self._pending: dict[tuple, int] = {}

    @property
    def content(self) -> dict[tuple[str, str], Content]:
        """What the events, spans and logs' and traces' resources carry, per (kind, name)."""
        self._add_pending()
        return self._contents

    def _add_pending(self) -> None:
        pending, self._pending = self._pending, {}
        content = self._contents
        for (key, attributes, _types), n in pending.items():
            c = content.get(key)
            if c is None:
                c = self._content(key)
            c.add(attributes, n)

    def expect(self, expected: Totals) -> None:
        """Count exactly every value `expected` counts exactly, so a difference is told record by record."""
        self._add_pending()
        for key, c in (expected.content or {}).items():
            self._expected[key] = c
            known = self._contents.get(key)
            if known is None:
                self._content(key)
            else:
                known.expect(c)

    def _content(self, key: tuple[str, str]) -> Content:
        c = self._contents.get(key)
        if c is None:
            c = self._contents[key] = Content()
            seed = self._expected.get(key)
            if seed is not None:
                c.expect(seed)
        return c

    def add_points(self, points: Iterable[DecodedPoint]) -> None:
        resource, keys = None, set()
        for p in points:
            self.points += 1
            if p.resource is not resource:
                resource = p.resource
                keys = _member(self._resource_keys, resource)
            keys.add((p.name, tuple(sorted(p.attributes, key=_BY_KEY))))
            if p.temporality == "cumulative":
                key = (p.name, tuple(sorted(p.attributes, key=lambda kv: kv[0])), p.start_ns)
                seen = self._cumulative.get(key)
                if seen is None or p.time_ns >= seen[0]:
                    self._cumulative[key] = (p.time_ns, p.value)
            else:
                self._delta.add_metric(p.name, p.attributes, p.value)

    def add_batch(self, batch: MetricBatch) -> None:
        """The points of otlp.decode.decode_metric_batch: the same totals as add_points of decode_metrics,
        without a Python object or a sort per point."""
        self.points += batch.points
        sums = self._by_series
        get = sums.get
        resource, members = None, set()
        for m in batch.metrics:
            if m.resource is not resource:
                resource = m.resource
                members = _member(self._resource_series, resource)
            members.update(m.series)
            if m.starts is None:
                for s, v in zip(m.series, m.values, strict=True):
                    sums[s] = get(s, 0.0) + v
                continue
            cumulative = self._cumulative_by_series
            for s, v, start, t in zip(m.series, m.values, m.starts, m.times, strict=True):
                key = (s, start)
                seen = cumulative.get(key)
                if seen is None or t >= seen[0]:
                    cumulative[key] = (t, v)

    def add_event_batch(self, batch: EventBatch) -> None:
        """The events of otlp.decode.decode_event_batch: the same totals as add_events of decode_logs."""
        self.event_count += len(batch.events)
        self._add_records(self.events.events, ((name, key, again) for name, _, key, again in batch.events))
        for resource, n in batch.resources:
            self._content(("resource", "logs")).add(resource, n)

    def add_events(self, events: Iterable[DecodedEvent]) -> None:
        resource, run = None, 0
        for e in events:
            self.event_count += 1
            name = e.name
            self.events.add_event(name)
            self._content(("event", name)).add(e.attributes)
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
            self._content(("span", s.name)).add(span_pairs(s.attributes, s.status, s.status_message))
            if s.resource is not resource:
                self._add_resource("traces", resource, run)
                resource, run = s.resource, 0
            run += 1
        self._add_resource("traces", resource, run)

    def add_span_batch(self, batch: SpanBatch) -> None:
        """The spans of otlp.decode.decode_span_batch: the same totals as add_spans of decode_traces."""
        self.span_count += len(batch.spans)
        self._add_records(self.events.spans, batch.spans)
        for resource, n in batch.resources:
            self._content(("resource", "traces")).add(resource, n)

    def _add_records(self, counts: dict[str, int], records: Iterable[tuple[str, tuple, bool]]) -> None:
        """(name, content_key(), seen before) of each record: counted by name; a record seen before
        waits to be added with the others like it, a new one is added to its Content now."""
        pending = self._pending
        content = self._contents
        for name, key, again in records:
            counts[name] = counts.get(name, 0) + 1
            if again:
                pending[key] = pending.get(key, 0) + 1
                continue
            c = content.get(key[0])
            if c is None:
                c = self._content(key[0])
            c.add(key[1])
        if len(pending) > self.PENDING:
            self._add_pending()

    def _add_resource(self, signal: str, resource, records: int) -> None:
        if records:
            self._content(("resource", signal)).add(resource, records)

    def _delta_sums(self) -> dict[tuple, float]:
        out = dict(self._delta.metrics)
        for series, value in self._by_series.items():
            key = series.key  # sorted already
            out[key] = out.get(key, 0.0) + value
        return out

    def totals(self) -> Totals:
        self._add_pending()
        out = Totals(
            self._delta_sums(),
            dict(self.events.events),
            dict(self.events.spans),
            {k: c.copy() for k, c in self._contents.items() if c.count},
        )
        latest = dict(self._cumulative)
        for (series, start), seen in self._cumulative_by_series.items():
            key = (series.key[0], series.attributes, start)
            known = latest.get(key)
            if known is None or seen[0] >= known[0]:
                latest[key] = seen
        metrics = out.metrics
        for (name, attributes, _start), (_t, value) in latest.items():
            key = (name, attributes)  # sorted already
            metrics[key] = metrics.get(key, 0.0) + value
        per_resource: dict[tuple, int] = {}
        for resource in self._resource_series.keys() | self._resource_keys.keys():
            # A series is one however many Series objects stood for it (the decoder's cache is bounded).
            keys = {s.key for s in self._resource_series.get(resource, ())}
            keys |= self._resource_keys.get(resource, set())
            per_resource[resource] = len(keys)
        if per_resource:
            resources = self._content(("resource", "metrics")).copy()  # seeded with what is expected
            for resource, n in per_resource.items():
                resources.add(resource, n)
            out.content[("resource", "metrics")] = resources
        return out

    def take(self) -> TallyPart:
        """Everything counted so far, which this Tally then forgets (what it expects, it keeps)."""
        self._add_pending()
        part = TallyPart(
            self._delta.metrics,
            self._by_series,
            self._cumulative,
            self._cumulative_by_series,
            self.events.events,
            self.events.spans,
            {k: c for k, c in self._contents.items() if c.count},
            self._resource_series,
            self._resource_keys,
            self.points,
            self.event_count,
            self.span_count,
        )
        self._delta, self._by_series, self.events = Totals(), {}, Totals()
        self._cumulative, self._cumulative_by_series = {}, {}
        self._contents = {}
        self._resource_series, self._resource_keys = {}, {}
        self.points = self.event_count = self.span_count = 0
        return part

    def merge(self, part: TallyPart) -> None:
        """Count what another Tally took (take()) as if it had arrived here."""
        self._add_pending()
        delta = self._delta.metrics
        for key, value in part.delta.items():
            delta[key] = delta.get(key, 0.0) + value
        sums = self._by_series
        for series, value in part.series.items():
            sums[series] = sums.get(series, 0.0) + value
        for mine, theirs in (
            (self._cumulative, part.cumulative),
            (self._cumulative_by_series, part.cumulative_series),
        ):
            for key, latest in theirs.items():
                seen = mine.get(key)
                if seen is None or latest[0] >= seen[0]:
                    mine[key] = latest
        for name, n in part.events.items():
            self.events.add_event(name, n)
        for name, n in part.spans.items():
            self.events.add_span(name, n)
        for key in part.content:
            self._content(key)  # seeded with what is expected before the part's records join it
        merge_contents(self._contents, part.content)
        for mine, theirs in (
            (self._resource_series, part.resource_series),
            (self._resource_keys, part.resource_keys),
        ):
            for resource, members in theirs.items():
                _member(mine, resource).update(members)
        self.points += part.points
        self.event_count += part.event_count
        self.span_count += part.span_count


def _member(by_resource: dict[tuple, set], resource) -> set:
    """The set of series of `resource` (its attributes in any order)."""
    frozen = tuple(sorted(resource, key=_BY_KEY))
    members = by_resource.get(frozen)
    if members is None:
        members = by_resource[frozen] = set()
    return members
