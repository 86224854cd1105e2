"""A rebuilt scenario written as YAML: what was recorded, how to replay it, its caveats, its sessions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import yaml

from claude_telemetry_cli.scenario.reconstruct.processes import RecordedProcess
from claude_telemetry_cli.scenario.reconstruct.received import as_text, event_time

if TYPE_CHECKING:
    from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint

__all__ = ["scenario_yaml"]


def scenario_yaml(
    name: str,
    description: str | None,
    sessions: list[RecordedProcess],
    entries: list[dict[str, Any]],
    *,
    points: list[DecodedPoint],
    events: list[DecodedEvent],
    profile: str,
    env: dict[str, str],
    warnings: list[str],
) -> str:
    """The scenario file: a header comment on what was recorded, how to replay it and its caveats, then
    the scenario, with the fields every session shares written once under `defaults:`."""
    from_events = sum(1 for r in sessions if r.source == "events")
    from_metrics = len(sessions) - from_events
    times = [event_time(e) for e in events] + [p.time_ns for p in points]
    times = [t for t in times if t]
    temporality = sorted({p.temporality for p in points}) or ["none"]
    plural = "s" if len(sessions) != 1 else ""
    about = (
        f"Recorded by claude-telemetry record: {len(sessions)} Claude Code session{plural} "
        f"({from_events} from events, {from_metrics} from metrics only), from {len(points)} metric "
        f"points ({'/'.join(temporality)}) and {len(events)} events"
        + (f" received {_iso(min(times))} to {_iso(max(times))}." if times else ".")
        + " Replaying it with the same exporter setup gives back the recorded metric sums and event "
        + ("counts, except as the caveats below say; " if warnings else "counts; ")
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
    setup = [f"--profile {profile}"] if profile != "current" else []
    setup += [f"{k}={v}" for k, v in env.items()]
    if setup:
        lines.append("# Replay with:")
        lines.extend(f"#   {s}" for s in setup)
    if warnings:
        lines.append("# Caveats:")
        for warning in warnings:
            lines.extend(_wrap(warning, "#   - ", "#     "))
    header = {
        "version": 1,
        "name": name,
        "description": as_text(description) or _description(from_events, from_metrics),
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


def _description(from_events: int, from_metrics: int) -> str:
    total = from_events + from_metrics
    return f"{total} Claude Code session{'s' if total != 1 else ''} recorded from telemetry."


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


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
