"""Received telemetry -> a scenario whose replay delivers the same totals (the core of `record`)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ValidationError

from claude_telemetry_cli.contract import BUILTIN_PLUGINS, LOGGER_NAME, PROFILES
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint
from claude_telemetry_cli.records import EVENT, METRIC, Totals
from claude_telemetry_cli.scenario.compile import compile_scenario, first_step_offset, step_timing
from claude_telemetry_cli.scenario.loader import load_scenario_text
from claude_telemetry_cli.scenario.model import (
    ApiError,
    ApiRequest,
    Commit,
    Edit,
    Plugin,
    Prompt,
    PullRequest,
    Session,
    Step,
    Tool,
    User,
)

__all__ = ["RecordedScenario", "build_scenario", "metric_query_source", "metric_totals"]

COST = "claude_code.cost.usage"
TOKENS = "claude_code.token.usage"
LINES = "claude_code.lines_of_code.count"
DECISIONS = "claude_code.code_edit_tool.decision"
SESSIONS = "claude_code.session.count"
COMMITS = "claude_code.commit.count"
PULL_REQUESTS = "claude_code.pull_request.count"
ACTIVE = "claude_code.active_time.total"

# Keys a metric carries for itself, in any profile; every other key on a point is a standard attribute
# or an OTEL_RESOURCE_ATTRIBUTES pair.
_METRIC_KEYS: dict[str, frozenset[str]] = {}
for _profile in PROFILES.values():
    for _name, _spec in _profile.metrics.items():
        _METRIC_KEYS[_name] = _METRIC_KEYS.get(_name, frozenset()) | frozenset(_spec.attribute_keys)
_EVENT_SPECS = PROFILES["current"].events
_EVENT_COMMON = frozenset({"event.name", "event.timestamp", "event.sequence", "prompt.id"})
_STANDARD_KEYS = tuple(a.key for a in PROFILES["current"].standard_attributes)
_RESOURCE_BUILTIN = ("host.arch", "os.type", "os.version", "service.name", "service.version")
# Emitted by every simulated process on its own: replaying recreates them, so they are not steps.
_STARTUP_EVENTS = frozenset({"managed_settings_resolved", "plugin_loaded", "retention_sweep"})
_EDIT_TOOLS = ("Edit", "Write", "NotebookEdit")
_ACCEPT_SOURCES = ("config", "hook", "user_permanent", "user_temporary")
_TOKEN_FIELDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cacheRead", "cache_read_tokens"),
    ("cacheCreation", "cache_creation_tokens"),
)
_ATTRIBUTION = (
    ("agent.name", "agent_name"),
    ("skill.name", "skill_name"),
    ("plugin.name", "plugin_name"),
    ("marketplace.name", "marketplace_name"),
    ("mcp_server.name", "mcp_server_name"),
    ("mcp_tool.name", "mcp_tool_name"),
)
_BUILTIN_HASHES = dict(BUILTIN_PLUGINS)
_MAIN_SUBSYSTEMS = frozenset({"repl_main_thread", "sdk"})
_AUXILIARY_SUBSYSTEMS = frozenset({"compact", "generate_session_title"})
# Gaps shorter than this are the noise of one replay; longer ones are the user thinking.
_WAIT_THRESHOLD_US = 1_000_000
# Ways to give ambiguous requests a metric query_source that are tried before giving up.
_MAX_QUERY_SOURCE_TRIES = 4096
_KEEP = {
    "api_request": ("input_tokens", "output_tokens", "cost_usd", "duration_ms"),
    "edit": ("tool", "language", "lines_added", "lines_removed"),
    "tool": ("name",),
    "api_error": ("error", "attempt", "duration_ms"),
    "prompt": ("length",),
}
_BODIES: dict[str, type[BaseModel]] = {
    "prompt": Prompt,
    "api_request": ApiRequest,
    "edit": Edit,
    "tool": Tool,
    "commit": Commit,
    "pull_request": PullRequest,
    "api_error": ApiError,
}


@dataclass(frozen=True)
class RecordedScenario:
    """A scenario rebuilt from telemetry; `yaml` loads with load_scenario_text unless `sessions` is 0."""

    yaml: str
    sessions: int
    # Per session, in file order: "events" (steps rebuilt from events) or "metrics" (from metrics only).
    source: list[str]
    warnings: list[str]
    # The contract profile to replay with, and the variables (beyond the exporter setup) that make a
    # replay emit what the recording received.
    profile: str = "current"
    env: dict[str, str] = field(default_factory=dict)


def metric_query_source(subsystem: str | None) -> str:
    """The metrics' query_source (main, subagent, auxiliary) of an event-side subsystem."""
    if subsystem is None or subsystem in _MAIN_SUBSYSTEMS:
        return "main"
    if subsystem in _AUXILIARY_SUBSYSTEMS:
        return "auxiliary"
    return "subagent"


def build_scenario(
    points: list[DecodedPoint],
    events: list[DecodedEvent],
    *,
    name: str = "recorded",
    description: str | None = None,
) -> RecordedScenario:
    """Turn what a receiver decoded into a scenario that replays it; see RecordedScenario."""
    return _Builder(points, events, _text(name) or "recorded", description).build()


# -- plain data ---------------------------------------------------------------------------------------

MetricKey = tuple[str, tuple[tuple[str, Any], ...]]


