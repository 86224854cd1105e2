"""What the client reports of itself: permission modes, sign-in, mentions, compaction, internal errors and
feedback surveys."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from claude_telemetry_cli.scenario.compile.wire_values import flag
from claude_telemetry_cli.scenario.model import FeedbackSurvey, PermissionModeChange

if TYPE_CHECKING:
    from claude_telemetry_cli.scenario.compile.process import Process

__all__ = ["FIELD_EVENT_STEPS", "step_feedback_survey", "step_permission_mode"]

# Steps that are one event whose attributes are the step's own fields: kind -> (event, (key, field,
# conversion)). A field left None leaves its attribute out.
_FIELD_EVENTS: dict[str, tuple[str, tuple[tuple[str, str, Any], ...]]] = {
    "auth": (
        "auth",
        (
            ("action", "action", None),
            ("success", "success", flag),
            ("auth_method", "auth_method", None),
            ("error_category", "error_category", None),
            ("status_code", "status_code", str),
        ),
    ),
    "internal_error": ("internal_error", (("error_name", "name", None), ("error_code", "code", None))),
    "at_mention": ("at_mention", (("mention_type", "type", None), ("success", "success", flag))),
    "compaction": (
        "compaction",
        (
            ("trigger", "trigger", None),
            ("success", "success", flag),
            ("duration_ms", "duration_ms", None),
            ("pre_tokens", "pre_tokens", None),
            ("post_tokens", "post_tokens", None),
            ("error", "error", None),
            ("precompute_reuse", "precompute_reuse", None),
        ),
    ),
}


def _field_event(kind: str) -> Callable[[Process, Any, int, int], None]:
    event, fields = _FIELD_EVENTS[kind]

    def step(process: Process, body: Any, before: int, after: int) -> None:
        if kind == "internal_error" and (
            process.entry.provider != "firstParty" or not process.options.error_reporting
        ):
            return  # not reported against Bedrock, Vertex or Foundry, nor with DISABLE_ERROR_REPORTING
        process.cursor += after
        own = {}
        for key, field, convert in fields:
            value = getattr(body, field)
            own[key] = convert(value) if convert is not None and value is not None else value
        process.event(process.cursor, event, own)

    return step


# The handlers of the steps that are one event of their fields, by kind.
FIELD_EVENT_STEPS = {kind: _field_event(kind) for kind in _FIELD_EVENTS}


def step_permission_mode(process: Process, change: PermissionModeChange, before: int, after: int) -> None:
    current = process.permission_mode
    if change.from_mode not in (None, current):
        raise process.fail(f"from is {change.from_mode!r} but the session is in {current!r} here")
    if change.to == current:
        raise process.fail(f"the session is already in {current!r}")
    if change.trigger == "exit_plan_mode" and current != "plan":
        raise process.fail(f"trigger exit_plan_mode leaves plan mode, but the session is in {current!r}")
    process.event(
        process.cursor,
        "permission_mode_changed",
        {"from_mode": current, "to_mode": change.to, "trigger": change.trigger},
    )
    process.permission_mode = change.to


def step_feedback_survey(process: Process, survey: FeedbackSurvey, before: int, after: int) -> None:
    if survey.appearance_id is not None:
        process.appearance_id = survey.appearance_id
    elif survey.event_type == "appeared" or process.appearance_id is None:
        # A new survey instance: its later events (responded, ...) share this id.
        process.appearance_id = process.catalogue_uuid()
    process.event(
        process.cursor,
        "feedback_survey",
        {
            "event_type": survey.event_type,
            "appearance_id": process.appearance_id,
            "survey_type": survey.survey_type,
            "response": survey.response,
            "enabled_via_override": survey.enabled_via_override if survey.survey_type == "session" else None,
        },
    )
