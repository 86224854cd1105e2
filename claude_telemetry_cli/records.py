"""Record, SpanRecord, Timeline and Totals: the plain data every part of the program exchanges."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Literal, Protocol

from claude_telemetry_cli.content import Content, content_of, merge_contents, same_contents, span_pairs

AttrValue = str | bool | int | float | tuple
Attributes = tuple[tuple[str, AttrValue], ...]
Signal = Literal["metric", "event"]

METRIC: Signal = "metric"
EVENT: Signal = "event"


def attrs(mapping: Mapping[str, AttrValue]) -> Attributes:
    """Freeze a mapping into the ordered attribute tuple records carry (order is wire order)."""
    if list not in map(type, mapping.values()):  # the common case, without a Python-level loop
        return tuple(mapping.items())
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in mapping.items())


@dataclass(frozen=True, slots=True)
class TraceRef:
    """The trace context an event carries: its interaction span's ids, lowercase hex."""

    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits


@dataclass(frozen=True, slots=True)
class Record:
    """One measurement or one event, fully resolved: exactly what goes on the wire but the clock.

    `at` is seconds from the scenario start; `session` indexes Timeline.sessions.
    Metric records carry the increment in `value`; events carry None.
    Event names carry no `claude_code.` prefix (the body does).
    `trace` is set only on events emitted inside an interaction while tracing is active.
    `span_attributes` is what an event knows that only the span derived from it carries, never sent
    with the event (the program a Bash tool_decision runs, say).
    """

    at: float
    session: int
    signal: Signal
    name: str
    value: float | None
    attributes: Attributes
    trace: TraceRef | None = None
    span_attributes: Attributes = ()


