"""What only metrics say, shared among the sessions rebuilt from events: models, metric query sources,
languages, line counts, commits and pull requests, start types, active time."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

from claude_telemetry_cli.contract import (
    ACTIVE_TIME_TOTAL,
    CODE_EDIT_TOOL_DECISION,
    COMMIT_COUNT,
    COST_USAGE,
    LINES_OF_CODE_COUNT,
    PULL_REQUEST_COUNT,
    SESSION_COUNT,
    TOKEN_TYPES,
    TOKEN_USAGE,
)
from claude_telemetry_cli.scenario.reconstruct.processes import Cluster, RecordedProcess, Slot
from claude_telemetry_cli.scenario.reconstruct.received import (
    MetricKey,
    as_int,
    as_text,
    freeze,
    metric_query_source,
    most_common,
)

__all__ = [
    "add_active_time",
    "assign_start_types",
    "name_edit_models",
    "session_model",
    "share_lines",
    "share_metrics",
]

_ACCEPT_SOURCES = ("config", "hook", "user_permanent", "user_temporary")
# Ways to give ambiguous requests a metric query_source that are tried before giving up.
_MAX_QUERY_SOURCE_TRIES = 4096


def share_metrics(cluster: Cluster, warn: Callable[[str], None]) -> None:
    """Give the sessions rebuilt from events what only metrics say: models, metric query sources,
    languages, line counts, commits and pull requests, start types, active time."""
    totals = cluster.totals()
    has_metrics = bool(cluster.points)
    sessions = [r for r in cluster.sessions if r.source == "events"]
    lines = {
        (dict(k).get("type"), dict(k).get("model")): v
        for (n, k), v in totals.items()
        if n == LINES_OF_CODE_COUNT
    }
    for recorded in sessions:
        recorded.model = session_model(recorded.slots, lines)
    requests = [s for r in sessions for s in r.slots if s.kind == "api_request"]
    _query_sources(warn, requests, totals)
    edits = [s for r in sessions for s in r.slots if s.kind == "edit"]
    if has_metrics:
        _languages(edits, totals)
    elif edits:
        warn(
            "No metrics were recorded for some sessions: their edits' languages and line counts, "
            "commits, pull requests and active time are only on metrics, so they are left out."
        )
    for recorded in sessions:
        _natural_models(recorded)
    share_lines(warn, [s for s in edits if s.meta["accepted"]], lines)
    for recorded in sessions:
        name_edit_models(recorded)
    _commits(warn, cluster, totals, has_metrics)
    assign_start_types(cluster.sessions, totals)
    add_active_time(cluster.sessions[0], totals)


def session_model(slots: list[Slot], lines: dict) -> str | None:
    """The session's model: its requests' most used, else its errors', else the lines' models."""
    models = [s.body.get("model") for s in slots if s.kind == "api_request"]
    models = models or [s.body.get("model") for s in slots if s.kind == "api_error"]
    models = models or [m for (_t, m) in sorted(lines, key=repr) if m]
    return most_common(m for m in models if m)


def _query_sources(warn: Callable[[str], None], requests: list[Slot], totals: dict[MetricKey, float]) -> None:
    """Each request's metric query_source: the one its series has, or the choice that makes the sums match."""
    candidates: dict[tuple, set[str]] = {}
    for (name, key), _ in totals.items():
        if name in (COST_USAGE, TOKEN_USAGE):
            attributes = dict(key)
            qs = attributes.pop("query_source", None)
            attributes.pop("type", None)
            if qs is not None:
                candidates.setdefault(freeze(attributes.items()), set()).add(str(qs))
    for slot in requests:
        mapped = metric_query_source(slot.body.get("event_query_source"))
        found = candidates.get(slot.meta["base"], set())
        slot.body["query_source"] = next(iter(found)) if len(found) == 1 else mapped
    ambiguous: dict[tuple, list[Slot]] = {}
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
        if name in (COST_USAGE, TOKEN_USAGE)
        and freeze((k, v) for k, v in key if k not in ("query_source", "type")) in bases
    }
    groups = sorted(ambiguous.items(), key=lambda kv: repr(kv[0]))
    options = []
    for (base, subsystem), _slots in groups:
        mapped = metric_query_source(subsystem or None)
        options.append(sorted(candidates[base], key=lambda q, m=mapped: (q != m, q)))
    if math.prod(len(o) for o in options) > _MAX_QUERY_SOURCE_TRIES:
        warn(
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


def _languages(edits: list[Slot], totals: dict[MetricKey, float]) -> None:
    """Each edit's language, from the decision counts of its tool, decision and source."""
    counts: dict[tuple, list[str]] = {}
    for (name, key), value in sorted(totals.items(), key=lambda kv: repr(kv[0])):
        if name != CODE_EDIT_TOOL_DECISION:
            continue
        a = dict(key)
        group = (a.get("tool_name"), a.get("decision"), a.get("source"))
        counts.setdefault(group, []).extend([str(a.get("language", "unknown"))] * (as_int(value) or 0))
    by_group: dict[tuple, list[Slot]] = {}
    for slot in edits:
        source = slot.body.get("source") or ("config" if slot.body["decision"] == "accept" else "user_reject")
        by_group.setdefault((slot.body["tool"], slot.body["decision"], source), []).append(slot)
    for group, slots in by_group.items():
        languages = counts.get(group, [])
        for i, slot in enumerate(slots):
            if languages:
                slot.body["language"] = languages[min(i, len(languages) - 1)]


def _natural_models(recorded: RecordedProcess) -> None:
    """The model the client credits each edit to: the latest request's, as compile does."""
    current = recorded.model
    for slot in recorded.slots:
        if slot.kind == "api_request":
            current = slot.body.get("model") or recorded.model
        elif slot.kind == "edit":
            slot.meta["natural_model"] = current


def share_lines(warn: Callable[[str], None], edits: list[Slot], lines: dict[tuple, float]) -> None:
    """Share each (type, model) sum among accepted edits; the totals are exact, the split even."""
    if not edits:
        return
    models = sorted({m for (_t, m) in lines}, key=lambda m: (m is None, str(m)))
    groups: dict[Any, list[Slot]]
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
            donor = max((d for d in models if len(groups[d]) > 1), key=lambda d: len(groups[d]), default=None)
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
        warn("Some lines_of_code sums are not whole numbers; they were rounded.")


def name_edit_models(recorded: RecordedProcess) -> None:
    """`model` on the edits whose lines are credited to another model than the latest request's."""
    current = recorded.model
    for slot in recorded.slots:
        if slot.kind == "api_request":
            current = slot.body.get("model") or recorded.model
        elif slot.kind == "edit" and slot.meta.get("lines_model") not in (None, current):
            slot.body["model"] = slot.meta["lines_model"]


def _commits(
    warn: Callable[[str], None], cluster: Cluster, totals: dict[MetricKey, float], has_metrics: bool
) -> None:
    """Accepted Bash calls become the commits and pull requests counted: those whose command says so,
    then the latest."""
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

    def command(slot: Slot) -> str:
        return str((slot.body.get("parameters") or {}).get("full_command", ""))

    for kind, metric, marker in (
        ("pull_request", PULL_REQUEST_COUNT, "pr create"),
        ("commit", COMMIT_COUNT, "git commit"),
    ):
        explicit = [(r, s) for r, s in bash if marker in command(s)]
        if has_metrics:
            wanted = as_int(math.fsum(v for (n, _), v in totals.items() if n == metric)) or 0
        else:
            wanted = len(explicit)
        unknown = [(r, s) for r, s in bash if not command(s)]
        others = [(r, s) for r, s in bash if (r, s) not in explicit and (r, s) not in unknown]
        # Commits and pull requests come at the end of a piece of work: the latest calls first.
        ranked = explicit + unknown[::-1] + others[::-1]
        chosen = ranked[:wanted]
        for recorded, slot in chosen:
            _to_bash_step(slot, kind)
            bash.remove((recorded, slot))
        missing = wanted - len(chosen)
        if missing > 0:
            last = cluster.sessions[-1]
            last.slots.extend(Slot(kind, {}) for _ in range(missing))
            what = "commits" if kind == "commit" else "pull requests"
            warn(
                f"{missing} {what} were counted with no accepted Bash call left to be them; they were "
                f"added as steps at the end, so the replay sends {missing} Bash decisions and results "
                "more than were recorded."
            )


def _to_bash_step(slot: Slot, kind: str) -> None:
    body = slot.body
    parameters = body.get("parameters") or {}
    slot.kind = kind
    slot.body = {
        "duration_ms": body.get("duration_ms"),
        "source": body.get("source"),
        "command": as_text(parameters.get("full_command")),
        "input_size_bytes": body.get("input_size_bytes"),
        "result_size_bytes": body.get("result_size_bytes"),
    }


def assign_start_types(sessions: list[RecordedProcess], totals: dict[MetricKey, float]) -> None:
    """The sessions' start types, in order, from session.count."""
    kinds: list[str] = []
    for (name, key), value in sorted(totals.items(), key=lambda kv: repr(kv[0])):
        start_type = dict(key).get("start_type")
        if name == SESSION_COUNT and start_type is not None:
            kinds.extend([str(start_type)] * (as_int(value) or 0))
    for recorded, kind in zip(sessions, kinds, strict=False):
        recorded.start_type = kind


def add_active_time(recorded: RecordedProcess, totals: dict[MetricKey, float]) -> None:
    """An `active` step carrying the active_time totals."""
    seconds = {}
    for kind in ("user", "cli"):
        value = totals.get((ACTIVE_TIME_TOTAL, (("type", kind),)))
        if value is not None:
            seconds[kind] = float(value)
    if seconds:
        recorded.slots.append(Slot("active", seconds))


def _request_sums_match(slots: list[Slot], wanted: dict[MetricKey, float]) -> bool:
    sums: dict[MetricKey, list[float]] = {}
    for slot in slots:
        base = dict(slot.meta["base"])
        base["query_source"] = slot.body["query_source"]
        sums.setdefault((COST_USAGE, freeze(base.items())), []).append(slot.body["cost_usd"])
        for kind, field_name in TOKEN_TYPES:
            key = (TOKEN_USAGE, freeze([*base.items(), ("type", kind)]))
            sums.setdefault(key, []).append(float(slot.body[field_name]))
    got = {k: math.fsum(v) for k, v in sums.items()}
    return got.keys() == wanted.keys() and all(
        math.isclose(got[k], wanted[k], rel_tol=1e-9, abs_tol=1e-9) for k in got
    )


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
