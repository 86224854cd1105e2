"""Each step kind's handler: the table a process dispatches its steps through, by kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from claude_telemetry_cli.scenario.compile.client import (
    FIELD_EVENT_STEPS,
    step_feedback_survey,
    step_permission_mode,
)
from claude_telemetry_cli.scenario.compile.conversation import (
    step_active,
    step_api_request,
    step_prompt,
    step_wait,
)
from claude_telemetry_cli.scenario.compile.extensions import (
    step_hook,
    step_hook_plugin_metrics,
    step_mcp_connect,
    step_plugin_install,
    step_skill,
    step_subagent,
)
from claude_telemetry_cli.scenario.compile.failures import step_api_error, step_api_refusal
from claude_telemetry_cli.scenario.compile.git import step_commit, step_pull_request
from claude_telemetry_cli.scenario.compile.tools import step_edit, step_tool

if TYPE_CHECKING:
    from claude_telemetry_cli.scenario.compile.process import Process

__all__ = ["STEP_HANDLERS", "StepHandler"]

# (process, the step's body, µs before the step's work, µs of the work) -> None; emits and moves the cursor.
StepHandler = Callable[["Process", Any, int, int], None]

STEP_HANDLERS: dict[str, StepHandler] = {
    "prompt": step_prompt,
    "api_request": step_api_request,
    "edit": step_edit,
    "tool": step_tool,
    "commit": step_commit,
    "pull_request": step_pull_request,
    "api_error": step_api_error,
    "active": step_active,
    "wait": step_wait,
    "api_refusal": step_api_refusal,
    "permission_mode": step_permission_mode,
    "mcp_connect": step_mcp_connect,
    "plugin_install": step_plugin_install,
    "skill": step_skill,
    "hook": step_hook,
    "hook_plugin_metrics": step_hook_plugin_metrics,
    "subagent": step_subagent,
    "feedback_survey": step_feedback_survey,
    **FIELD_EVENT_STEPS,
}
