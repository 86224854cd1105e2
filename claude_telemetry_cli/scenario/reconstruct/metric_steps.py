"""Sessions whose events were not received, rebuilt from their metrics alone."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from claude_telemetry_cli.contract import (
    CODE_EDIT_TOOL_DECISION,
    COMMIT_COUNT,
    COST_USAGE,
    LINES_OF_CODE_COUNT,
    PULL_REQUEST_COUNT,
    TOKEN_TYPES,
    TOKEN_USAGE,
)
from claude_telemetry_cli.scenario.model import ATTRIBUTION_FIELDS
from claude_telemetry_cli.scenario.reconstruct.metric_shares import (
    add_active_time,
    assign_start_types,
    name_edit_models,
    session_model,
    share_lines,
)
from claude_telemetry_cli.scenario.reconstruct.processes import Cluster, Slot
from claude_telemetry_cli.scenario.reconstruct.received import as_int, as_text, freeze

__all__ = ["steps_from_metrics"]


def steps_from_metrics(cluster: Cluster, warn: Callable[[str], None]) -> None:
    """Steps for a cluster whose events were not received: one api_request per attribute set carrying
    its summed tokens and cost, one edit per decision counted, the commits and pull requests counted."""
    totals = cluster.totals()
    first = cluster.sessions[0]
    requests: dict[tuple, dict[str, Any]] = {}
    for (name, key), value in totals.items():
        if name not in (COST_USAGE, TOKEN_USAGE):
            continue
        attributes = dict(key)
        kind = attributes.pop("type", None)
        entry = requests.setdefault(freeze(attributes.items()), {"cost": None, "tokens": {}})
        if name == COST_USAGE:
            entry["cost"] = value
        elif kind is not None:
            entry["tokens"][kind] = entry["tokens"].get(kind, 0.0) + value
    request_slots = []
    for key in sorted(requests, key=repr):
        a, entry = dict(key), requests[key]
        body: dict[str, Any] = {f: as_int(entry["tokens"].get(t, 0.0)) or 0 for t, f in TOKEN_TYPES}
        qs = str(a.get("query_source", "main"))
        body.update(
            {
                "cost_usd": float(entry["cost"] or 0.0),
                "model": as_text(a.get("model")),
                "effort": as_text(a.get("effort")),
                "speed": "fast" if a.get("speed") == "fast" else "normal",
                "query_source": qs,
            }
        )
        for attribute, field_name in ATTRIBUTION_FIELDS:
            body[field_name] = as_text(a.get(attribute))
        # The events' subsystem is not on metrics: a plausible one for the kind of request.
        if qs == "auxiliary":
            body["event_query_source"] = "compact"
        elif qs == "subagent":
            body["event_query_source"] = body.get("agent_name") or "general-purpose"
        request_slots.append(Slot("api_request", body))
    lines = {
        (dict(k).get("type"), dict(k).get("model")): v
        for (n, k), v in totals.items()
        if n == LINES_OF_CODE_COUNT
    }
    first.model = session_model(request_slots, lines)
    edits = []
    for (name, key), value in sorted(totals.items(), key=lambda kv: repr(kv[0])):
        if name != CODE_EDIT_TOOL_DECISION:
            continue
        a = dict(key)
        decision = "reject" if a.get("decision") == "reject" else "accept"
        for _ in range(as_int(value) or 0):
            body = {
                "tool": a.get("tool_name"),
                "decision": decision,
                "source": as_text(a.get("source")),
                "language": as_text(a.get("language")) or "unknown",
            }
            edits.append(Slot("edit", body, meta={"accepted": decision == "accept"}))
    accepted = [s for s in edits if s.meta["accepted"]]
    if lines and not any(n == CODE_EDIT_TOOL_DECISION for n, _ in totals) and not accepted:
        # 2025-05 has no decision metric: one accepted Edit per model carries the lines.
        for model in sorted({m for (_t, m) in lines}, key=str):
            slot = Slot("edit", {"tool": "Edit"}, meta={"accepted": True, "natural_model": model})
            edits.append(slot)
            accepted.append(slot)
    share_lines(warn, accepted, lines)
    # Each model's requests, then the edits its lines are credited to, so no edit needs `model`.
    slots: list[Slot] = [Slot("prompt", {"length": 120})] if request_slots or edits else []
    by_model: dict[Any, list[Slot]] = {}
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
    name_edit_models(first)
    for kind, metric in (("commit", COMMIT_COUNT), ("pull_request", PULL_REQUEST_COUNT)):
        count = as_int(math.fsum(v for (n, _), v in totals.items() if n == metric)) or 0
        first.slots.extend(Slot(kind, {}) for _ in range(count))
    assign_start_types(cluster.sessions, totals)
    add_active_time(first, totals)
    note = "from metrics only"
    for recorded in cluster.sessions:
        recorded.note = note
