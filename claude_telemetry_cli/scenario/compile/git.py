"""Commits and pull requests: a Bash call Claude Code counts, with its decision and result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claude_telemetry_cli.contract import COMMIT_COUNT, PULL_REQUEST_COUNT
from claude_telemetry_cli.scenario.compile.tools import (
    decision_attributes,
    given,
    parameters_text,
    result_attributes,
    tool_input,
    tool_span_attributes,
)
from claude_telemetry_cli.scenario.compile.wire_values import hex_digits
from claude_telemetry_cli.scenario.model import Commit, PullRequest

if TYPE_CHECKING:
    from claude_telemetry_cli.scenario.compile.process import Process

__all__ = ["step_commit", "step_pull_request"]


def step_commit(process: Process, commit: Commit, before: int, after: int) -> None:
    git_commit_id = hex_digits(process.rng, 40)
    command = commit.command or 'git commit -m "Add feature"'
    _bash(
        process,
        commit,
        before,
        after,
        command,
        "Commit changes",
        COMMIT_COUNT,
        (78, 83),
        {"git_commit_id": git_commit_id, "git_branch": commit.branch},
        {
            "vcs.ref.head.name": commit.branch,
            "vcs.ref.head.revision": git_commit_id,
            "vcs.ref.head.type": "branch",
        },
    )


def step_pull_request(process: Process, pull_request: PullRequest, before: int, after: int) -> None:
    command = pull_request.command or "gh pr create --fill"
    _bash(
        process,
        pull_request,
        before,
        after,
        command,
        "Open a pull request",
        PULL_REQUEST_COUNT,
        (112, 96),
        {},
        {},
    )


def _bash(
    process: Process,
    step: Commit | PullRequest,
    before: int,
    after: int,
    command: str,
    description: str,
    counter: str,
    sizes: tuple[int, int],
    outcome: dict[str, Any],
    vcs: dict[str, str],
) -> None:
    """`outcome`: what tool_parameters adds once the command ran; `vcs`: the commit's vcs.ref.head.*
    attributes. Both only with OTEL_LOG_TOOL_DETAILS."""
    tool_use_id = process.new_base62("toolu_")
    parameters = {
        "bash_command": command.split()[0],
        "full_command": command,
        "timeout": 120000,
        "description": description,
        "dangerouslyDisableSandbox": False,
    }
    process.cursor += before
    process.event(
        process.cursor,
        "tool_decision",
        {
            **decision_attributes(process, "accept", step.source, "Bash", tool_use_id),
            "tool_parameters": parameters_text(process, parameters),
        },
        span_attributes=tool_span_attributes(
            process,
            "Bash",
            tool_use_id,
            {"command": command, "description": description},
            parameters,
            given(step.result_size_bytes, sizes[1]),
            command,
        ),
    )
    process.cursor += after
    process.metric(process.cursor, counter, 1, {})
    result = result_attributes(
        process,
        "Bash",
        tool_use_id,
        True,
        step.duration_ms,
        given(step.input_size_bytes, sizes[0]),
        given(step.result_size_bytes, sizes[1]),
    )
    result["tool_parameters"] = parameters_text(process, {**parameters, **outcome})
    result["tool_input"] = tool_input(process, {"command": command, "description": description})
    if process.options.log_tool_details:
        result.update(vcs)
    process.event(process.cursor, "tool_result", result)
