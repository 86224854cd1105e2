"""Received telemetry -> a scenario whose replay delivers the same totals: the steps of `record`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from claude_telemetry_cli.contract import LOGGER_NAME, PROFILES
from claude_telemetry_cli.scenario.loader import load_scenario_text
from claude_telemetry_cli.scenario.reconstruct.event_steps import steps_from_events
from claude_telemetry_cli.scenario.reconstruct.metric_shares import share_metrics
from claude_telemetry_cli.scenario.reconstruct.metric_steps import steps_from_metrics
from claude_telemetry_cli.scenario.reconstruct.processes import group_processes
from claude_telemetry_cli.scenario.reconstruct.received import METRIC_KEYS, as_text
from claude_telemetry_cli.scenario.reconstruct.replay_check import check_replay
from claude_telemetry_cli.scenario.reconstruct.replay_setup import replay_setup
from claude_telemetry_cli.scenario.reconstruct.scenario_file import scenario_yaml
from claude_telemetry_cli.scenario.reconstruct.session_entries import session_entry

if TYPE_CHECKING:
    from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint

__all__ = ["RecordedScenario", "build_scenario"]

_EVENT_SPECS = PROFILES["current"].events


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


def build_scenario(
    points: list[DecodedPoint],
    events: list[DecodedEvent],
    *,
    name: str = "recorded",
    description: str | None = None,
) -> RecordedScenario:
    """Turn what a receiver decoded into a scenario that replays it; see RecordedScenario."""
    name = as_text(name) or "recorded"
    # Each caveat once, in the order met: they end up in the file's header.
    warnings: list[str] = []

    def warn(sentence: str) -> None:
        if sentence not in warnings:
            warnings.append(sentence)

    claude_points = [p for p in points if p.name in METRIC_KEYS]
    claude_events = [e for e in events if _is_claude_event(e)]
    ignored = len(points) - len(claude_points) + len(events) - len(claude_events)
    points, events = claude_points, claude_events
    if ignored:
        warn(f"{ignored} points and events that are not Claude Code telemetry were ignored.")
    clusters = group_processes(points, events, warn)
    if not clusters:
        return _nothing_recorded(ignored, warn, warnings)
    options, env, profile = replay_setup(points, events, warn)
    unreproduced: Counter[str] = Counter()
    # Events per name once duplicates are dropped: what the replay is checked against.
    kept: Counter[str] = Counter()
    for cluster in clusters:
        for recorded in cluster.sessions:
            if recorded.source == "events":
                steps_from_events(recorded, warn, unreproduced, kept)
        if any(r.source == "events" for r in cluster.sessions):
            share_metrics(cluster, warn)
        else:
            steps_from_metrics(cluster, warn)
            if profile == "current" and points:
                warn(
                    "Some sessions were recorded from metrics only (their events were not received): "
                    "replaying them with OTEL_LOGS_EXPORTER set sends events the recording did not have."
                )
    sessions = sorted(
        (r for c in clusters for r in c.sessions),
        key=lambda r: (r.start_ns, r.session_id or "", repr(r.key)),
    )
    if unreproduced:
        kinds = ", ".join(f"{n} {event}" for event, n in sorted(unreproduced.items()))
        warn(f"Events no scenario step emits were left out: {kinds}.")
    entries = [session_entry(r, sessions[0].start_ns, warn) for r in sessions]

    def file_text() -> str:
        return scenario_yaml(
            name,
            description,
            sessions,
            entries,
            points=points,
            events=events,
            profile=profile,
            env=env,
            warnings=warnings,
        )

    scenario = load_scenario_text(file_text(), f"{name}.yaml")
    check_replay(scenario, sessions, options, points, kept, warn)
    # Again: the check may have added caveats to the header.
    return RecordedScenario(
        yaml=file_text(),
        sessions=len(sessions),
        source=[r.source for r in sessions],
        warnings=list(warnings),
        profile=profile,
        env=dict(env),
    )


def _is_claude_event(e: DecodedEvent) -> bool:
    body = e.body if isinstance(e.body, str) else ""
    return e.scope_name == LOGGER_NAME or body.startswith("claude_code.") or e.name in _EVENT_SPECS


def _nothing_recorded(ignored: int, warn: Callable[[str], None], warnings: list[str]) -> RecordedScenario:
    why = "none of what was received is Claude Code telemetry" if ignored else "nothing was received"
    warn(
        f"No Claude Code session was recorded: {why}. Check that the client exports to this receiver "
        "(CLAUDE_CODE_ENABLE_TELEMETRY=1, OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER, the endpoint)."
    )
    text = (
        "# Recorded by claude-telemetry record: no Claude Code session was received, so there is no\n"
        "# scenario to write.\n"
    )
    return RecordedScenario(yaml=text, sessions=0, source=[], warnings=list(warnings))
