"""Recorded processes written as scenario sessions: their fields, their steps and the waits between."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from claude_telemetry_cli.contract import BUILTIN_PLUGINS
from claude_telemetry_cli.scenario.compile import first_step_offset, step_timing
from claude_telemetry_cli.scenario.model import (
    ApiError,
    ApiRequest,
    Commit,
    Edit,
    Prompt,
    PullRequest,
    Session,
    Step,
    Tool,
    User,
    turn_final_requests,
)
from claude_telemetry_cli.scenario.reconstruct.processes import RecordedProcess, Slot
from claude_telemetry_cli.scenario.reconstruct.received import most_common, validation_problem

__all__ = ["session_entry"]

# Gaps shorter than this are the noise of one replay; longer ones are the user thinking.
_WAIT_THRESHOLD_US = 1_000_000
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
_MISSING = object()


def session_entry(recorded: RecordedProcess, origin_ns: int, warn: Callable[[str], None]) -> dict[str, Any]:
    """The scenario session of a recorded process, less what a session assumes anyway; `origin_ns` is
    when the earliest session started."""
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
        if validation_problem(User, {key: value}) is None:
            user[key] = value
        else:
            warn(f"The recorded {attribute} {value!r} does not fit a scenario; the replay draws one.")
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
        candidates["permission_mode"] = most_common(recorded.permission_modes.elements())
        if len(recorded.permission_modes) > 1:
            warn("A session changed permission_mode midway; a scenario session has one, the most used.")
    slots = recorded.slots
    subsystems = [s.body.get("event_query_source") for s in slots if s.kind in ("api_request", "api_error")]
    if recorded.source == "events":
        candidates["query_source"] = most_common(q for q in subsystems if q)
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
        if value is None and key != "terminal_type":
            continue
        # Left out, these three would follow the environment of whoever replays the file.
        if value == getattr(defaults, key, _MISSING) and key not in _ALWAYS_WRITTEN:
            continue
        problem = validation_problem(Session, {key: value})
        if problem is None:
            entry[key] = value
        else:
            warn(f"The recorded {key} {value!r} is not one a scenario can hold ({problem}).")
    entry["steps"] = _steps(warn, recorded, entry)
    return entry


# What a replay would otherwise take from its own environment (ANTHROPIC_BASE_URL, CLAUDE_CODE_USE_*, TERM).
_ALWAYS_WRITTEN = frozenset({"provider", "custom_base_url", "terminal_type"})


def _steps(
    warn: Callable[[str], None], recorded: RecordedProcess, entry: dict[str, Any]
) -> list[dict[str, Any]]:
    session = Session.model_validate({k: v for k, v in entry.items() if k not in ("steps", "start_at")})
    out: list[dict[str, Any]] = []
    plugins = len(session.plugins) if session.plugins is not None else len(BUILTIN_PLUGINS)
    cursor = first_step_offset(plugins)
    for slot in recorded.slots:
        body = _compact(slot, session)
        problem = validation_problem(Step, {slot.kind: body})
        if problem is not None:
            warn(f"A recorded {slot.kind} could not be replayed and was left out ({problem}).")
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
    if recorded.source == "events":
        # A turn's last request answers in text unless told: say so where the recording had none.
        for j in turn_final_requests(next(iter(step)) for step in out):
            body = out[j]["api_request"]
            if "response_length" not in body and "text" not in body:
                body["text"] = False
    return out


def _compact(slot: Slot, session: Session) -> dict[str, Any]:
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


def _duration(seconds: float) -> str:
    """A duration as a scenario file writes it: 250ms, 1m5.5s, 2h."""
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
