"""What extends Claude Code: plugins, skills, hooks, MCP servers and subagents, named or redacted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from claude_telemetry_cli.records import AttrValue
from claude_telemetry_cli.scenario.compile.wire_values import BUILTIN_HASHES, flag, plugin_hash
from claude_telemetry_cli.scenario.model import (
    Hook,
    HookConfig,
    HookPluginMetrics,
    McpConnect,
    Plugin,
    PluginInstall,
    Skill,
    Subagent,
    effective_model,
)

if TYPE_CHECKING:
    from claude_telemetry_cli.scenario.compile.process import Process

__all__ = [
    "hook_registered",
    "plugin_loaded",
    "step_hook",
    "step_hook_plugin_metrics",
    "step_mcp_connect",
    "step_plugin_install",
    "step_skill",
    "step_subagent",
]

_THIRD_PARTY = "third-party"
# Skills whose names events show verbatim; user-defined ones read `custom_skill` without tool details.
_BUILTIN_SKILL_SOURCES = ("bundled", "builtin", "built-in")


# -- at start-up --------------------------------------------------------------------------------------


def plugin_loaded(process: Process, plugin: Plugin) -> dict[str, AttrValue | None]:
    """plugin_loaded's attributes."""
    builtin = plugin.name in BUILTIN_HASHES and plugin.marketplace == "builtin"
    # A `plugins:` entry is the plugin as plugin_loaded shows it (`record` writes them from the wire),
    # so a third-party plugin's name is whatever the recording saw: no redaction here.
    return {
        "plugin.name": plugin.name,
        "marketplace.name": plugin.marketplace,
        "plugin.version": plugin.version,
        "plugin.scope": plugin.scope,
        "enabled_via": plugin.enabled_via,
        "plugin_id_hash": plugin.id_hash or plugin_hash(plugin.name, plugin.marketplace),
        "has_hooks": plugin.has_hooks if plugin.has_hooks is not None else builtin,
        "has_mcp": plugin.has_mcp,
        "host_owned_mcp": plugin.host_owned_mcp,
        "skill_path_count": plugin.skill_path_count,
        "command_path_count": plugin.command_path_count,
        "agent_path_count": plugin.agent_path_count,
        "safe_mode": "true" if process.entry.safe_mode else "false",
    }


def hook_registered(process: Process, hook: HookConfig) -> dict[str, AttrValue | None]:
    """hook_registered's attributes."""
    return {
        "hook_event": hook.event,
        "hook_type": hook.type,
        "hook_source": hook.effective_source,
        "safe_mode": flag(process.entry.safe_mode),
        "hook_matcher": hook.matcher if process.options.log_tool_details else None,
        **_plugin_identity(process, hook),
    }


# -- steps --------------------------------------------------------------------------------------------


def step_mcp_connect(process: Process, connection: McpConnect, before: int, after: int) -> None:
    process.cursor += after
    failed = connection.status == "failed"
    details = process.options.log_tool_details
    process.event(
        process.cursor,
        "mcp_server_connection",
        {
            "status": connection.status,
            "transport_type": connection.transport,
            "server_scope": connection.scope,
            "duration_ms": connection.duration_ms,
            "error_code": connection.error_code,
            "is_plugin": connection.plugin is not None,
            **_plugin_identity(process, connection),
            "server_name": connection.server if details else None,
            "error": (connection.error or connection.error_code or "Connection failed")
            if failed and details
            else None,
        },
    )


def step_plugin_install(process: Process, install: PluginInstall, before: int, after: int) -> None:
    official = install.is_official
    # A third-party marketplace's names are left out entirely, not replaced.
    named = process.may_name(official)
    process.event(
        process.cursor,
        "plugin_installed",
        {
            "marketplace.is_official": flag(official),
            "install.trigger": install.trigger,
            "plugin.name": install.name if named else None,
            "plugin.version": install.version if named else None,
            "marketplace.name": install.marketplace if named else None,
        },
    )


