"""What was received, grouped into recorded Claude Code processes and the clusters that share metrics."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from claude_telemetry_cli.contract import COST_USAGE, SESSION_COUNT, TOKEN_USAGE, profile_for_version
from claude_telemetry_cli.scenario.reconstruct.received import (
    STANDARD_KEYS,
    MetricKey,
    as_int,
    event_time,
    freeze,
    metric_totals,
    specific_attributes,
)

if TYPE_CHECKING:
    from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint

__all__ = ["Cluster", "RecordedProcess", "Slot", "group_processes"]


@dataclass
class Slot:
    """One step being rebuilt: its kind, its fields, when it happened, and notes for the allocation."""

    kind: str
    body: dict[str, Any]
    at_ns: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecordedProcess:
    """One recorded Claude Code process."""

    key: tuple
    session_id: str | None
    resource: tuple[tuple[str, Any], ...]
    standard: dict[str, Any]
    events: list[DecodedEvent] = field(default_factory=list)
    start_ns: int = 0
    source: str = "events"
    slots: list[Slot] = field(default_factory=list)
    plugins: list[dict[str, Any]] | None = None
    safe_mode: bool = False
    permission_modes: Counter = field(default_factory=Counter)
    start_type: str | None = None
    model: str | None = None
    note: str = ""


@dataclass
class Cluster:
    """Sessions that share metric series: one session, or several when metrics carry no session.id."""

    sessions: list[RecordedProcess]
    points: list[DecodedPoint] = field(default_factory=list)

    def totals(self) -> dict[MetricKey, float]:
        """Metric totals with the standard attributes dropped: only what the metric itself says (the
        model of usage points without the suffix its client version adds, which the replay adds back)."""
        version = dict(self.sessions[0].resource).get("service.version") if self.sessions else None
        suffix = profile_for_version(str(version))[0].usage_model_suffix if version else ""
        sums: dict[MetricKey, list[float]] = {}
        for (name, attributes), value in metric_totals(self.points).items():
            specific = specific_attributes(name, attributes)
            if suffix and name in (COST_USAGE, TOKEN_USAGE):
                specific = tuple(
                    (k, v.removesuffix(suffix) if k == "model" and isinstance(v, str) else v)
                    for k, v in specific
                )
            sums.setdefault((name, specific), []).append(value)
        return {k: math.fsum(v) for k, v in sums.items()}


def group_processes(
    points: list[DecodedPoint], events: list[DecodedEvent], warn: Callable[[str], None]
) -> list[Cluster]:
    """The recorded processes, in clusters of those whose metric series cannot be told apart."""
    by_origin: dict[tuple, RecordedProcess] = {}
    for e in events:
        attributes = dict(e.attributes)
        origin = _origin(attributes, e.resource)
        recorded = by_origin.get(origin)
        if recorded is None:
            recorded = by_origin[origin] = RecordedProcess(
                origin, attributes.get("session.id"), e.resource, _standard(attributes)
            )
        recorded.events.append(e)
    points_by_origin: dict[tuple, list[DecodedPoint]] = {}
    first_point: dict[tuple, DecodedPoint] = {}
    for p in points:
        origin = _origin(dict(p.attributes), p.resource)
        points_by_origin.setdefault(origin, []).append(p)
        first_point.setdefault(origin, p)

    clusters: list[Cluster] = []
    cluster_of: dict[tuple, Cluster] = {}
    for origin, recorded in by_origin.items():
        recorded.start_ns = min(event_time(e) for e in recorded.events)
        cluster = Cluster([recorded], points_by_origin.pop(origin, []))
        clusters.append(cluster)
        cluster_of[origin] = cluster
    anonymous = False
    for origin in sorted(points_by_origin, key=repr):
        points = points_by_origin[origin]
        start = min(p.start_ns or p.time_ns for p in points)
        p0 = first_point[origin]
        if origin[0] == "session":
            recorded = RecordedProcess(origin, origin[1], p0.resource, _standard(dict(p0.attributes)))
            recorded.source, recorded.start_ns = "metrics", start
            clusters.append(Cluster([recorded], points))
            continue
        anonymous = True
        standard = dict(origin[2])
        matches = [
            r
            for o, r in by_origin.items()
            if freeze(r.resource) == origin[1] and all(r.standard.get(k) == v for k, v in standard.items())
        ]
        if matches:
            home = cluster_of[matches[0].key]
            home.points.extend(points)
            for other in matches[1:]:
                cluster = cluster_of[other.key]
                if cluster is not home:
                    home.sessions.extend(cluster.sessions)
                    home.points.extend(cluster.points)
                    clusters.remove(cluster)
                    for r in cluster.sessions:
                        cluster_of[r.key] = home
            continue
        # No events tell how many processes these were: session.count does.
        count = sum(v for (n, _), v in metric_totals(points).items() if n == SESSION_COUNT)
        copies = []
        for k in range(max(1, as_int(count) or 1)):
            recorded = RecordedProcess(origin + (k,), None, p0.resource, _standard(dict(p0.attributes)))
            recorded.source, recorded.start_ns = "metrics", start
            copies.append(recorded)
        clusters.append(Cluster(copies, points))
    if anonymous:
        warn(
            "Some metrics carry no session.id (OTEL_METRICS_INCLUDE_SESSION_ID=false): they were grouped "
            "by user.id and resource and shared among the sessions of that user, so which session "
            "a count belongs to is a guess; the totals are kept."
        )
    for cluster in clusters:
        cluster.sessions.sort(key=lambda r: (r.start_ns, r.session_id or "", repr(r.key)))
    return clusters


def _origin(attributes: dict[str, Any], resource: tuple) -> tuple:
    session_id = attributes.get("session.id")
    if session_id:
        return ("session", str(session_id))
    standard = freeze((k, v) for k, v in attributes.items() if k in STANDARD_KEYS)
    return ("anonymous", freeze(resource), standard)


def _standard(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: attributes[k] for k in STANDARD_KEYS if k in attributes}
