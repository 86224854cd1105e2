"""Tool calls and edits: the permission decision, the edit metrics, the tool result."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from claude_telemetry_cli.contract import CODE_EDIT_TOOL_DECISION, LINES_OF_CODE_COUNT
from claude_telemetry_cli.contract.content_limit import truncate_content
from claude_telemetry_cli.contract.spans import TOOL_OUTPUT_PREFIX
from claude_telemetry_cli.records import AttrValue
from claude_telemetry_cli.scenario.model import Edit, Tool, default_source

if TYPE_CHECKING:
    from claude_telemetry_cli.scenario.compile.process import Process

__all__ = [
    "bash_span_attributes",
    "decision_attributes",
    "given",
    "parameters_text",
    "result_attributes",
    "step_edit",
    "step_tool",
    "tool_input",
    "tool_span_attributes",
]

# Programs whose Bash commands the claude_code.tool span classes as version control (2.1.332 sends
# `vcs` for git); any other program is `other`.
_VCS_PROGRAMS = frozenset({"git", "hg", "svn", "jj"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")

# The tools whose claude_code.tool span names its file (file_path), or its subagent (subagent_type).
_FILE_TOOLS = frozenset({"Read", "Edit", "Write"})
_AGENT_TOOLS = frozenset({"Agent", "Task"})

# tool_input values are cut at 512 characters and the whole payload at about 4K.
_INPUT_VALUE_LIMIT = 512
_INPUT_LIMIT = 4096


def step_edit(process: Process, edit: Edit, before: int, after: int) -> None:
    tool_use_id = process.new_base62("toolu_")
    source = edit.source or default_source(edit.decision)
    process.cursor += before
    process.event(
        process.cursor,
        "tool_decision",
        decision_attributes(process, edit.decision, source, edit.tool, tool_use_id),
        span_attributes=tool_span_attributes(
            process, edit.tool, tool_use_id, edit.input, {}, given(edit.result_size_bytes, 140)
        ),
    )
    process.metric(
        process.cursor,
        CODE_EDIT_TOOL_DECISION,
        1,
        {
            "decision": edit.decision,
            "source": source,
            "tool_name": edit.tool,
            "language": edit.language,
        },
    )
    if edit.decision != "accept":
        return
    process.cursor += after
    changed = edit.lines_added + edit.lines_removed
    model = edit.model or process.model
    process.metric(process.cursor, LINES_OF_CODE_COUNT, edit.lines_added, {"type": "added", "model": model})
    process.metric(
        process.cursor, LINES_OF_CODE_COUNT, edit.lines_removed, {"type": "removed", "model": model}
    )
    attributes = result_attributes(
        process,
        edit.tool,
        tool_use_id,
        True,
        edit.duration_ms,
        given(edit.input_size_bytes, 100 + 16 * changed),
        given(edit.result_size_bytes, 140),
    )
    attributes["tool_input"] = tool_input(process, edit.input)
    process.event(process.cursor, "tool_result", attributes)


def step_tool(process: Process, tool: Tool, before: int, after: int) -> None:
    tool_use_id = process.new_base62("toolu_")
    source = tool.source or default_source(tool.decision)
    parameters = parameters_text(process, tool.parameters)
    process.cursor += before
    command = None
    if tool.name == "Bash":
        given_command = (tool.input or {}).get("command") or tool.parameters.get("full_command")
        command = given_command if isinstance(given_command, str) else None
    process.event(
        process.cursor,
        "tool_decision",
        {
            **decision_attributes(process, tool.decision, source, tool.name, tool_use_id, tool.tool_source),
            "tool_parameters": parameters,
        },
        span_attributes=tool_span_attributes(
            process,
            tool.name,
            tool_use_id,
            tool.input,
            tool.parameters,
            given(tool.result_size_bytes, 120),
            command,
        ),
    )
    if tool.decision != "accept":
        return
    process.cursor += after
    error_type = None
    if not tool.success:
        error_type = tool.error_type or ("ShellError" if tool.name == "Bash" else "Error")
    attributes = result_attributes(
        process,
        tool.name,
        tool_use_id,
        tool.success,
        tool.duration_ms,
        given(tool.input_size_bytes, 80),
        given(tool.result_size_bytes, 120),
    )
    attributes["error_type"] = error_type
    attributes["mcp_server_scope"] = tool.mcp_server_scope
    attributes["tool_parameters"] = parameters
    if error_type is not None and process.options.log_tool_details:
        attributes["error"] = tool.error or error_type
    attributes["tool_input"] = tool_input(process, tool.input)
    process.event(process.cursor, "tool_result", attributes)


def tool_span_attributes(
    process: Process,
    tool_name: str,
    tool_use_id: str,
    arguments: dict[str, Any] | None,
    parameters: dict[str, Any],
    result_size: int,
    command: str | None = None,
) -> dict[str, AttrValue]:
    """What only the tool call's claude_code.tool span carries: a Bash command's class and program;
    with OTEL_LOG_TOOL_DETAILS what the call's arguments reveal (file_path, full_command, skill_name,
    subagent_type, tool_input); with OTEL_LOG_TOOL_CONTENT the `tool.output` span event's input and
    output bodies (keys under TOOL_OUTPUT_PREFIX), cut at the content limit."""
    out: dict[str, AttrValue] = dict(bash_span_attributes(command)) if tool_name == "Bash" else {}
    given_arguments = arguments or {}
    if process.options.log_tool_details:
        revealed = {
            "file_path": given_arguments.get("file_path") if tool_name in _FILE_TOOLS else None,
            "full_command": command if tool_name == "Bash" else None,
            "skill_name": (parameters.get("skill_name") or given_arguments.get("skill"))
            if tool_name == "Skill"
            else None,
            "subagent_type": (parameters.get("subagent_type") or given_arguments.get("subagent_type"))
            if tool_name in _AGENT_TOOLS
            else None,
            "tool_input": tool_input(process, arguments),
        }
        out.update({k: v for k, v in revealed.items() if isinstance(v, str)})
    if process.options.log_tool_content:
        limit = process.options.span_content_limit
        if arguments is not None:
            body = json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
            out[TOOL_OUTPUT_PREFIX + "tool_input"] = truncate_content(body, limit)[0]
        output = process.context.filler_text(result_size, f"{process.text_seed}/output/{tool_use_id}")
        out[TOOL_OUTPUT_PREFIX + "tool_output"] = truncate_content(output, limit)[0]
    return out


def bash_span_attributes(command: str | None) -> dict[str, AttrValue]:
    """What the claude_code.tool span of a Bash call says of its command: its class and its program
    (argv[0], without a path or the variable assignments before it). Nothing when the command is
    unknown."""
    words = [w for w in (command or "").split() if not _ASSIGNMENT.match(w)]
    if not words:
        return {}
    program = words[0].rsplit("/", 1)[-1]
    return {"bash_command_class": "vcs" if program in _VCS_PROGRAMS else "other", "bash_argv0": program}


def decision_attributes(
    process: Process,
    decision: str,
    source: str,
    tool_name: str,
    tool_use_id: str,
    tool_source: str = "builtin",
) -> dict[str, AttrValue | None]:
    """tool_decision's attributes."""
    return {
        "decision": decision,
        "source": source,
        "tool_name": tool_name,
        "tool_use_id": tool_use_id,
        "tool_source": tool_source,
        "permission_mode": process.permission_mode,
        "request_id": process.request_id,
    }


