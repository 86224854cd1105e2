"""Steps rebuilt from a recorded process's events: prompts, requests, tool calls, edits, errors, plugins."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from claude_telemetry_cli.contract import TOKEN_TYPES
from claude_telemetry_cli.scenario.compile.wire_values import BUILTIN_HASHES, plugin_hash
from claude_telemetry_cli.scenario.model import ATTRIBUTION_FIELDS, Plugin
from claude_telemetry_cli.scenario.reconstruct.processes import RecordedProcess, Slot
from claude_telemetry_cli.scenario.reconstruct.received import (
    as_int,
    as_text,
    event_time,
    freeze,
    validation_problem,
)

if TYPE_CHECKING:
    from claude_telemetry_cli.otlp.decode import DecodedEvent

__all__ = ["steps_from_events"]

_EDIT_TOOLS = ("Edit", "Write", "NotebookEdit")


def steps_from_events(
    recorded: RecordedProcess, warn: Callable[[str], None], unreproduced: Counter[str], kept: Counter[str]
) -> None:
    """Fill `recorded` in from its events: its slots, plugins and permission modes. Counts each event
    name kept (duplicates dropped) in `kept`, and each event no step emits in `unreproduced`."""

    def order(e: DecodedEvent) -> tuple:
        sequence = as_int(dict(e.attributes).get("event.sequence"))
        return (sequence if sequence is not None else math.inf, event_time(e))

    events = []
    seen: set[int] = set()
    duplicates = 0
    for e in sorted(recorded.events, key=order):
        sequence = as_int(dict(e.attributes).get("event.sequence"))
        if sequence is not None:
            if sequence in seen:
                duplicates += 1
                continue
            seen.add(sequence)
        events.append(e)
    if duplicates:
        warn(f"{duplicates} events arrived twice (same session and event.sequence) and were counted once.")
    slots: list[Slot] = []
    tools: dict[str, Slot] = {}
    requests: dict[str, Slot] = {}
    last_request: Slot | None = None
    last_error: Slot | None = None
    plugins: list[dict[str, Any]] = []
    startup = False
    for e in events:
        a = dict(e.attributes)
        name = e.name
        at = event_time(e)
        if name == "managed_settings_resolved":
            startup = True
        elif name == "plugin_loaded":
            startup = True
            plugins.append(a)
        elif name == "retention_sweep":
            pass
        elif name == "user_prompt":
            length = as_int(a.get("prompt_length"))
            slots.append(Slot("prompt", {"length": max(1, length or 1)}, at))
        elif name == "api_request":
            last_request = _request_slot(a, at)
            slots.append(last_request)
            if a.get("request_id"):
                requests[str(a["request_id"])] = last_request
        elif name == "assistant_response":
            target = requests.get(str(a.get("request_id"))) or last_request
            if target is None:
                unreproduced[name] += 1
            else:
                target.body["response_length"] = as_int(a.get("response_length")) or 0
        elif name == "tool_decision":
            slot = _decision_slot(a, at)
            slots.append(slot)
            if a.get("tool_use_id"):
                tools[str(a["tool_use_id"])] = slot
            if a.get("permission_mode"):
                recorded.permission_modes[str(a["permission_mode"])] += 1
        elif name == "tool_result":
            slot = tools.pop(str(a.get("tool_use_id")), None)
            if slot is None:
                # Its decision was lost: the call still ran, and was accepted.
                slot = _decision_slot({"tool_name": a.get("tool_name"), "decision": "accept"}, at)
                slots.append(slot)
            _add_result(warn, slot, a)
        elif name == "api_error":
            last_error = _error_slot(a, at)
            slots.append(last_error)
        elif name == "api_retries_exhausted":
            total = as_int(a.get("total_retry_duration_ms"))
            if last_error is not None and "total_retry_duration_ms" not in last_error.body:
                if total is not None and total >= last_error.body.get("duration_ms", 0):
                    last_error.body["total_retry_duration_ms"] = total
                if last_error.body.get("attempt", 1) < 2:
                    unreproduced[name] += 1
            else:
                unreproduced[name] += 1
        else:
            unreproduced[name] += 1
    recorded.slots = slots
    kept.update(e.name for e in events)
    if startup:
        recorded.plugins = [_plugin(p) for p in plugins]
        recorded.safe_mode = any(str(p.get("safe_mode")) == "true" for p in plugins)


def _request_slot(a: dict[str, Any], at: int) -> Slot:
    cost = a.get("cost_usd")
    if not isinstance(cost, (int, float)) or isinstance(cost, bool):
        micros = as_int(a.get("cost_usd_micros"))
        cost = micros / 1e6 if micros is not None else 0.0
    counts = [f for _, f in TOKEN_TYPES] + ["cache_creation_5m_tokens", "cache_creation_1h_tokens"]
    body: dict[str, Any] = {f: as_int(a.get(f)) or 0 for f in counts}
    duration = as_int(a.get("duration_ms")) or 0
    body.update(
        {
            "duration_ms": duration,
            "cost_usd": float(cost),
            "model": as_text(a.get("model")),
            "effort": as_text(a.get("effort")),
            "speed": "fast" if a.get("speed") == "fast" else "normal",
            "event_query_source": as_text(a.get("query_source")),
        }
    )
    ttft = as_int(a.get("ttft_ms"))
    if ttft is not None and ttft <= duration:
        body["ttft_ms"] = ttft
    base = {"model": body["model"], "effort": body["effort"]}
    if body["speed"] == "fast":
        base["speed"] = "fast"
    for attribute, field_name in ATTRIBUTION_FIELDS:
        value = as_text(a.get(attribute))
        body[field_name] = value
        base[attribute] = value
    meta = {"base": freeze((k, v) for k, v in base.items() if v is not None)}
    return Slot("api_request", body, at, meta)


def _decision_slot(a: dict[str, Any], at: int) -> Slot:
    tool = as_text(a.get("tool_name")) or "unknown"
    decision = "reject" if a.get("decision") == "reject" else "accept"
    source = as_text(a.get("source"))
    parameters = _parameters(a.get("tool_parameters"))
    if tool in _EDIT_TOOLS:
        body = {"tool": tool, "decision": decision, "source": source, "language": "unknown"}
        return Slot("edit", body, at, {"accepted": decision == "accept"})
    body = {
        "name": tool,
        "decision": decision,
        "source": source,
        "tool_source": as_text(a.get("tool_source")),
    }
    if parameters:
        body["parameters"] = parameters
    return Slot("tool", body, at)


def _add_result(warn: Callable[[str], None], slot: Slot, a: dict[str, Any]) -> None:
    success = str(a.get("success")).lower() == "true"
    body = slot.body
    body["duration_ms"] = as_int(a.get("duration_ms")) or 0
    body["input_size_bytes"] = as_int(a.get("tool_input_size_bytes"))
    body["result_size_bytes"] = as_int(a.get("tool_result_size_bytes"))
    if slot.kind == "edit":
        if not success:
            warn("An edit that failed to apply is replayed as a successful one (no step says so).")
        return
    body["success"] = success
    if not success:
        body["error_type"] = as_text(a.get("error_type"))
        body["error"] = as_text(a.get("error"))
    parameters = _parameters(a.get("tool_parameters"))
    if parameters and "parameters" not in body:
        body["parameters"] = parameters


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
        str(k): as_text(v) if isinstance(v, str) else v
        for k, v in data.items()
        if isinstance(v, (str, int, float, bool)) and (not isinstance(v, str) or v)
    }


def _error_slot(a: dict[str, Any], at: int) -> Slot:
    status = as_int(a.get("status_code"))
    body = {
        "status_code": status if status is not None and 100 <= status <= 599 else None,
        "error": as_text(a.get("error")),
        "attempt": max(1, as_int(a.get("attempt")) or 1),
        "duration_ms": as_int(a.get("duration_ms")) or 0,
        "model": as_text(a.get("model")),
        "speed": "fast" if a.get("speed") == "fast" else "normal",
        "effort": as_text(a.get("effort")),
        "event_query_source": as_text(a.get("query_source")),
    }
    return Slot("api_error", body, at)


def _plugin(a: dict[str, Any]) -> dict[str, Any]:
    name = as_text(a.get("plugin.name")) or "unknown"
    marketplace = as_text(a.get("marketplace.name")) or "builtin"
    builtin = name in BUILTIN_HASHES and marketplace == "builtin"
    plugin: dict[str, Any] = {
        "name": name,
        "marketplace": marketplace,
        "scope": as_text(a.get("plugin.scope")),
        "enabled_via": as_text(a.get("enabled_via")),
        "id_hash": as_text(a.get("plugin_id_hash")),
        "has_hooks": a.get("has_hooks") if isinstance(a.get("has_hooks"), bool) else None,
        "has_mcp": a.get("has_mcp") if isinstance(a.get("has_mcp"), bool) else None,
        "host_owned_mcp": a.get("host_owned_mcp") if isinstance(a.get("host_owned_mcp"), bool) else None,
        "skill_path_count": as_int(a.get("skill_path_count")),
        "command_path_count": as_int(a.get("command_path_count")),
        "agent_path_count": as_int(a.get("agent_path_count")),
    }
    derived = plugin_hash(name, marketplace)
    if plugin["id_hash"] == derived:
        plugin["id_hash"] = None
    if plugin["has_hooks"] == builtin:
        plugin["has_hooks"] = None
    defaults = Plugin(name=name)
    compact = {
        k: v for k, v in plugin.items() if v is not None and (k == "name" or v != getattr(defaults, k))
    }
    if validation_problem(Plugin, compact) is not None:
        compact = {"name": name}
    return compact
