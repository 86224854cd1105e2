"""Expected totals vs received totals -> a verdict and a precise, readable list of differences."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field

from claude_telemetry_cli.content import differences
from claude_telemetry_cli.errors import UsageError
from claude_telemetry_cli.records import Totals

Key = tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Mismatch:
    kind: str  # "missing", "extra", "altered", "attribute dropped", "attribute added", "events", "spans"
    name: str
    attributes: dict = field(default_factory=dict)
    expected: float | None = None
    received: float | None = None
    note: str = ""

    def to_json(self) -> dict:
        out = {"kind": self.kind, "name": self.name}
        if self.attributes:
            out["attributes"] = {
                k: list(v) if isinstance(v, tuple) else v for k, v in self.attributes.items()
            }
        for k in ("expected", "received"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.note:
            out["note"] = self.note
        return out

    def describe(self) -> str:
        """One line a person can act on."""
        attrs = ", ".join(f"{k}={_short(v)}" for k, v in self.attributes.items())
        where = f"{self.name} {{{attrs}}}" if attrs else self.name
        if self.kind == "missing":
            return f"missing   {where}: expected {self.expected:g}, nothing arrived"
        if self.kind == "extra":
            return f"extra     {where}: {self.received:g} arrived, none expected"
        if self.kind == "altered":
            return f"altered   {where}: expected {self.expected:g}, received {self.received:g}"
        if self.kind == "events":
            return f"events    {self.name}: expected {self.expected:g}, received {self.received:g}"
        if self.kind == "spans":
            return f"spans     {self.name}: expected {self.expected:g}, received {self.received:g}"
        if self.kind == "content":
            return f"content   {self.name}: {self.note}"
        return f"{self.kind}: {self.name}: {self.note}"


@dataclass
class Verdict:
    mismatches: list[Mismatch]
    expected_series: int
    received_series: int
    expected_events: int
    received_events: int
    expected_spans: int = 0
    received_spans: int = 0
    # Spans are verified only when some are expected (see compare).
    spans_verified: bool = False
    # What events and spans carry is verified when the expected totals say (older files do not).
    content_verified: bool = False
    # How many series of each metric name were expected: what a summary counts the missing against.
    expected_series_by_name: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def roll_up(self) -> RollUp:
        return roll_up(self)

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "expected": {
                "series": self.expected_series,
                "events": self.expected_events,
                "spans": self.expected_spans,
            },
            "received": {
                "series": self.received_series,
                "events": self.received_events,
                "spans": self.received_spans,
            },
            "spans_verified": self.spans_verified,
            "content_verified": self.content_verified,
            "summary": self.roll_up().lines,
            "mismatches": [m.to_json() for m in self.mismatches],
        }


def delivered_totals(totals: Totals, config) -> Totals:
    """What a sender configured by `config` (settings.TelemetryConfig) delivers of `totals`: with
    telemetry enabled only the signals it exports count; without it (a receiver started on its own,
    with no sender's configuration) every signal is expected."""
    if not config.enabled:
        return totals
    content = totals.content
    if content is not None and not config.logs.exporters:
        content = {k: c for k, c in content.items() if k[0] != "event" and k != ("resource", "logs")}
    if content is not None and not config.metrics.exporters:
        content = {k: c for k, c in content.items() if k != ("resource", "metrics")}
    return Totals(
        totals.metrics if config.metrics.exporters else {},
        totals.events if config.logs.exporters else {},
        totals.spans,
        content,
    )


def parse_totals(text: str, *, source: str) -> Totals:
    """Totals from the JSON `scenarios totals --json` or `load --totals-out` wrote; a UsageError naming
    `source` (the option and file) for anything else."""
    try:
        return Totals.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{source}: not a totals file from `scenarios totals --json` or `load --totals-out` ({exc})"
        ) from None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _by_name(totals: Totals) -> dict[str, dict[Key, float]]:
    out: dict[str, dict[Key, float]] = defaultdict(dict)
    for (name, key), value in totals.metrics.items():
        out[name][key] = value
    return out


def _project(series: dict[Key, float], drop: set[str]) -> dict[Key, float]:
    if not drop:
        return series
    out: dict[Key, float] = defaultdict(float)
    for key, value in series.items():
        out[tuple(kv for kv in key if kv[0] not in drop)] += value
    return dict(out)


def _keys_on_every(series: dict[Key, float]) -> set[str]:
    sets = [{k for k, _ in key} for key in series]
    return set.intersection(*sets) if sets else set()


def _keys_on_any(series: dict[Key, float]) -> set[str]:
    return {k for key in series for k, _ in key}


