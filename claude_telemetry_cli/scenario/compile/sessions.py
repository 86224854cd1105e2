"""Compile a Scenario into a Timeline: the exact records each simulated Claude Code process emits."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator
from operator import attrgetter
from typing import Any

from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.records import Record, SessionInfo, Timeline
from claude_telemetry_cli.scenario.compile.process import Context, Process
from claude_telemetry_cli.scenario.compile.timing import micros, session_length
from claude_telemetry_cli.scenario.compile.wire_values import hex_digits
from claude_telemetry_cli.scenario.model import (
    STEP_KINDS,
    ApiError,
    ApiRefusal,
    ApiRequest,
    Scenario,
    ScenarioHeader,
    Session,
    Subagent,
    effective_model,
)

__all__ = ["compile_scenario", "compile_sessions", "scenario_summary", "with_client_environment"]

# Session fields the client's own environment decides when the scenario leaves them out, with the
# EmitOptions field that carries what the environment said.
_FROM_ENVIRONMENT = ("custom_base_url", "provider", "terminal_type")


def compile_scenario(scenario: Scenario, options: EmitOptions | None = None) -> Timeline:
    """Every record every session copy emits, ordered by (time, session, emission order)."""
    options = options or EmitOptions()
    infos: list[SessionInfo] = []
    records: list[Record] = []
    for info, emitted in compile_sessions(scenario, enumerate(scenario.sessions), options):
        infos.append(info)
        records.extend(emitted)
    # Stable: records of one session at one instant keep their emission order.
    records.sort(key=lambda r: (r.at, r.session))
    return Timeline(scenario.name, get_profile(options.profile).name, tuple(infos), tuple(records))


def compile_sessions(
    header: ScenarioHeader,
    entries: Iterable[tuple[int, Session]],
    options: EmitOptions | None = None,
    *,
    first_process: int = 0,
) -> Iterator[tuple[SessionInfo, list[Record]]]:
    """Each simulated process of the session entries, as it is compiled: its SessionInfo and its
    records in time order (emission order at one instant). `entries` pairs each Session with its
    index in the file, which seeds its ids; processes are numbered in order from `first_process` (a
    later part of the file, compiled on its own, continues the numbering)."""
    options = options or EmitOptions()
    context = Context(header, options, get_profile(options.profile))
    count = first_process
    for i, entry in entries:
        context.check_prices(i, entry)
        entry = with_client_environment(entry, options)
        user_id = entry.user.id or hex_digits(random.Random(f"{header.seed}/user/{_identity(entry, i)}"), 64)
        for k in range(entry.repeat):
            start = micros(entry.start_at) + k * micros(entry.repeat_every)
            label = entry.label or f"sessions[{i}]"
            if entry.repeat > 1:
                label = f"{label}#{k + 1}"
            process = Process(context, entry, (i, k), count, start, user_id, label)
            count += 1
            info, emitted = process.run()
            emitted.sort(key=_AT)
            yield info, emitted


_AT = attrgetter("at")


def with_client_environment(entry: Session, options: EmitOptions) -> Session:
    """The session as its process sees itself: ANTHROPIC_BASE_URL, the CLAUDE_CODE_USE_* switches and TERM
    (as `options` carry them) fill custom_base_url, provider and terminal_type; a field the scenario (or
    its defaults) sets wins."""
    update = {
        name: getattr(options, name)
        for name in _FROM_ENVIRONMENT
        if name not in entry.model_fields_set and getattr(options, name) is not None
    }
    return entry.model_copy(update=update) if update else entry


def scenario_summary(scenario: Scenario) -> dict[str, Any]:
    """What `scenarios show` prints: sessions (repeats included), steps by kind, simulated duration."""
    steps: Counter[str] = Counter()
    sessions = 0
    duration = 0.0
    models: set[str] = set()
    users: set[str] = set()
    for i, entry in enumerate(scenario.sessions):
        sessions += entry.repeat
        users.add(entry.user.id or _identity(entry, i))
        for step in entry.steps:
            steps[step.kind] += entry.repeat
            if isinstance(step.body, (ApiRequest, ApiError, ApiRefusal, Subagent)):
                models.add(effective_model(entry, step.body))
        last_start = entry.start_at + (entry.repeat - 1) * entry.repeat_every
        duration = max(duration, last_start + session_length(entry))
    return {
        "name": scenario.name,
        "description": scenario.description,
        "seed": scenario.seed,
        "sessions": sessions,
        "session_entries": len(scenario.sessions),
        "users": len(users),
        "steps": {kind: steps[kind] for kind in STEP_KINDS if steps[kind]},
        "models": sorted(models),
        "duration_seconds": round(duration, 6),
    }


def _identity(entry: Session, index: int) -> str:
    """Who the user is: entries naming the same person share one install id unless they give `id`."""
    user = entry.user
    return user.email or user.account_uuid or user.account_id or f"sessions[{index}]"