def result_attributes(
    process: Process,
    tool_name: str,
    tool_use_id: str,
    success: bool,
    duration_ms: int,
    input_size: int,
    result_size: int,
) -> dict[str, AttrValue | None]:
    """tool_result's attributes that every tool call has."""
    # Strings, not numbers: that is how 2.1.331 sends them.
    return {
        "tool_name": tool_name,
        "tool_use_id": tool_use_id,
        "success": "true" if success else "false",
        "duration_ms": str(duration_ms),
        "tool_input_size_bytes": str(input_size),
        "tool_result_size_bytes": str(result_size),
        "request_id": process.request_id,
    }


def parameters_text(process: Process, parameters: dict[str, Any]) -> str | None:
    if not process.options.log_tool_details:
        return None
    # JSON.stringify spacing: what Claude Code puts on the wire.
    return json.dumps(parameters, separators=(",", ":"))


def tool_input(process: Process, arguments: dict[str, Any] | None) -> str | None:
    if arguments is None or not process.options.log_tool_details:
        return None
    cut = {k: v[:_INPUT_VALUE_LIMIT] if isinstance(v, str) else v for k, v in arguments.items()}
    return json.dumps(cut, separators=(",", ":"), ensure_ascii=False)[:_INPUT_LIMIT]


def given(value: int | None, default: int) -> int:
    return default if value is None else value