SpanStatus = Literal["unset", "error"]


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """An event inside a span (OTLP Span.Event): `at` in scenario seconds, like its span's times."""

    at: float
    name: str
    attributes: Attributes


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span (Claude Code's beta tracing), fully resolved but the clock.

    It is replayed at `end_at`, when the span ends, and started `end_at - start_at` seconds before
    (scenario seconds, like Record.at). Ids are lowercase hex; a root span has no parent.
    """

    start_at: float
    end_at: float
    session: int
    name: str
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str | None
    attributes: Attributes
    status: SpanStatus = "unset"
    status_message: str = ""
    events: tuple[SpanEvent, ...] = ()


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


@dataclass(frozen=True, slots=True)
class SessionPlay:
    """One process as the replay plays it: records in time order, spans in the order they end."""

    info: SessionInfo
    records: Sequence[Record]
    spans: Sequence[SpanRecord] = ()


class Playable(Protocol):
    """What replay() plays: a Timeline in memory, or a scenario.spool.CompiledScenario on disk."""

    name: str
    profile: str

    @property
    def session_count(self) -> int: ...

    @property
    def record_count(self) -> int: ...

    @property
    def duration(self) -> float:
        """Scenario seconds from the start to the end of the last session."""
        ...

    @property
    def has_spans(self) -> bool: ...

    def totals(self) -> Totals: ...

    def plays(self) -> Iterator[SessionPlay]: ...


def play_order(info: SessionInfo) -> tuple[float, int]:
    """Processes start in this order: by start time, then index."""
    return (info.start_at, info.index)


@dataclass(frozen=True)
class Timeline:
    """A compiled scenario: sessions and their records ordered by time.

    `spans` stays empty unless tracing is active (scenario.spans.derive_spans adds them), ordered by
    end time, children before their parent.
    """

    name: str
    profile: str
    sessions: tuple[SessionInfo, ...]
    records: tuple[Record, ...]
    spans: tuple[SpanRecord, ...] = ()

    @property
    def duration(self) -> float:
        return max((s.end_at for s in self.sessions), default=0.0)

    def totals(self) -> Totals:
        resources = {info.index: info.resource for info in self.sessions}
        records, spans = self._by_session()
        builder = TotalsBuilder()
        for session in sorted(records.keys() | spans.keys()):
            builder.add(records.get(session, ()), spans.get(session, ()), resources.get(session))
        return builder.totals()

    # What replay() and the summaries read; scenario.spool.CompiledScenario offers the same, from disk.

    @property
    def session_count(self) -> int:
        return len(self.sessions)

    @property
    def record_count(self) -> int:
        return len(self.records)

    @property
    def has_spans(self) -> bool:
        return bool(self.spans)

    def plays(self) -> Iterator[SessionPlay]:
        """Each process with its own records and spans, in the order the processes start."""
        records, spans = self._by_session()
        for info in sorted(self.sessions, key=play_order):
            yield SessionPlay(info, records.get(info.index, ()), spans.get(info.index, ()))

    def _by_session(self) -> tuple[dict[int, list[Record]], dict[int, list[SpanRecord]]]:
        """The records and the spans of each session (by index), in their order."""
        records: dict[int, list[Record]] = {}
        spans: dict[int, list[SpanRecord]] = {}
        for r in self.records:
            records.setdefault(r.session, []).append(r)
        for span in self.spans:
            spans.setdefault(span.session, []).append(span)
        return records, spans


_BY_KEY = itemgetter(0)


def _freeze_key(attributes: Iterable[tuple[str, AttrValue]]) -> tuple[tuple[str, AttrValue], ...]:
    return tuple(sorted(attributes, key=_BY_KEY))


@dataclass
class Totals:
    """Sum per metric name and attribute set, count per event name and per span name: what must arrive.

    `content` holds what the records carry (content.Content), keyed ("event", name), ("span", name) and
    ("resource", signal): the resource attributes every log record ("logs") and span ("traces") was
    sent with, and each metric series ("metrics", one record per series and resource). None when the
    totals do not say (a totals file written before content was), and then only counts are verified;
    without a resource key (a file written before resources were kept), resources are not verified.
    """

    metrics: dict[tuple[str, tuple[tuple[str, AttrValue], ...]], float] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    spans: dict[str, int] = field(default_factory=dict)
    content: dict[tuple[str, str], Content] | None = None

    @classmethod
    def from_records(cls, records: Iterable[Record], spans: Iterable[SpanRecord] = ()) -> Totals:
        builder = TotalsBuilder()
        builder.add(records, spans)
        return builder.totals()

    def add_metric(self, name: str, attributes: Iterable[tuple[str, AttrValue]], value: float) -> None:
        key = (name, _freeze_key(attributes))
        self.metrics[key] = self.metrics.get(key, 0.0) + value

    def add_event(self, name: str, count: int = 1) -> None:
        self.events[name] = self.events.get(name, 0) + count

    def add_span(self, name: str, count: int = 1) -> None:
        self.spans[name] = self.spans.get(name, 0) + count

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
        out = {
            "metrics": [
                {"name": name, "attributes": {k: _jsonable(v) for k, v in key}, "value": value}
                for (name, key), value in sorted(
                    self.metrics.items(), key=lambda kv: (kv[0][0], repr(kv[0][1]))
                )
            ],
            "events": dict(sorted(self.events.items())),
        }
        # Only with tracing: totals files written before traces existed keep their exact shape.
        if self.spans:
            out["spans"] = dict(sorted(self.spans.items()))
        if self.content is not None:
            out["content"] = {
                f"{kind} {name}": c.to_json() for (kind, name), c in sorted(self.content.items())
            }
        return out

    @classmethod
    def from_json(cls, data: Mapping) -> Totals:
        out = cls()
        for m in data.get("metrics", []):
            items = [(k, tuple(v) if isinstance(v, list) else v) for k, v in m["attributes"].items()]
            out.add_metric(m["name"], items, float(m["value"]))
        for name, n in data.get("events", {}).items():
            out.add_event(name, int(n))
        for name, n in data.get("spans", {}).items():
            out.add_span(name, int(n))
        if "content" in data:
            out.content = {}
            for where, c in data["content"].items():
                kind, _, name = where.partition(" ")
                if kind not in CONTENT_KINDS or not name:
                    raise ValueError(
                        f"content of {where!r}: not 'event NAME', 'span NAME' or 'resource SIGNAL'"
                    )
                out.content[kind, name] = Content.from_json(c)
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False)

    @classmethod
    def sum_of(cls, parts: Iterable[Totals]) -> Totals:
        """The totals of several senders (workers) added up; each sum exact."""
        builder = TotalsBuilder()
        for part in parts:
            for (name, attributes), value in part.metrics.items():
                builder.add_metric(name, attributes, value)
            for name, count in part.events.items():
                builder.add_event(name, count)
            for name, count in part.spans.items():
                builder.add_span(name, count)
            builder.merge_content(part.content)
        return builder.totals()

    def equals(
        self, other: Totals, *, rel_tol: float = 1e-9, abs_tol: float = 1e-9, content: bool = False
    ) -> bool:
        """Same counts and sums; and (with `content`) the same content where both know it."""
        if self.events != other.events or self.spans != other.spans:
            return False
        if content and self.content is not None and other.content is not None:
            if not same_contents(self.content, other.content):
                return False
        if self.metrics.keys() != other.metrics.keys():
            return False
        return all(
            math.isclose(v, other.metrics[k], rel_tol=rel_tol, abs_tol=abs_tol)
            for k, v in self.metrics.items()
        )


CONTENT_KINDS = ("event", "span", "resource")


def _jsonable(v: AttrValue):
    return list(v) if isinstance(v, tuple) else v


class TotalsBuilder:
    """Totals accumulated a session at a time; each sum is exact (fsum of every increment) at the end."""

    def __init__(self, *, content: bool = True) -> None:
        self._sums: dict[tuple[str, tuple], list[float]] = {}
        self._events: dict[str, int] = {}
        self._spans: dict[str, int] = {}
        # What the records carry (Totals.content), unless told not to keep it.
        self._content: dict[tuple[str, str], Content] | None = {} if content else None
        # The metric series each resource sent, for the ("resource", "metrics") content: a series is
        # exported again and again, so what stays the same however often it is sent is which series
        # came from which resource.
        self._series: dict[Attributes, set[tuple[str, tuple]]] = {}

    def add_content(
        self, kind: str, name: str, attributes: Iterable[tuple[str, AttrValue]], n: int = 1
    ) -> None:
        """`n` records of `kind` ("event", "span", "resource") and `name` carrying `attributes`."""
        if self._content is not None:
            content_of(self._content, (kind, name)).add(attributes, n)

    def merge_content(self, content: Mapping[tuple[str, str], Content] | None) -> None:
        """Add another part's content; content is known only if every part knows it."""
        if content is None:
            self._content = None
        elif self._content is not None:
            merge_contents(self._content, content)

    def add(
        self, records: Iterable[Record], spans: Iterable[SpanRecord] = (), resource: Attributes | None = None
    ) -> None:
        """The records and spans of one process, sent with `resource` (its resource attributes; None:
        the resource is not checked)."""
        sums, events = self._sums, self._events
        content = self._content is not None
        series = None
        if content and resource is not None:
            series = self._series.setdefault(_freeze_key(resource), set())
        event_count = span_count = 0
        for r in records:
            if r.signal == METRIC:
                key = (r.name, _freeze_key(r.attributes))
                sums.setdefault(key, []).append(float(r.value or 0.0))
                if series is not None:
                    series.add(key)
            else:
                events[r.name] = events.get(r.name, 0) + 1
                event_count += 1
                if content:
                    self.add_content("event", r.name, r.attributes)
        for span in spans:
            self._spans[span.name] = self._spans.get(span.name, 0) + 1
            span_count += 1
            if content:
                self.add_content(
                    "span", span.name, span_pairs(span.attributes, span.status, span.status_message)
                )
        # Every log record and span carries its process's resource: counted once per record, which
        # holds however a collector regroups records into requests.
        if content and resource is not None:
            if event_count:
                self.add_content("resource", "logs", resource, event_count)
            if span_count:
                self.add_content("resource", "traces", resource, span_count)

    def add_metric(self, name: str, attributes: Iterable[tuple[str, AttrValue]], value: float) -> None:
        values = self._sums.setdefault((name, _freeze_key(attributes)), [])
        values.append(float(value))
        if len(values) >= 256:  # a long run: keep one exact partial sum, not every increment
            values[:] = [math.fsum(values)]

    def add_event(self, name: str, count: int = 1) -> None:
        self._events[name] = self._events.get(name, 0) + count

    def add_span(self, name: str, count: int = 1) -> None:
        self._spans[name] = self._spans.get(name, 0) + count

    def totals(self) -> Totals:
        content = None if self._content is None else {k: c.copy() for k, c in self._content.items()}
        if content is not None and any(self._series.values()):
            metrics = content_of(content, ("resource", "metrics"))
            for resource, series in self._series.items():
                if series:
                    metrics.add(resource, len(series))
        return Totals(
            {k: math.fsum(v) for k, v in self._sums.items()}, dict(self._events), dict(self._spans), content
        )

    def exact_part(self) -> TotalsPart:
        """What was added so far, each sum as a few floats whose exact sum is the exact sum of its
        increments: merged into another builder, the totals come out the same to the last bit, in
        whatever order the parts were built (a compile split across processes)."""
        return TotalsPart(
            {k: _exact_partials(v) for k, v in self._sums.items()},
            self._events,
            self._spans,
            self._content,
            self._series,
        )

    def merge(self, part: TotalsPart) -> None:
        sums, events, spans = self._sums, self._events, self._spans
        for key, partials in part.sums.items():
            sums.setdefault(key, []).extend(partials)
        for name, count in part.events.items():
            events[name] = events.get(name, 0) + count
        for name, count in part.spans.items():
            spans[name] = spans.get(name, 0) + count
        self.merge_content(part.content)
        if self._content is not None:
            for resource, series in part.series.items():
                self._series.setdefault(resource, set()).update(series)


@dataclass(frozen=True, slots=True)
class TotalsPart:
    """A TotalsBuilder's content in transit between processes (TotalsBuilder.exact_part)."""

    sums: dict[tuple[str, tuple], list[float]]
    events: dict[str, int]
    spans: dict[str, int]
    content: dict[tuple[str, str], Content] | None = None
    series: dict[Attributes, set[tuple[str, tuple]]] = field(default_factory=dict)


def _exact_partials(values: list[float]) -> list[float]:
    """Non-overlapping floats whose exact sum is the exact sum of `values` (Shewchuk's algorithm, the
    one math.fsum runs): fsum of them and other values equals fsum of `values` and those values."""
    if len(values) < 2 or not all(map(math.isfinite, values)):
        return list(values)
    partials: list[float] = []
    for x in values:
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]
    if not all(map(math.isfinite, partials)):  # an intermediate overflow: keep every increment
        return list(values)
    return partials