def _freeze(attributes: Iterable[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(attributes, key=lambda kv: kv[0]))


def metric_totals(points: Iterable[DecodedPoint]) -> dict[MetricKey, float]:
    """Sum per (name, attributes) as Tally computes it, but independent of arrival order: a delta series
    is summed exactly (fsum), a cumulative one (name, attributes, start) read at its latest point."""
    delta: dict[MetricKey, list[float]] = {}
    latest: dict[tuple[MetricKey, int], tuple[int, float]] = {}
    for p in points:
        key = (p.name, _freeze(p.attributes))
        if p.temporality == "cumulative":
            seen = latest.get((key, p.start_ns))
            if seen is None or (p.time_ns, p.value) > seen:
                latest[key, p.start_ns] = (p.time_ns, p.value)
        else:
            delta.setdefault(key, []).append(p.value)
    for (key, _start), (_time, value) in sorted(latest.items(), key=lambda kv: repr(kv[0])):
        delta.setdefault(key, []).append(value)
    return {k: math.fsum(v) for k, v in delta.items()}


def _specific(name: str, attributes: Iterable[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    keys = _METRIC_KEYS.get(name, frozenset())
    return _freeze((k, v) for k, v in attributes if k in keys)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(round(float(value)))
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    """A string fit for a scenario: non-empty, and never mistaken for a {{ faker }} expression."""
    if value is None:
        return None
    text = str(value).replace("{{", "{ {")
    return text or None


def _valid(model: type[BaseModel], data: dict) -> str | None:
    """None if `data` validates as `model`, else the first problem."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"])
        return f"{where}: {error['msg']}" if where else str(error["msg"])
    return None


def _most_common(values: Iterable[Any]) -> Any:
    """The most frequent value, the earliest seen among equals; None for nothing."""
    counts = Counter(values)
    if not counts:
        return None
    best = max(counts.values())
    return next(v for v in counts if counts[v] == best)


def _event_time(event: DecodedEvent) -> int:
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


def _split(total: int, weights: list[float]) -> list[int]:
    """`total` in whole parts proportional to `weights` (largest remainders), equal parts without weights."""
    if not any(w > 0 for w in weights):
        weights = [1.0] * len(weights)
    whole = math.fsum(weights)
    shares = [total * w / whole for w in weights]
    parts = [math.floor(x) for x in shares]
    order = sorted(range(len(shares)), key=lambda i: (parts[i] - shares[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _duration(seconds: float) -> str:
    ms = round(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    if secs or millis:
        out += f"{secs}.{millis:03d}".rstrip("0").rstrip(".") + "s"
    return out


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class _Slot:
    """One step being rebuilt: its kind, its fields, when it happened, and notes for the allocation."""

    kind: str
    body: dict[str, Any]
    at_ns: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Recorded:
    """One recorded Claude Code process."""

    key: tuple
    session_id: str | None
    resource: tuple[tuple[str, Any], ...]
    standard: dict[str, Any]
    events: list[DecodedEvent] = field(default_factory=list)
    start_ns: int = 0
    source: str = "events"
    slots: list[_Slot] = field(default_factory=list)
    plugins: list[dict[str, Any]] | None = None
    safe_mode: bool = False
    permission_modes: Counter = field(default_factory=Counter)
    start_type: str | None = None
    model: str | None = None
    note: str = ""


@dataclass
class _Cluster:
    """Sessions that share metric series: one session, or several when metrics carry no session.id."""

    sessions: list[_Recorded]
    points: list[DecodedPoint] = field(default_factory=list)

    def totals(self) -> dict[MetricKey, float]:
        """Metric totals with the standard attributes dropped: only what the metric itself says."""
        sums: dict[MetricKey, list[float]] = {}
        for (name, attributes), value in metric_totals(self.points).items():
            sums.setdefault((name, _specific(name, attributes)), []).append(value)
        return {k: math.fsum(v) for k, v in sums.items()}


def _origin(attributes: dict[str, Any], resource: tuple) -> tuple:
    session_id = attributes.get("session.id")
    if session_id:
        return ("session", str(session_id))
    standard = _freeze((k, v) for k, v in attributes.items() if k in _STANDARD_KEYS)
    return ("anonymous", _freeze(resource), standard)


# -- the builder --------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, points, events, name: str, description: str | None) -> None:
        self.name = name
        self.description = description
        self.warnings: list[str] = []
        self.ignored = 0
        self.points = [p for p in points if self._claude_point(p)]
        self.events = [e for e in events if self._claude_event(e)]
        self.ignored = len(points) - len(self.points) + len(events) - len(self.events)
        self.unreproduced: Counter[str] = Counter()
        # Events per name once duplicates are dropped: what the replay is checked against.
        self.kept: Counter[str] = Counter()

    @staticmethod
    def _claude_point(p: DecodedPoint) -> bool:
        return p.name in _METRIC_KEYS

    @staticmethod
    def _claude_event(e: DecodedEvent) -> bool:
        body = e.body if isinstance(e.body, str) else ""
        return e.scope_name == LOGGER_NAME or body.startswith("claude_code.") or e.name in _EVENT_SPECS

    def warn(self, sentence: str) -> None:
        if sentence not in self.warnings:
            self.warnings.append(sentence)

    # -- top level --------------------------------------------------------------------------------

    def build(self) -> RecordedScenario:
        if self.ignored:
            self.warn(f"{self.ignored} points and events that are not Claude Code telemetry were ignored.")
        clusters = self._clusters()
        if not clusters:
            return self._empty()
        self.options, self.env, self.profile = self._replay_setup()
        for cluster in clusters:
            for recorded in cluster.sessions:
                if recorded.source == "events":
                    self._steps_from_events(recorded)
            if any(r.source == "events" for r in cluster.sessions):
                self._allocate(cluster)
            else:
                self._steps_from_metrics(cluster)
        sessions = sorted(
            (r for c in clusters for r in c.sessions),
            key=lambda r: (r.start_ns, r.session_id or "", repr(r.key)),
        )
        if self.unreproduced:
            kinds = ", ".join(f"{n} {name}" for name, n in sorted(self.unreproduced.items()))
            self.warn(f"Events no scenario step emits were left out: {kinds}.")
        entries = [self._session_entry(r, sessions[0].start_ns) for r in sessions]
        text = self._yaml(sessions, entries)
        scenario = load_scenario_text(text, f"{self.name}.yaml")
        self._verify(scenario, sessions)
        text = self._yaml(sessions, entries)
        return RecordedScenario(
            yaml=text,
            sessions=len(sessions),
            source=[r.source for r in sessions],
            warnings=list(self.warnings),
            profile=self.profile,
            env=dict(self.env),
        )

    def _empty(self) -> RecordedScenario:
        if self.ignored:
            why = "none of what was received is Claude Code telemetry"
        else:
            why = "nothing was received"
        self.warn(
            f"No Claude Code session was recorded: {why}. Check that the client exports to this receiver "
            "(CLAUDE_CODE_ENABLE_TELEMETRY=1, OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER, the endpoint)."
        )
        text = (
            "# Recorded by claude-telemetry record: no Claude Code session was received, so there is no\n"
            "# scenario to write.\n"
        )
        return RecordedScenario(yaml=text, sessions=0, source=[], warnings=list(self.warnings))

    # -- sessions and clusters --------------------------------------------------------------------

    def _clusters(self) -> list[_Cluster]:
        by_origin: dict[tuple, _Recorded] = {}
        for e in self.events:
            attributes = dict(e.attributes)
            origin = _origin(attributes, e.resource)
            recorded = by_origin.get(origin)
            if recorded is None:
                recorded = by_origin[origin] = _Recorded(
                    origin, attributes.get("session.id"), e.resource, self._standard(attributes)
                )
            recorded.events.append(e)
        points_by_origin: dict[tuple, list[DecodedPoint]] = {}
        first_point: dict[tuple, DecodedPoint] = {}
        for p in self.points:
            origin = _origin(dict(p.attributes), p.resource)
            points_by_origin.setdefault(origin, []).append(p)
            first_point.setdefault(origin, p)

        clusters: list[_Cluster] = []
        cluster_of: dict[tuple, _Cluster] = {}
        for origin, recorded in by_origin.items():
            recorded.start_ns = min(_event_time(e) for e in recorded.events)
            cluster = _Cluster([recorded], points_by_origin.pop(origin, []))
            clusters.append(cluster)
            cluster_of[origin] = cluster
        anonymous = False
        for origin in sorted(points_by_origin, key=repr):
            points = points_by_origin[origin]
            start = min(p.start_ns or p.time_ns for p in points)
            p0 = first_point[origin]
            if origin[0] == "session":
                recorded = _Recorded(origin, origin[1], p0.resource, self._standard(dict(p0.attributes)))
                recorded.source, recorded.start_ns = "metrics", start
                clusters.append(_Cluster([recorded], points))
                continue
            anonymous = True
            standard = dict(origin[2])
            matches = [
                r
                for o, r in by_origin.items()
                if _freeze(r.resource) == origin[1]
                and all(r.standard.get(k) == v for k, v in standard.items())
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
            count = sum(v for (n, _), v in metric_totals(points).items() if n == SESSIONS)
            copies = []
            for k in range(max(1, _int(count) or 1)):
                recorded = _Recorded(origin + (k,), None, p0.resource, self._standard(dict(p0.attributes)))
                recorded.source, recorded.start_ns = "metrics", start
                copies.append(recorded)
            clusters.append(_Cluster(copies, points))
        if anonymous:
            self.warn(
                "Some metrics carry no session.id (OTEL_METRICS_INCLUDE_SESSION_ID=false): they were grouped "
                "by user.id and resource and shared among the sessions of that user, so which session "
                "a count belongs to is a guess; the totals are kept."
            )
        for cluster in clusters:
            cluster.sessions.sort(key=lambda r: (r.start_ns, r.session_id or "", repr(r.key)))
        return clusters

    @staticmethod
    def _standard(attributes: dict[str, Any]) -> dict[str, Any]:
        return {k: attributes[k] for k in _STANDARD_KEYS if k in attributes}

    def _replay_setup(self) -> tuple[EmitOptions, dict[str, str], str]:
        """The switches the recording was made with, as far as the data shows them."""
        env: dict[str, str] = {}
        profile = "current"
        if any(p.unit == "count" for p in self.points):
            profile = "2025-05"
        point_keys = {k for p in self.points for k, _ in p.attributes}
        event_keys = {k for e in self.events for k, _ in e.attributes}
        pairs: list[tuple[str, str]] = []
        stamped = [(_event_time(e), repr(e.resource), e.resource) for e in self.events]
        stamped += [(p.start_ns or p.time_ns, repr(p.resource), p.resource) for p in self.points]
        resources = {_freeze(r) for _, _, r in stamped}
        # The earliest session's, whatever order the data arrived in.
        first = min(stamped)[2] if stamped else ()
        for key, value in first:
            if key not in _RESOURCE_BUILTIN:
                pairs.append((key, str(value)))
        extras = {(k, str(v)) for r in resources for k, v in r if k not in _RESOURCE_BUILTIN}
        if extras - set(pairs):
            self.warn(
                "Sessions were recorded with different OTEL_RESOURCE_ATTRIBUTES; one replay can only have "
                "one, so the first session's is used."
            )
        if pairs:
            text = ",".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
            env["OTEL_RESOURCE_ATTRIBUTES"] = text
            self.warn(
                f"The resource carried OTEL_RESOURCE_ATTRIBUTES pairs, which come from the environment, not "
                f"from a scenario: replay with OTEL_RESOURCE_ATTRIBUTES={text}."
            )
        include_session_id = not self.points or "session.id" in point_keys
        include_version = "app.version" in point_keys
        include_entrypoint = "app.entrypoint" in point_keys
        account_keys = {"user.account_uuid", "user.account_id"}
        include_account = not (self.points and event_keys & account_keys and not point_keys & account_keys)
        include_resource = not (
            profile == "current" and self.points and pairs and not point_keys & {k for k, _ in pairs}
        )
        if any(p.temporality == "cumulative" for p in self.points):
            env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] = "cumulative"
        if profile == "current":
            if not include_session_id:
                env["OTEL_METRICS_INCLUDE_SESSION_ID"] = "false"
            if include_version:
                env["OTEL_METRICS_INCLUDE_VERSION"] = "true"
            if not include_account:
                env["OTEL_METRICS_INCLUDE_ACCOUNT_UUID"] = "false"
            if include_entrypoint:
                env["OTEL_METRICS_INCLUDE_ENTRYPOINT"] = "true"
            if not include_resource:
                env["OTEL_METRICS_INCLUDE_RESOURCE_ATTRIBUTES"] = "false"
        elif include_version:
            env["OTEL_METRICS_INCLUDE_VERSION"] = "true"
        options = EmitOptions(
            profile=profile,
            include_session_id=include_session_id,
            include_version=include_version,
            include_account_uuid=include_account,
            include_entrypoint=include_entrypoint,
            include_resource_attributes=include_resource,
            resource_attributes=tuple(pairs),
        )
        return options, env, profile

    # -- steps from events --------------------------------------------------------------------------

    def _steps_from_events(self, recorded: _Recorded) -> None:
        def order(e: DecodedEvent) -> tuple:
            sequence = _int(dict(e.attributes).get("event.sequence"))
            return (sequence if sequence is not None else math.inf, _event_time(e))

        events = []
        seen: set[int] = set()
        duplicates = 0
        for e in sorted(recorded.events, key=order):
            sequence = _int(dict(e.attributes).get("event.sequence"))
            if sequence is not None:
                if sequence in seen:
                    duplicates += 1
                    continue
                seen.add(sequence)
            events.append(e)
        if duplicates:
            self.warn(
                f"{duplicates} events arrived twice (same session and event.sequence) and were counted once."
            )
        slots: list[_Slot] = []
        tools: dict[str, _Slot] = {}
        requests: dict[str, _Slot] = {}
        last_request: _Slot | None = None
        last_error: _Slot | None = None
        plugins: list[dict[str, Any]] = []
        startup = False
        for e in events:
            a = dict(e.attributes)
            name = e.name
            at = _event_time(e)
            if name == "managed_settings_resolved":
                startup = True
            elif name == "plugin_loaded":
                startup = True
                plugins.append(a)
            elif name == "retention_sweep":
                pass
            elif name == "user_prompt":
                length = _int(a.get("prompt_length"))
                slots.append(_Slot("prompt", {"length": max(1, length or 1)}, at))
            elif name == "api_request":
                last_request = self._request_slot(a, at)
                slots.append(last_request)
                if a.get("request_id"):
                    requests[str(a["request_id"])] = last_request
            elif name == "assistant_response":
                target = requests.get(str(a.get("request_id"))) or last_request
                if target is None:
                    self.unreproduced[name] += 1
                else:
                    target.body["response_length"] = _int(a.get("response_length")) or 0
            elif name == "tool_decision":
                slot = self._decision_slot(a, at)
                slots.append(slot)
                if a.get("tool_use_id"):
                    tools[str(a["tool_use_id"])] = slot
                if a.get("permission_mode"):
                    recorded.permission_modes[str(a["permission_mode"])] += 1
            elif name == "tool_result":
                slot = tools.pop(str(a.get("tool_use_id")), None)
                if slot is None:
                    # Its decision was lost: the call still ran, and was accepted.
                    slot = self._decision_slot({"tool_name": a.get("tool_name"), "decision": "accept"}, at)
                    slots.append(slot)
                self._add_result(slot, a)
            elif name == "api_error":
                last_error = self._error_slot(a, at)
                slots.append(last_error)
            elif name == "api_retries_exhausted":
                total = _int(a.get("total_retry_duration_ms"))
                if last_error is not None and "total_retry_duration_ms" not in last_error.body:
                    if total is not None and total >= last_error.body.get("duration_ms", 0):
                        last_error.body["total_retry_duration_ms"] = total
                    if last_error.body.get("attempt", 1) < 2:
                        self.unreproduced[name] += 1
                else:
                    self.unreproduced[name] += 1
            else:
                self.unreproduced[name] += 1
        recorded.slots = slots
        self.kept.update(e.name for e in events)
        if startup:
            recorded.plugins = [self._plugin(p) for p in plugins]
            recorded.safe_mode = any(str(p.get("safe_mode")) == "true" for p in plugins)

    def _request_slot(self, a: dict[str, Any], at: int) -> _Slot:
        cost = a.get("cost_usd")
        if not isinstance(cost, (int, float)) or isinstance(cost, bool):
            micros = _int(a.get("cost_usd_micros"))
            cost = micros / 1e6 if micros is not None else 0.0
        counts = [f for _, f in _TOKEN_FIELDS] + ["cache_creation_5m_tokens", "cache_creation_1h_tokens"]
        body: dict[str, Any] = {f: _int(a.get(f)) or 0 for f in counts}
        duration = _int(a.get("duration_ms")) or 0
        body.update(
            {
                "duration_ms": duration,
                "cost_usd": float(cost),
                "model": _text(a.get("model")),
                "effort": _text(a.get("effort")),
                "speed": "fast" if a.get("speed") == "fast" else "normal",
                "event_query_source": _text(a.get("query_source")),
            }
        )
        ttft = _int(a.get("ttft_ms"))
        if ttft is not None and ttft <= duration:
            body["ttft_ms"] = ttft
        base = {"model": body["model"], "effort": body["effort"]}
        if body["speed"] == "fast":
            base["speed"] = "fast"
        for attribute, field_name in _ATTRIBUTION:
            value = _text(a.get(attribute))
            body[field_name] = value
            base[attribute] = value
        meta = {"base": _freeze((k, v) for k, v in base.items() if v is not None)}
        return _Slot("api_request", body, at, meta)

    def _decision_slot(self, a: dict[str, Any], at: int) -> _Slot:
        tool = _text(a.get("tool_name")) or "unknown"
        decision = "reject" if a.get("decision") == "reject" else "accept"
        source = _text(a.get("source"))
        parameters = self._parameters(a.get("tool_parameters"))
        if tool in _EDIT_TOOLS:
            body = {"tool": tool, "decision": decision, "source": source, "language": "unknown"}
            return _Slot("edit", body, at, {"accepted": decision == "accept"})
        body = {
            "name": tool,
            "decision": decision,
            "source": source,
            "tool_source": _text(a.get("tool_source")),
        }
        if parameters:
            body["parameters"] = parameters
        return _Slot("tool", body, at)

    def _add_result(self, slot: _Slot, a: dict[str, Any]) -> None:
        success = str(a.get("success")).lower() == "true"
        body = slot.body
        body["duration_ms"] = _int(a.get("duration_ms")) or 0
        body["input_size_bytes"] = _int(a.get("tool_input_size_bytes"))
        body["result_size_bytes"] = _int(a.get("tool_result_size_bytes"))
        if slot.kind == "edit":
            if not success:
                self.warn("An edit that failed to apply is replayed as a successful one (no step says so).")
            return
        body["success"] = success
        if not success:
            body["error_type"] = _text(a.get("error_type"))
            body["error"] = _text(a.get("error"))
        parameters = self._parameters(a.get("tool_parameters"))
        if parameters and "parameters" not in body:
            body["parameters"] = parameters

    @staticmethod
    def _parameters(raw: Any) -> dict[str, Any] | None:
        if not isinstance(raw, str):
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        return {
            str(k): _text(v) if isinstance(v, str) else v
            for k, v in data.items()
            if isinstance(v, (str, int, float, bool)) and (not isinstance(v, str) or v)
        }

    def _error_slot(self, a: dict[str, Any], at: int) -> _Slot:
        status = _int(a.get("status_code"))
        body = {
            "status_code": status if status is not None and 100 <= status <= 599 else None,
            "error": _text(a.get("error")),
            "attempt": max(1, _int(a.get("attempt")) or 1),
            "duration_ms": _int(a.get("duration_ms")) or 0,
            "model": _text(a.get("model")),
            "speed": "fast" if a.get("speed") == "fast" else "normal",
            "effort": _text(a.get("effort")),
            "event_query_source": _text(a.get("query_source")),
        }
        return _Slot("api_error", body, at)

    @staticmethod
    def _plugin(a: dict[str, Any]) -> dict[str, Any]:
        name = _text(a.get("plugin.name")) or "unknown"
        marketplace = _text(a.get("marketplace.name")) or "builtin"
        builtin = name in _BUILTIN_HASHES and marketplace == "builtin"
        plugin: dict[str, Any] = {
            "name": name,
            "marketplace": marketplace,
            "scope": _text(a.get("plugin.scope")),
            "enabled_via": _text(a.get("enabled_via")),
            "id_hash": _text(a.get("plugin_id_hash")),
            "has_hooks": a.get("has_hooks") if isinstance(a.get("has_hooks"), bool) else None,
            "has_mcp": a.get("has_mcp") if isinstance(a.get("has_mcp"), bool) else None,
            "host_owned_mcp": a.get("host_owned_mcp") if isinstance(a.get("host_owned_mcp"), bool) else None,
            "skill_path_count": _int(a.get("skill_path_count")),
            "command_path_count": _int(a.get("command_path_count")),
            "agent_path_count": _int(a.get("agent_path_count")),
        }
        derived = (
            _BUILTIN_HASHES[name]
            if builtin
            else hashlib.sha256(f"{name}@{marketplace}".encode()).hexdigest()[:16]
        )
        if plugin["id_hash"] == derived:
            plugin["id_hash"] = None
        if plugin["has_hooks"] == builtin:
            plugin["has_hooks"] = None
        defaults = Plugin(name=name)
        compact = {
            k: v for k, v in plugin.items() if v is not None and (k == "name" or v != getattr(defaults, k))
        }
        if _valid(Plugin, compact) is not None:
            compact = {"name": name}
        return compact

    # -- metric-only quantities, shared among the sessions of a cluster -----------------------------

    def _allocate(self, cluster: _Cluster) -> None:
        totals = cluster.totals()
        has_metrics = bool(cluster.points)
        sessions = [r for r in cluster.sessions if r.source == "events"]
        lines = {(dict(k).get("type"), dict(k).get("model")): v for (n, k), v in totals.items() if n == LINES}
        for recorded in sessions:
            recorded.model = self._session_model(recorded.slots, lines)
        requests = [s for r in sessions for s in r.slots if s.kind == "api_request"]
        self._query_sources(requests, totals)
        edits = [s for r in sessions for s in r.slots if s.kind == "edit"]
        if has_metrics:
            self._languages(edits, totals)
        elif edits:
            self.warn(
                "No metrics were recorded for some sessions: their edits' languages and line counts, "
                "commits, pull requests and active time are only on metrics, so they are left out."
            )
        for recorded in sessions:
            self._natural_models(recorded)
        self._lines([s for s in edits if s.meta["accepted"]], lines)
        for recorded in sessions:
            self._explicit_edit_models(recorded)
        self._commits(cluster, totals, has_metrics)
        self._start_types(cluster.sessions, totals)
        self._active(cluster.sessions[0], totals)

    @staticmethod
    def _session_model(slots: list[_Slot], lines: dict) -> str | None:
        models = [s.body.get("model") for s in slots if s.kind == "api_request"]
        models = models or [s.body.get("model") for s in slots if s.kind == "api_error"]
        models = models or [m for (_t, m) in sorted(lines, key=repr) if m]
        return _most_common(m for m in models if m)

    def _query_sources(self, requests: list[_Slot], totals: dict[MetricKey, float]) -> None:
        candidates: dict[tuple, set[str]] = {}
        for (name, key), _ in totals.items():
            if name in (COST, TOKENS):
                attributes = dict(key)
                qs = attributes.pop("query_source", None)
                attributes.pop("type", None)
                if qs is not None:
                    candidates.setdefault(_freeze(attributes.items()), set()).add(str(qs))
        for slot in requests:
            mapped = metric_query_source(slot.body.get("event_query_source"))
            found = candidates.get(slot.meta["base"], set())
            slot.body["query_source"] = next(iter(found)) if len(found) == 1 else mapped
        ambiguous: dict[tuple, list[_Slot]] = {}
        for slot in requests:
            if len(candidates.get(slot.meta["base"], ())) > 1:
                key = (slot.meta["base"], slot.body.get("event_query_source") or "")
                ambiguous.setdefault(key, []).append(slot)
        if not ambiguous:
            return
        bases = {base for base, _ in ambiguous}
        wanted = {
            (name, key): value
            for (name, key), value in totals.items()
            if name in (COST, TOKENS)
            and _freeze((k, v) for k, v in key if k not in ("query_source", "type")) in bases
        }
        groups = sorted(ambiguous.items(), key=lambda kv: repr(kv[0]))
        options = []
        for (base, subsystem), _slots in groups:
            mapped = metric_query_source(subsystem or None)
            options.append(sorted(candidates[base], key=lambda q, m=mapped: (q != m, q)))
        if math.prod(len(o) for o in options) > _MAX_QUERY_SOURCE_TRIES:
            self.warn(
                "Too many requests could have several metric query_source values to match every series; "
                "they follow the event subsystem (sdk, repl_main_thread -> main, compact -> auxiliary, "
                "agents -> subagent)."
            )
            return
        for choice in itertools.product(*options):
            for (_key, slots), qs in zip(groups, choice, strict=True):
                for slot in slots:
                    slot.body["query_source"] = qs
            if _request_sums_match([s for _, slots in groups for s in slots], wanted):
                return
        for (_key, slots), qs in zip(groups, (o[0] for o in options), strict=True):
            for slot in slots:
                slot.body["query_source"] = qs

    def _languages(self, edits: list[_Slot], totals: dict[MetricKey, float]) -> None:
        counts: dict[tuple, list[str]] = {}
        for (name, key), value in sorted(totals.items(), key=lambda kv: repr(kv[0])):
            if name != DECISIONS:
                continue
            a = dict(key)
            group = (a.get("tool_name"), a.get("decision"), a.get("source"))
            counts.setdefault(group, []).extend([str(a.get("language", "unknown"))] * (_int(value) or 0))
        by_group: dict[tuple, list[_Slot]] = {}
        for slot in edits:
            source = slot.body.get("source") or (
                "config" if slot.body["decision"] == "accept" else "user_reject"
            )
            by_group.setdefault((slot.body["tool"], slot.body["decision"], source), []).append(slot)
        for group, slots in by_group.items():
            languages = counts.get(group, [])
            for i, slot in enumerate(slots):
                if languages:
                    slot.body["language"] = languages[min(i, len(languages) - 1)]

    def _natural_models(self, recorded: _Recorded) -> None:
        """The model the client credits each edit to: the latest request's, as compile does."""
        current = recorded.model
        for slot in recorded.slots:
            if slot.kind == "api_request":
                current = slot.body.get("model") or recorded.model
            elif slot.kind == "edit":
                slot.meta["natural_model"] = current

    def _lines(self, edits: list[_Slot], lines: dict[tuple, float]) -> None:
        """Share each (type, model) sum among accepted edits; the totals are exact, the split even."""
        if not edits:
            return
        models = sorted({m for (_t, m) in lines}, key=lambda m: (m is None, str(m)))
        groups: dict[Any, list[_Slot]]
        if not models or models == [None]:
            groups = {None: list(edits)}
        else:
            groups = {m: [] for m in models}
            pending = []
            for slot in edits:
                natural = slot.meta.get("natural_model")
                (groups[natural] if natural in groups else pending).append(slot)
            for m in models:
                if groups[m]:
                    continue
                if pending:
                    groups[m].append(pending.pop(0))
                    continue
                donor = max(
                    (d for d in models if len(groups[d]) > 1), key=lambda d: len(groups[d]), default=None
                )
                if donor is not None:
                    groups[m].append(groups[donor].pop())
            if pending:
                busiest = max(models, key=lambda m: lines.get(("added", m), 0) + lines.get(("removed", m), 0))
                groups[busiest].extend(pending)
        fractional = False
        for model, group in groups.items():
            for slot in group:
                slot.meta["lines_model"] = model
            if not group:
                continue
            # A bigger tool input is a bigger change: the only per-edit hint of size the events give.
            weights = [float(slot.body.get("input_size_bytes") or 0) for slot in group]
            for kind, field_name in (("added", "lines_added"), ("removed", "lines_removed")):
                total = lines.get((kind, model), 0.0)
                fractional = fractional or total != round(total)
                for slot, n in zip(group, _split(max(0, round(total)), weights), strict=True):
                    slot.body[field_name] = n
        if fractional:
            self.warn("Some lines_of_code sums are not whole numbers; they were rounded.")

    def _explicit_edit_models(self, recorded: _Recorded) -> None:
        current = recorded.model
        for slot in recorded.slots:
            if slot.kind == "api_request":
                current = slot.body.get("model") or recorded.model
            elif slot.kind == "edit" and slot.meta.get("lines_model") not in (None, current):
                slot.body["model"] = slot.meta["lines_model"]

    def _commits(self, cluster: _Cluster, totals: dict[MetricKey, float], has_metrics: bool) -> None:
        bash = [
            (r, s)
            for r in cluster.sessions
            for s in r.slots
            if s.kind == "tool"
            and s.body["name"] == "Bash"
            and s.body["decision"] == "accept"
            and s.body.get("success", True)
            and (s.body.get("source") or "config") in _ACCEPT_SOURCES
        ]

        def command(slot: _Slot) -> str:
            return str((slot.body.get("parameters") or {}).get("full_command", ""))

        for kind, metric, marker in (
            ("pull_request", PULL_REQUESTS, "pr create"),
            ("commit", COMMITS, "git commit"),
        ):
            explicit = [(r, s) for r, s in bash if marker in command(s)]
            if has_metrics:
                wanted = _int(math.fsum(v for (n, _), v in totals.items() if n == metric)) or 0
            else:
                wanted = len(explicit)
            unknown = [(r, s) for r, s in bash if not command(s)]
            others = [(r, s) for r, s in bash if (r, s) not in explicit and (r, s) not in unknown]
            # Commits and pull requests come at the end of a piece of work: the latest calls first.
            ranked = explicit + unknown[::-1] + others[::-1]
            chosen = ranked[:wanted]
            for recorded, slot in chosen:
                self._to_bash_step(slot, kind)
                bash.remove((recorded, slot))
            missing = wanted - len(chosen)
            if missing > 0:
                last = cluster.sessions[-1]
                last.slots.extend(_Slot(kind, {}) for _ in range(missing))
                what = "commits" if kind == "commit" else "pull requests"
                self.warn(
                    f"{missing} {what} were counted with no accepted Bash call left to be them; they were "
                    f"added as steps at the end, so the replay sends {missing} Bash decisions and results "
                    "more than were recorded."
                )

    @staticmethod
    def _to_bash_step(slot: _Slot, kind: str) -> None:
        body = slot.body
        parameters = body.get("parameters") or {}
        slot.kind = kind
        slot.body = {
            "duration_ms": body.get("duration_ms"),
            "source": body.get("source"),
            "command": _text(parameters.get("full_command")),
            "input_size_bytes": body.get("input_size_bytes"),
            "result_size_bytes": body.get("result_size_bytes"),
        }

    def _start_types(self, sessions: list[_Recorded], totals: dict[MetricKey, float]) -> None:
        kinds: list[str] = []
        for (name, key), value in sorted(totals.items(), key=lambda kv: repr(kv[0])):
            start_type = dict(key).get("start_type")
            if name == SESSIONS and start_type is not None:
                kinds.extend([str(start_type)] * (_int(value) or 0))
        for recorded, kind in zip(sessions, kinds, strict=False):
            recorded.start_type = kind

    @staticmethod
    def _active(recorded: _Recorded, totals: dict[MetricKey, float]) -> None:
        seconds = {}
        for kind in ("user", "cli"):
            value = totals.get((ACTIVE, (("type", kind),)))
            if value is not None:
                seconds[kind] = float(value)
        if seconds:
            recorded.slots.append(_Slot("active", seconds))

    # -- steps from metrics only --------------------------------------------------------------------

    def _steps_from_metrics(self, cluster: _Cluster) -> None:
        totals = cluster.totals()
        first = cluster.sessions[0]
        requests: dict[tuple, dict[str, Any]] = {}
        for (name, key), value in totals.items():
            if name not in (COST, TOKENS):
                continue
            attributes = dict(key)
            kind = attributes.pop("type", None)
            entry = requests.setdefault(_freeze(attributes.items()), {"cost": None, "tokens": {}})
            if name == COST:
                entry["cost"] = value
            elif kind is not None:
                entry["tokens"][kind] = entry["tokens"].get(kind, 0.0) + value
        request_slots = []
        for key in sorted(requests, key=repr):
            a, entry = dict(key), requests[key]
            body: dict[str, Any] = {f: _int(entry["tokens"].get(t, 0.0)) or 0 for t, f in _TOKEN_FIELDS}
            qs = str(a.get("query_source", "main"))
            body.update(
                {
                    "cost_usd": float(entry["cost"] or 0.0),
                    "model": _text(a.get("model")),
                    "effort": _text(a.get("effort")),
                    "speed": "fast" if a.get("speed") == "fast" else "normal",
                    "query_source": qs,
                }
            )
            for attribute, field_name in _ATTRIBUTION:
                body[field_name] = _text(a.get(attribute))
            # The events' subsystem is not on metrics: a plausible one for the kind of request.
            if qs == "auxiliary":
                body["event_query_source"] = "compact"
            elif qs == "subagent":
                body["event_query_source"] = body.get("agent_name") or "general-purpose"
            request_slots.append(_Slot("api_request", body))
        lines = {(dict(k).get("type"), dict(k).get("model")): v for (n, k), v in totals.items() if n == LINES}
        first.model = self._session_model(request_slots, lines)
        edits = []
        for (name, key), value in sorted(totals.items(), key=lambda kv: repr(kv[0])):
            if name != DECISIONS:
                continue
            a = dict(key)
            decision = "reject" if a.get("decision") == "reject" else "accept"
            for _ in range(_int(value) or 0):
                body = {
                    "tool": a.get("tool_name"),
                    "decision": decision,
                    "source": _text(a.get("source")),
                    "language": _text(a.get("language")) or "unknown",
                }
                edits.append(_Slot("edit", body, meta={"accepted": decision == "accept"}))
        accepted = [s for s in edits if s.meta["accepted"]]
        if lines and not any(n == DECISIONS for n, _ in totals) and not accepted:
            # 2025-05 has no decision metric: one accepted Edit per model carries the lines.
            for model in sorted({m for (_t, m) in lines}, key=str):
                slot = _Slot("edit", {"tool": "Edit"}, meta={"accepted": True, "natural_model": model})
                edits.append(slot)
                accepted.append(slot)
        self._lines(accepted, lines)
        # Each model's requests, then the edits its lines are credited to, so no edit needs `model`.
        slots: list[_Slot] = [_Slot("prompt", {"length": 120})] if request_slots or edits else []
        by_model: dict[Any, list[_Slot]] = {}
        for slot in request_slots:
            by_model.setdefault(slot.body["model"] or first.model, []).append(slot)
        placed: set[int] = set()
        for model in sorted(by_model, key=lambda m: (m != first.model, str(m))):
            slots.extend(by_model[model])
            for slot in accepted:
                if id(slot) not in placed and slot.meta.get("lines_model") in (model, None):
                    slots.append(slot)
                    placed.add(id(slot))
        slots.extend(s for s in edits if id(s) not in placed)
        first.slots = slots
        self._explicit_edit_models(first)
        for kind, metric in (("commit", COMMITS), ("pull_request", PULL_REQUESTS)):
            count = _int(math.fsum(v for (n, _), v in totals.items() if n == metric)) or 0
            first.slots.extend(_Slot(kind, {}) for _ in range(count))
        self._start_types(cluster.sessions, totals)
        self._active(first, totals)
        note = "from metrics only"
        for recorded in cluster.sessions:
            recorded.note = note
        if self.profile == "current" and self.points:
            self.warn(
                "Some sessions were recorded from metrics only (their events were not received): replaying "
                "them with OTEL_LOGS_EXPORTER set sends events the recording did not have."
            )

    # -- the session entry --------------------------------------------------------------------------

    def _session_entry(self, recorded: _Recorded, origin_ns: int) -> dict[str, Any]:
        standard = recorded.standard
        entry: dict[str, Any] = {}
        user = {}
        for key, attribute in (
            ("id", "user.id"),
            ("email", "user.email"),
            ("organization_id", "organization.id"),
            ("account_uuid", "user.account_uuid"),
            ("account_id", "user.account_id"),
        ):
            value = standard.get(attribute)
            if value is None:
                continue
            if _valid(User, {key: value}) is None:
                user[key] = value
            else:
                self.warn(
                    f"The recorded {attribute} {value!r} does not fit a scenario; the replay draws one."
                )
        if user:
            entry["user"] = user
        if recorded.session_id:
            entry["session_id"] = recorded.session_id
        resource = dict(recorded.resource)
        candidates: dict[str, Any] = {
            "start_type": recorded.start_type,
            "start_at": _duration(max(0, recorded.start_ns - origin_ns) / 1e9)
            if recorded.start_ns > origin_ns
            else None,
            "model": recorded.model,
            "app_version": resource.get("service.version") or standard.get("app.version"),
            "entrypoint": standard.get("app.entrypoint"),
            "provider": standard.get("anthropic.provider"),
            "custom_base_url": standard.get("anthropic.custom_base_url"),
            "os_type": resource.get("os.type"),
            "os_version": resource.get("os.version"),
            "host_arch": resource.get("host.arch"),
        }
        if "terminal.type" in standard or "user.id" in standard:
            # The current profile puts terminal.type on everything when there is one.
            candidates["terminal_type"] = standard.get("terminal.type")
        if recorded.permission_modes:
            candidates["permission_mode"] = _most_common(recorded.permission_modes.elements())
            if len(recorded.permission_modes) > 1:
                self.warn(
                    "A session changed permission_mode midway; a scenario session has one, the most used."
                )
        slots = recorded.slots
        subsystems = [
            s.body.get("event_query_source") for s in slots if s.kind in ("api_request", "api_error")
        ]
        if recorded.source == "events":
            candidates["query_source"] = _most_common(q for q in subsystems if q)
        efforts = {s.body.get("effort") for s in slots if s.kind in ("api_request", "api_error")}
        if len(efforts) == 1 and None not in efforts:
            candidates["effort"] = efforts.pop()
        if recorded.plugins is not None:
            plugins = [p if len(p) > 1 else p["name"] for p in recorded.plugins]
            if plugins != [name for name, _ in BUILTIN_PLUGINS]:
                candidates["plugins"] = plugins
            candidates["safe_mode"] = recorded.safe_mode
        defaults = Session()
        for key, value in candidates.items():
            # None means unknown, except for terminal_type, where it means "no terminal".
            if (value is None and key != "terminal_type") or value == getattr(defaults, key, _MISSING):
                continue
            problem = _valid(Session, {key: value})
            if problem is None:
                entry[key] = value
            else:
                self.warn(f"The recorded {key} {value!r} is not one a scenario can hold ({problem}).")
        entry["steps"] = self._steps(recorded, entry)
        return entry

    def _steps(self, recorded: _Recorded, entry: dict[str, Any]) -> list[dict[str, Any]]:
        session = Session.model_validate({k: v for k, v in entry.items() if k not in ("steps", "start_at")})
        out: list[dict[str, Any]] = []
        plugins = len(session.plugins) if session.plugins is not None else len(BUILTIN_PLUGINS)
        cursor = first_step_offset(plugins)
        for slot in recorded.slots:
            body = self._compact(slot, session)
            problem = _valid(Step, {slot.kind: body})
            if problem is not None:
                self.warn(f"A recorded {slot.kind} could not be replayed and was left out ({problem}).")
                continue
            step = Step.model_validate({slot.kind: body})
            before, after = step_timing(step)
            if slot.at_ns is not None and recorded.source == "events":
                anchor = before + after if slot.kind in ("api_request", "api_error") else before
                gap = (slot.at_ns - recorded.start_ns) // 1000 - (cursor + anchor)
                if gap >= _WAIT_THRESHOLD_US:
                    gap = round(gap / 1000) * 1000
                    out.append({"wait": _duration(gap / 1e6)})
                    cursor += gap
            cursor += before + after
            out.append({slot.kind: body})
        return out

    @staticmethod
    def _compact(slot: _Slot, session: Session) -> dict[str, Any]:
        """The step's fields less those that say what the scenario would assume anyway."""
        body = dict(slot.body)
        kind = slot.kind
        if kind in ("api_request", "api_error"):
            if body.get("model") == session.model:
                body.pop("model")
            if body.get("effort") == session.effort:
                body.pop("effort")
            if body.get("event_query_source") == session.query_source:
                body.pop("event_query_source")
        if kind == "api_request":
            ttft = body.get("ttft_ms")
            duration = body.get("duration_ms", 0)
            if ttft == max(0, duration - max(2, duration // 100)):
                body.pop("ttft_ms")
            if body.get("response_length") == 0:
                body.pop("response_length")
        if kind in ("edit", "tool") and body.get("source") == (
            "config" if body.get("decision", "accept") == "accept" else "user_reject"
        ):
            body.pop("source")
        if kind == "active":
            return body
        model = _BODIES[kind]
        keep = _KEEP.get(kind, ())
        defaults = model.model_fields
        out = {}
        # The model's field order: how a person would write the step.
        for key in defaults:
            value = body.get(key)
            if value is None:
                continue
            if key not in keep and value == defaults[key].default and not isinstance(value, dict):
                continue
            out[key] = value
        return out

    # -- the file ----------------------------------------------------------------------------------

    def _yaml(self, sessions: list[_Recorded], entries: list[dict[str, Any]]) -> str:
        from_events = sum(1 for r in sessions if r.source == "events")
        from_metrics = len(sessions) - from_events
        times = [_event_time(e) for e in self.events] + [p.time_ns for p in self.points]
        times = [t for t in times if t]
        temporality = sorted({p.temporality for p in self.points}) or ["none"]
        plural = "s" if len(sessions) != 1 else ""
        about = (
            f"Recorded by claude-telemetry record: {len(sessions)} Claude Code session{plural} "
            f"({from_events} from events, {from_metrics} from metrics only), from {len(self.points)} metric "
            f"points ({'/'.join(temporality)}) and {len(self.events)} events"
            + (f" received {_iso(min(times))} to {_iso(max(times))}." if times else ".")
            + " Replaying it with the same exporter setup gives back the recorded metric sums and event "
            + ("counts, except as the caveats below say; " if self.warnings else "counts; ")
            + "ids of prompts, requests and tool calls are new, and times follow the recorded gaps of a "
            "second or more."
        )
        if from_metrics:
            about += (
                " Sessions from metrics only have one api_request per attribute set (model, query_source, "
                "speed, effort, attribution) carrying its summed tokens and cost, and one edit per decision "
                "counted."
            )
        lines = _wrap(about, "# ", "# ")
        setup = [f"--profile {self.profile}"] if self.profile != "current" else []
        setup += [f"{k}={v}" for k, v in self.env.items()]
        if setup:
            lines.append("# Replay with:")
            lines.extend(f"#   {s}" for s in setup)
        if self.warnings:
            lines.append("# Caveats:")
            for warning in self.warnings:
                lines.extend(_wrap(warning, "#   - ", "#     "))
        header = {
            "version": 1,
            "name": self.name,
            "description": _text(self.description) or self._description(from_events, from_metrics),
            "seed": 0,
        }
        text = "\n".join(lines) + "\n" + _dump(header, flow=False) + "\n"
        shared = _shared_fields(entries)
        if shared:
            text += "# Every session below has these.\n" + _dump({"defaults": shared}, flow=False) + "\n"
            entries = [{k: v for k, v in e.items() if k not in shared} for e in entries]
        text += "sessions:\n"
        for recorded, entry in zip(sessions, entries, strict=True):
            steps = len(entry.get("steps", []))
            standard = recorded.standard
            user_id = str(standard.get("user.id") or standard.get("user.account_uuid") or "")
            who = standard.get("user.email") or (f"user {user_id[:12]}" if user_id else "unknown user")
            if recorded.session_id:
                who = f"session {recorded.session_id}: {who}"
            comment = f"{who}, {steps} step{'s' if steps != 1 else ''}, {recorded.note or 'from events'}"
            for line in _wrap(comment, "  # ", "  # "):
                text += line + "\n"
            for line in _dump([entry]).splitlines():
                # A bare wait reads as `- wait: 5s`, not as the flow mapping PyYAML writes for it.
                if line.startswith("  - {wait: ") and line.endswith("}"):
                    line = "  - wait: " + line[len("  - {wait: ") : -1]
                text += "  " + line + "\n"
        return text

    def _description(self, from_events: int, from_metrics: int) -> str:
        total = from_events + from_metrics
        return f"{total} Claude Code session{'s' if total != 1 else ''} recorded from telemetry."

    # -- the check --------------------------------------------------------------------------------

    def _verify(self, scenario, sessions: list[_Recorded]) -> None:
        """Compile the scenario as a replay would and say which recorded sums it would not give back."""
        timeline = compile_scenario(scenario, self.options)
        replay = Totals.from_records(r for r in timeline.records if r.signal == METRIC)
        recorded = Totals(metric_totals(self.points))
        differences = []
        for key in sorted(set(recorded.metrics) | set(replay.metrics), key=repr):
            got, want = replay.metrics.get(key), recorded.metrics.get(key)
            if got is None or want is None or not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9):
                differences.append((key, want, got))
        if differences and self.points:
            (name, attributes), want, got = differences[0]
            shown = ", ".join(f"{k}={v}" for k, v in attributes if k not in _STANDARD_KEYS)
            self.warn(
                f"The replay will not give back {len(differences)} recorded metric series exactly, e.g. "
                f"{name} {{{shown}}}: recorded {_number(want)}, replayed {_number(got)}."
            )
        event_sessions = {i for i, r in enumerate(sessions) if r.source == "events"}
        if event_sessions:
            replayed = Counter(
                r.name for r in timeline.records if r.signal == EVENT and r.session in event_sessions
            )
            received = self.kept
            off = sorted(n for n in set(replayed) | set(received) if replayed[n] != received[n])
            if off:
                shown = ", ".join(f"{n} {received[n]} -> {replayed[n]}" for n in off[:4])
                self.warn(f"The replay will send a different number of some events: {shown}.")


def _request_sums_match(slots: list[_Slot], wanted: dict[MetricKey, float]) -> bool:
    sums: dict[MetricKey, list[float]] = {}
    for slot in slots:
        base = dict(slot.meta["base"])
        base["query_source"] = slot.body["query_source"]
        sums.setdefault((COST, _freeze(base.items())), []).append(slot.body["cost_usd"])
        for kind, field_name in _TOKEN_FIELDS:
            key = (TOKENS, _freeze([*base.items(), ("type", kind)]))
            sums.setdefault(key, []).append(float(slot.body[field_name]))
    got = {k: math.fsum(v) for k, v in sums.items()}
    return got.keys() == wanted.keys() and all(
        math.isclose(got[k], wanted[k], rel_tol=1e-9, abs_tol=1e-9) for k in got
    )


def _shared_fields(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Plain session fields every session sets alike: written once under `defaults:`."""
    if len(entries) < 2:
        return {}
    shared = {}
    for key in (
        "model",
        "app_version",
        "terminal_type",
        "provider",
        "custom_base_url",
        "os_type",
        "os_version",
        "host_arch",
        "entrypoint",
        "permission_mode",
        "query_source",
        "effort",
    ):
        values = [e.get(key, _MISSING) for e in entries]
        if values[0] is not _MISSING and all(v == values[0] for v in values):
            shared[key] = values[0]
    return shared


_MISSING = object()


def _number(value: float | None) -> str:
    if value is None:
        return "nothing"
    return f"{value:g}"


def _dump(data: Any, flow: bool | None = None) -> str:
    # Flow style for mappings of scalars: one line per step, as the bundled scenarios are written.
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=flow, width=1 << 16, allow_unicode=True)


def _wrap(text: str, first: str, rest: str, width: int = 110) -> list[str]:
    out, line = [], first
    for word in text.split():
        if len(line) + len(word) + 1 > width and line.strip() not in (first.strip(), rest.strip()):
            out.append(line.rstrip())
            line = rest
        line += word + " "
    out.append(line.rstrip())
    return out