def step_skill(process: Process, skill: Skill, before: int, after: int) -> None:
    source = skill.effective_source
    official = skill.plugin_official
    plugin_named = skill.plugin is not None and process.may_name(official)
    verbatim = source in _BUILTIN_SKILL_SOURCES or official
    process.event(
        process.cursor,
        "skill_activated",
        {
            "skill.name": skill.name if process.may_name(verbatim) else "custom_skill",
            "invocation_trigger": skill.trigger,
            "skill.source": source,
            "skill.kind": skill.kind,
            "plugin.name": skill.plugin if plugin_named else None,
            "marketplace.name": skill.plugin_marketplace if plugin_named else None,
        },
    )
    # The cost counter's rules, with no gate: user-defined skills are named, third-party plugins not,
    # and only an official plugin's marketplace is given.
    third_party = skill.plugin is not None and not official
    attribution = {
        "skill.name": _THIRD_PARTY if third_party else skill.name,
        "plugin.name": None if skill.plugin is None else _THIRD_PARTY if third_party else skill.plugin,
        "marketplace.name": skill.plugin_marketplace if official else None,
    }
    process.skill_attribution = {k: v for k, v in attribution.items() if v is not None}


def step_hook(process: Process, hook: Hook, before: int, after: int) -> None:
    entry = process.entry
    execution = {
        "hook_event": hook.event,
        "hook_name": f"{hook.event}:{hook.matcher}" if hook.matcher else hook.event,
        "num_hooks": hook.hooks,
    }
    definitions = None
    if process.options.log_tool_details and entry.beta_tracing_detailed:
        definition = {"type": hook.type, "command": hook.command}
        definitions = json.dumps(
            [
                {
                    "matcher": hook.matcher or "",
                    "hooks": [{k: v for k, v in definition.items() if v}] * hook.hooks,
                }
            ],
            separators=(",", ":"),
        )
    context = {
        "managed_only": flag(hook.managed_only),
        "hook_source": hook.effective_source,
        "safe_mode": flag(entry.safe_mode),
        "hook_definitions": definitions,
    }
    process.event(process.cursor, "hook_execution_start", {**execution, **context})
    process.cursor += after
    outcome = {
        "num_success": hook.effective_succeeded,
        "num_blocking": hook.blocking,
        "num_non_blocking_error": hook.non_blocking_errors,
        "num_cancelled": hook.cancelled,
        "total_duration_ms": hook.duration_ms,
    }
    process.event(process.cursor, "hook_execution_complete", {**execution, **outcome, **context})


def step_hook_plugin_metrics(process: Process, report: HookPluginMetrics, before: int, after: int) -> None:
    process.event(
        process.cursor,
        "hook_plugin_metrics",
        {"plugin_id": f"{report.plugin}@{report.plugin_marketplace}", "hook_event": report.event},
        plugin_metrics=dict(report.metrics),
    )


def step_subagent(process: Process, agent: Subagent, before: int, after: int) -> None:
    process.cursor += after
    source = agent.effective_source
    built_in = source == "built-in"
    model = effective_model(process.entry, agent)
    final_model = agent.final_model or model
    process.event(
        process.cursor,
        "subagent_completed",
        {
            "agent_type": agent.type if process.may_name(built_in or agent.plugin_official) else "custom",
            "agent.source": source,
            "is_built_in": built_in,
            "is_async": agent.background,
            "total_tokens": agent.total_tokens,
            "total_tool_uses": agent.tool_uses,
            "duration_ms": agent.duration_ms,
            "model": model,
            "final_model": final_model,
            "model_swapped": final_model != model,
            **_plugin_identity(process, agent),
        },
    )


def _plugin_identity(
    process: Process, ref: McpConnect | Subagent | HookConfig
) -> dict[str, AttrValue | None]:
    if ref.plugin is None:
        return {}
    return {
        "plugin_id_hash": plugin_hash(ref.plugin, ref.plugin_marketplace),
        "plugin.name": ref.plugin if process.may_name(ref.plugin_official) else _THIRD_PARTY,
    }