def compare(expected: Totals, received: Totals) -> Verdict:
    """Everything that differs: nothing lost, nothing invented, nothing altered.

    An attribute a collector removed (or added) on every point of a metric is reported once, as
    such, and the values are then compared without it, so one dropped label does not read as
    hundreds of missing series.

    Span counts per name are compared only when the expected totals have spans: totals computed
    without tracing say nothing about spans, and a sender tracing on top of them is not an error.
    """
    mismatches: list[Mismatch] = []
    exp, rec = _by_name(expected), _by_name(received)
    for name in sorted(set(exp) | set(rec)):
        e, r = exp.get(name, {}), rec.get(name, {})
        dropped = _keys_on_every(e) - _keys_on_any(r) if e and r else set()
        added = _keys_on_every(r) - _keys_on_any(e) if e and r else set()
        for k in sorted(dropped):
            mismatches.append(Mismatch("attribute dropped", name, note=f"'{k}' is missing from every point"))
        for k in sorted(added):
            mismatches.append(Mismatch("attribute added", name, note=f"'{k}' is on every point, unexpected"))
        e, r = _project(e, dropped), _project(r, added)
        for key in sorted(set(e) | set(r), key=repr):
            if key not in r:
                mismatches.append(Mismatch("missing", name, dict(key), e[key], None))
            elif key not in e:
                mismatches.append(Mismatch("extra", name, dict(key), None, r[key]))
            elif not _close(e[key], r[key]):
                mismatches.append(Mismatch("altered", name, dict(key), e[key], r[key]))
    for name in sorted(set(expected.events) | set(received.events)):
        want, got = expected.events.get(name, 0), received.events.get(name, 0)
        if want != got:
            mismatches.append(Mismatch("events", name, expected=want, received=got))
    spans_verified = bool(expected.spans)
    if spans_verified:
        for name in sorted(set(expected.spans) | set(received.spans)):
            want, got = expected.spans.get(name, 0), received.spans.get(name, 0)
            if want != got:
                mismatches.append(Mismatch("spans", name, expected=want, received=got))
    content_verified = expected.content is not None
    if content_verified:
        mismatches.extend(_content_mismatches(expected, received, spans_verified))
    return Verdict(
        mismatches,
        expected_series=len(expected.metrics),
        received_series=len(received.metrics),
        expected_events=sum(expected.events.values()),
        received_events=sum(received.events.values()),
        expected_spans=sum(expected.spans.values()),
        received_spans=sum(received.spans.values()),
        spans_verified=spans_verified,
        content_verified=content_verified,
        expected_series_by_name={name: len(series) for name, series in exp.items()},
    )


def _content_mismatches(expected: Totals, received: Totals, spans_verified: bool) -> list[Mismatch]:
    """What the events (and spans) of each name carry, and the resources logs, spans and metric series
    were sent with, where as many arrived as were expected: when the counts differ, the count is the
    difference reported (which records are missing cannot be told)."""
    out: list[Mismatch] = []
    got = received.content or {}
    counts = {"event": (expected.events, received.events), "span": (expected.spans, received.spans)}
    for (kind, name), want in sorted((expected.content or {}).items()):
        if kind == "resource":
            out.extend(
                _resource_mismatches(name, want, got.get((kind, name)), expected, received, spans_verified)
            )
            continue
        if kind not in counts or (kind == "span" and not spans_verified):
            continue
        want_counts, got_counts = counts[kind]
        n = want_counts.get(name, 0)
        # Content that does not cover every record of its name says nothing sure about them.
        if want.count != n or got_counts.get(name, 0) != n:
            continue
        have = got.get((kind, name))
        if have is None or have.count != n:
            continue
        for d in differences(want, have):
            out.append(Mismatch("content", f"{kind} {name}", note=d.describe()))
    return out


_PER_SERIES = ("missing", "altered", "extra")


@dataclass(frozen=True)
class RollUp:
    """A failed verdict as a person reads it: one line per metric, event and span name that differs,
    then the per-series (and further content) differences those lines count."""

    lines: list[str]
    details: list[Mismatch]

    def first_details(self, limit: int) -> list[Mismatch]:
        """`limit` of the details, taken in turn from each name and kind (so one altered series is not
        hidden behind hundreds of missing ones), in the order they are reported."""
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, m in enumerate(self.details):
            groups[m.name, m.kind].append(i)
        chosen: list[int] = []
        for depth in range(limit):
            turn = [group[depth] for group in groups.values() if depth < len(group)]
            chosen += turn[: limit - len(chosen)]
            if not turn or len(chosen) >= limit:
                break
        return [self.details[i] for i in sorted(chosen)]


