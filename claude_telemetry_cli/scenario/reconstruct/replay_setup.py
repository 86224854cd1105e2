"""The switches a recording was made with (profile, OTEL_* variables), as far as the data shows them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.scenario.reconstruct.received import event_time, freeze

if TYPE_CHECKING:
    from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint

__all__ = ["replay_setup"]

_RESOURCE_BUILTIN = ("host.arch", "os.type", "os.version", "service.name", "service.version")


def replay_setup(
    points: list[DecodedPoint], events: list[DecodedEvent], warn: Callable[[str], None]
) -> tuple[EmitOptions, dict[str, str], str]:
    """(the options to compile the replay with, the variables beyond the exporter setup, the profile)."""
    env: dict[str, str] = {}
    profile = "current"
    if any(p.unit == "count" for p in points):
        profile = "2025-05"
    point_keys = {k for p in points for k, _ in p.attributes}
    event_keys = {k for e in events for k, _ in e.attributes}
    pairs: list[tuple[str, str]] = []
    stamped = [(event_time(e), repr(e.resource), e.resource) for e in events]
    stamped += [(p.start_ns or p.time_ns, repr(p.resource), p.resource) for p in points]
    resources = {freeze(r) for _, _, r in stamped}
    # The earliest session's, whatever order the data arrived in.
    first = min(stamped)[2] if stamped else ()
    for key, value in first:
        if key not in _RESOURCE_BUILTIN:
            pairs.append((key, str(value)))
    extras = {(k, str(v)) for r in resources for k, v in r if k not in _RESOURCE_BUILTIN}
    if extras - set(pairs):
        warn(
            "Sessions were recorded with different OTEL_RESOURCE_ATTRIBUTES; one replay can only have "
            "one, so the first session's is used."
        )
    if pairs:
        text = ",".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
        env["OTEL_RESOURCE_ATTRIBUTES"] = text
        warn(
            f"The resource carried OTEL_RESOURCE_ATTRIBUTES pairs, which come from the environment, not "
            f"from a scenario: replay with OTEL_RESOURCE_ATTRIBUTES={text}."
        )
    include_session_id = not points or "session.id" in point_keys
    include_version = "app.version" in point_keys
    include_entrypoint = "app.entrypoint" in point_keys
    account_keys = {"user.account_uuid", "user.account_id"}
    include_account = not (points and event_keys & account_keys and not point_keys & account_keys)
    include_resource = not (
        profile == "current" and points and pairs and not point_keys & {k for k, _ in pairs}
    )
    if any(p.temporality == "cumulative" for p in points):
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