def roll_up(verdict: Verdict) -> RollUp:
    """Group the mismatches by name, in the order compare() reports them: a metric's dropped or added
    attributes and its missing, altered and extra series on one line; an event or span count as it is;
    a name's content differences as the first one and how many more. Every line is in `lines` before
    any per-series mismatch, so a long list of missing series cannot hide a lost event."""
    metrics: dict[str, list[Mismatch]] = {}
    content: dict[str, list[Mismatch]] = {}
    order: list[tuple[str, object]] = []  # ("metric", name), ("content", name) or ("line", text)
    for m in verdict.mismatches:
        if m.kind in _PER_SERIES or m.kind in ("attribute dropped", "attribute added"):
            if m.name not in metrics:
                metrics[m.name] = []
                order.append(("metric", m.name))
            metrics[m.name].append(m)
        elif m.kind == "content":
            if m.name not in content:
                content[m.name] = []
                order.append(("content", m.name))
            content[m.name].append(m)
        elif m.kind in ("events", "spans"):
            order.append(("line", f"{m.kind} {m.name}: expected {m.expected:g}, received {m.received:g}"))
        else:
            order.append(("line", m.describe()))
    by_name = verdict.expected_series_by_name
    lines: list[str] = []
    for kind, value in order:
        if kind == "metric":
            # A verdict built without the per-name counts says "3 series missing", not "of 0".
            expected_series = by_name.get(value, 0) if by_name else None
            lines.append(f"{value}: {_metric_line(metrics[value], expected_series)}")
        elif kind == "content":
            first, *more = content[value]
            lines.append(f"{value}: {first.note}" + (f" (+{len(more)} more)" if more else ""))
        else:
            lines.append(str(value))
    details = [m for m in verdict.mismatches if m.kind in _PER_SERIES]
    details += [m for group in content.values() for m in group[1:]]
    return RollUp(lines, details)


def _metric_line(mismatches: list[Mismatch], expected_series: int | None) -> str:
    attributes: list[str] = []
    for kind, tail in (
        ("attribute dropped", " is missing from every point"),
        ("attribute added", " is on every point, unexpected"),
    ):
        notes = [m.note for m in mismatches if m.kind == kind]
        if len(notes) > 1 and all(note.endswith(tail) for note in notes):
            # One statement naming every key, not the same words once per key.
            keys = ", ".join(note[: -len(tail)] for note in notes)
            attributes.append(keys + tail.replace(" is ", " are ", 1))
        else:
            attributes += notes
    parts: list[str] = []
    counted_series = False
    for kind in ("missing", "altered"):
        n = sum(m.kind == kind for m in mismatches)
        if not n:
            continue
        if counted_series:
            parts.append(f"{n} {kind}")
        elif expected_series:
            parts.append(f"{n} of {expected_series} series {kind}")
        else:
            parts.append(f"{n} series {kind}")
        counted_series = True
    extra = sum(m.kind == "extra" for m in mismatches)
    if extra:
        if counted_series:
            parts.append(f"{extra} extra")
        else:
            parts.append(f"{extra} extra series" + (", none expected" if expected_series == 0 else ""))
    return "; ".join([*attributes, ", ".join(parts)] if parts else attributes)


def _resource_mismatches(
    signal: str, want, have, expected: Totals, received: Totals, spans_verified: bool
) -> list[Mismatch]:
    """The resource attributes of one signal, compared record by record (log records, spans) or series
    by series (metrics) where as many arrived as were expected."""
    where = f"resource {signal}"
    got = have.count if have is not None else 0
    if signal == "logs":
        n = sum(expected.events.values())
        comparable = sum(received.events.values()) == n
    elif signal == "traces":
        n = sum(expected.spans.values())
        comparable = spans_verified and sum(received.spans.values()) == n
    elif signal == "metrics":
        n = want.count
        # Only the same series tell whether their resources are the same.
        comparable = expected.metrics.keys() == received.metrics.keys()
        if comparable and got != n:
            # Every series arrived, but from more (or fewer) resources than it was sent from: resource
            # attributes altered on some requests and not on others, or made alike.
            note = f"series per resource: expected {n}, received {got} (resource attributes altered)"
            return [Mismatch("content", where, note=note)]
    else:
        return []
    if not comparable or want.count != n or have is None or got != n:
        return []
    return [Mismatch("content", where, note=d.describe()) for d in differences(want, have)]


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:10] + "…" + text[-6:]
