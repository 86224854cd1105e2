"""The two contract profiles: `current` (Claude Code 2.1.331 as observed) and `2025-05` (the seed page)."""

from __future__ import annotations

from claude_telemetry_cli.contract.model import AttributeSpec as A
from claude_telemetry_cli.contract.model import EventSpec, MetricSpec, ModelPrice, Profile

SERVICE_NAME = "claude-code"
METER_NAME = "com.anthropic.claude_code"
LOGGER_NAME = "com.anthropic.claude_code.events"
DEFAULT_APP_VERSION = "2.1.331"
DEFAULT_MODEL = "claude-sonnet-4-5"
DEFAULT_PROFILE = "current"

# USD per million tokens. Cache writes are priced at the 5-minute rate.
MODEL_PRICES: dict[str, ModelPrice] = {
    "claude-opus-4-5": ModelPrice(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-1": ModelPrice(15.0, 75.0, 1.50, 18.75),
    "claude-opus-4": ModelPrice(15.0, 75.0, 1.50, 18.75),
    "claude-sonnet-4-5": ModelPrice(3.0, 15.0, 0.30, 3.75),
    "claude-sonnet-4": ModelPrice(3.0, 15.0, 0.30, 3.75),
    "claude-3-7-sonnet": ModelPrice(3.0, 15.0, 0.30, 3.75),
    "claude-haiku-4-5": ModelPrice(1.0, 5.0, 0.10, 1.25),
    "claude-3-5-haiku": ModelPrice(0.80, 4.0, 0.08, 1.0),
    # The model name and prices the real 2.1.331 session reported (see the reference capture).
    "claude-opus-5-5": ModelPrice(4.0, 20.0, 0.20, 5.0),
}


def price_request(
    price: ModelPrice,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_creation_tokens: int,
) -> float:
    """Cost in USD of one API request, summed term by term as Claude Code does.

    The order of float operations matters: the real client reports 0.0023200000000000004, not 0.00232.
    """
    return (
        input_tokens / 1e6 * price.input
        + output_tokens / 1e6 * price.output
        + cache_read_tokens / 1e6 * price.cache_read
        + cache_creation_tokens / 1e6 * price.cache_write
    )


_QUERY = A("query_source", "string", "main, subagent or auxiliary on metrics")
_SPEED_METRIC = A("speed", "string", "`fast` when fast mode was used; absent otherwise", "optional")
_EFFORT = A(
    "effort", "string", "low, medium, high, xhigh or max; absent when the model has no effort", "optional"
)
ATTRIBUTION = (
    A("agent.name", "string", "subagent type that issued the request", "optional"),
    A("skill.name", "string", "skill active for the request", "optional"),
    A("plugin.name", "string", "plugin owning the skill or agent", "optional"),
    A("marketplace.name", "string", "marketplace of the owning plugin", "optional"),
    A("mcp_server.name", "string", "MCP server whose result the request consumed", "optional"),
    A("mcp_tool.name", "string", "MCP tool whose result the request consumed", "optional"),
)


def _metrics(count_unit: str, descriptions: dict[str, str], names: list[str], rich_attributes: bool):
    api_attrs = (A("model", "string"),)
    if rich_attributes:
        api_attrs = api_attrs + (_QUERY, _SPEED_METRIC, _EFFORT) + ATTRIBUTION
    specs = {
        "claude_code.session.count": MetricSpec(
            "claude_code.session.count",
            descriptions["session"],
            count_unit,
            (A("start_type", "string", "fresh, resume, continue or agents_view"),) if rich_attributes else (),
        ),
        "claude_code.lines_of_code.count": MetricSpec(
            "claude_code.lines_of_code.count",
            descriptions["lines"],
            count_unit,
            (A("type", "string", "added or removed"),) + ((A("model", "string"),) if rich_attributes else ()),
        ),
        "claude_code.pull_request.count": MetricSpec(
            "claude_code.pull_request.count", descriptions["pr"], count_unit
        ),
        "claude_code.commit.count": MetricSpec(
            "claude_code.commit.count", descriptions["commit"], count_unit
        ),
        "claude_code.cost.usage": MetricSpec(
            "claude_code.cost.usage", descriptions["cost"], "USD", api_attrs
        ),
        "claude_code.token.usage": MetricSpec(
            "claude_code.token.usage",
            descriptions["token"],
            "tokens",
            api_attrs + (A("type", "string", "input, output, cacheRead or cacheCreation"),),
        ),
        "claude_code.code_edit_tool.decision": MetricSpec(
            "claude_code.code_edit_tool.decision",
            descriptions.get("decision", ""),
            count_unit,
            (
                A("decision", "string", "accept or reject"),
                A(
                    "source",
                    "string",
                    "config, hook, user_permanent, user_temporary, user_abort, user_reject",
                ),
                A("tool_name", "string", "Edit, Write or NotebookEdit"),
                A("language", "string", "language of the edited file, `unknown` if unrecognised"),
            ),
        ),
        "claude_code.active_time.total": MetricSpec(
            "claude_code.active_time.total",
            descriptions.get("active", ""),
            "s",
            (A("type", "string", "user or cli"),),
        ),
    }
    return {n: specs[n] for n in names}


_CURRENT_DESCRIPTIONS = {
    "session": "Count of CLI sessions started",
    "lines": "Count of lines of code modified, with the 'type' attribute indicating whether lines were added "
    "or removed and the 'model' attribute indicating which model made the change",
    "pr": "Number of pull requests created",
    "commit": "Number of git commits created",
    "cost": "Cost of the Claude Code session",
    "token": "Number of tokens used",
    "decision": "Count of code editing tool permission decisions (accept/reject) for Edit, Write, and "
    "NotebookEdit tools",
    "active": "Total active time in seconds",
}
_SEED_DESCRIPTIONS = {
    "session": "Count of CLI sessions started",
    "lines": "Count of lines of code modified",
    "pr": "Number of pull requests created",
    "commit": "Number of git commits created",
    "cost": "Cost of the Claude Code session",
    "token": "Number of tokens used",
}
_ALL_METRICS = [
    "claude_code.session.count",
    "claude_code.lines_of_code.count",
    "claude_code.pull_request.count",
    "claude_code.commit.count",
    "claude_code.cost.usage",
    "claude_code.token.usage",
    "claude_code.code_edit_tool.decision",
    "claude_code.active_time.total",
]

_GATE_PROMPTS = "OTEL_LOG_USER_PROMPTS"
_GATE_TOOLS = "OTEL_LOG_TOOL_DETAILS"
_GATE_RESPONSES = "OTEL_LOG_ASSISTANT_RESPONSES"

CURRENT_EVENTS = {
    e.name: e
    for e in (
        EventSpec(
            "user_prompt",
            "A user submitted a prompt; starts a new prompt.id",
            (
                A("prompt_length", "string", "length of the prompt, as a string"),
                A("prompt", "string", "`<REDACTED>` unless OTEL_LOG_USER_PROMPTS=1", _GATE_PROMPTS),
                A("prompt_text", "string", "redacted like `prompt`", _GATE_PROMPTS),
                A("message.uuid", "string", "transcript entry of the user message"),
            ),
        ),
        EventSpec(
            "api_request",
            "One API request to Claude completed",
            (
                A("model", "string"),
                A("input_tokens", "int"),
                A("output_tokens", "int"),
                A("cache_read_tokens", "int"),
                A("cache_creation_tokens", "int"),
                A("cache_creation_5m_tokens", "int"),
                A("cache_creation_1h_tokens", "int"),
                A("cost_usd", "double"),
                A("cost_usd_micros", "int"),
                A("duration_ms", "int"),
                A("ttft_ms", "int", "time to first token"),
                A("request_id", "string"),
                A("speed", "string", "fast or normal"),
                A("query_source", "string", "subsystem: sdk, repl_main_thread, compact, an agent name"),
                _EFFORT,
            )
            + ATTRIBUTION,
        ),
        EventSpec(
            "assistant_response",
            "An API response carried text",
            (
                A("response_length", "int"),
                A(
                    "response",
                    "string",
                    "`<REDACTED>` unless OTEL_LOG_ASSISTANT_RESPONSES=1",
                    _GATE_RESPONSES,
                ),
                A("request_id", "string"),
                A("message.uuid", "string"),
                A("model", "string"),
                A("query_source", "string"),
            ),
        ),
        EventSpec(
            "api_error",
            "An API request failed; emitted once after the retries end",
            (
                A("model", "string"),
                A("error", "string"),
                A("status_code", "int", "absent for non-HTTP errors", "optional"),
                A("duration_ms", "int"),
                A("attempt", "int", "total attempts, 1 means no retry"),
                A("speed", "string"),
                A("query_source", "string"),
                _EFFORT,
            ),
        ),
        EventSpec(
            "api_retries_exhausted",
            "An API request failed after more than one attempt",
            (
                A("model", "string"),
                A("error", "string"),
                A("status_code", "int", "absent for non-HTTP errors", "optional"),
                A("total_attempts", "int"),
                A("total_retry_duration_ms", "int"),
                A("speed", "string"),
            ),
        ),
        EventSpec(
            "tool_decision",
            "A tool permission decision (accept or reject)",
            (
                A("decision", "string", "accept or reject"),
                A(
                    "source",
                    "string",
                    "config, hook, user_permanent, user_temporary, user_abort, user_reject",
                ),
                A("tool_name", "string"),
                A("tool_use_id", "string"),
                A("tool_source", "string", "builtin, mcp, sdk_host_builtin_mcp"),
                A("permission_mode", "string", "default, acceptEdits, plan, auto, bypassPermissions"),
                A("request_id", "string"),
                A("tool_parameters", "string", "JSON parameters", _GATE_TOOLS),
            ),
        ),
        EventSpec(
            "tool_result",
            "A tool finished running (never emitted for a rejected call)",
            (
                A("tool_name", "string"),
                A("tool_use_id", "string"),
                A("success", "string", '"true" or "false"'),
                A("duration_ms", "string", "milliseconds, as a string"),
                A("error_type", "string", "error category when the tool failed", "optional"),
                A("tool_input_size_bytes", "string"),
                A("tool_result_size_bytes", "string"),
                A("request_id", "string"),
                A("tool_parameters", "string", "JSON parameters", _GATE_TOOLS),
                A("error", "string", "full error message when the tool failed", _GATE_TOOLS),
            ),
        ),
        EventSpec(
            "managed_settings_resolved",
            "Emitted by the client itself at start-up",
            (
                A("managed_settings.trigger", "string", "startup"),
                A("managed_settings.sources", "string[]"),
                A("managed_settings.source_behavior", "string"),
                A("managed_settings.helper.state", "string"),
                A("managed_settings.helper.applied", "string"),
            ),
        ),
        EventSpec(
            "plugin_loaded",
            "One per enabled plugin at session start (three built-ins on a fresh install)",
            (
                A("plugin.name", "string"),
                A("marketplace.name", "string"),
                A("plugin.scope", "string"),
                A("enabled_via", "string"),
                A("plugin_id_hash", "string"),
                A("has_hooks", "bool"),
                A("has_mcp", "bool"),
                A("host_owned_mcp", "bool"),
                A("skill_path_count", "int"),
                A("command_path_count", "int"),
                A("agent_path_count", "int"),
                A("safe_mode", "string"),
            ),
        ),
        EventSpec(
            "retention_sweep",
            "Emitted by the client itself once a session (numbers as strings)",
            tuple(
                A(k, "string")
                for k in (
                    "result",
                    "period_days",
                    "used_default",
                    "transcripts_deleted",
                    "transcripts_exempted_desktop",
                    "session_files_deleted",
                    "artifacts_deleted",
                    "files_retained_fresh",
                    "files_past_cutoff",
                    "error_count",
                    "history_entries_pruned",
                )
            ),
        ),
    )
}

_CURRENT_STANDARD = (
    A("user.id", "string", "anonymous 64-hex install id; always"),
    A("session.id", "string", "unless OTEL_METRICS_INCLUDE_SESSION_ID=false"),
    A("app.version", "string", "only with OTEL_METRICS_INCLUDE_VERSION=true"),
    A("app.entrypoint", "string", "only with OTEL_METRICS_INCLUDE_ENTRYPOINT=true"),
    A("organization.id", "string", "when the identity has one"),
    A("user.email", "string", "when the identity has one"),
    A("user.account_uuid", "string", "unless OTEL_METRICS_INCLUDE_ACCOUNT_UUID=false"),
    A("user.account_id", "string", "unless OTEL_METRICS_INCLUDE_ACCOUNT_UUID=false"),
    A("anthropic.provider", "string", "firstParty or the cloud provider"),
    A("anthropic.custom_base_url", "bool", "whether ANTHROPIC_BASE_URL is set"),
    A("terminal.type", "string", "when detected"),
)
_SEED_STANDARD = (
    A("session.id", "string", "unless OTEL_METRICS_INCLUDE_SESSION_ID=false"),
    A("app.version", "string", "only with OTEL_METRICS_INCLUDE_VERSION=true"),
    A("organization.id", "string", "when the identity has one"),
    A("user.account_uuid", "string", "unless OTEL_METRICS_INCLUDE_ACCOUNT_UUID=false"),
)

PROFILES: dict[str, Profile] = {
    "current": Profile(
        name="current",
        description="Claude Code 2.1.331 as observed on the wire, and the 2026 monitoring page",
        metrics=_metrics("", _CURRENT_DESCRIPTIONS, _ALL_METRICS, True),
        events=CURRENT_EVENTS,
        metric_export_interval_ms=60000,
        logs_export_interval_ms=5000,
        standard_attributes=_CURRENT_STANDARD,
    ),
    "2025-05": Profile(
        name="2025-05",
        description="The May 2025 monitoring page: six metrics, `count` units, no events",
        metrics=_metrics("count", _SEED_DESCRIPTIONS, _ALL_METRICS[:6], False),
        events={},
        metric_export_interval_ms=10000,
        logs_export_interval_ms=5000,
        standard_attributes=_SEED_STANDARD,
        emits_events=False,
        startup_events=False,
    ),
}

# The plugins a fresh install loads, as 2.1.331 reports them.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("cc-plugin-agents-md", "da63145d0acbb62d"),
    ("cc-plugin-privacy", "a2f27f067781660d"),
    ("cc-plugin-plugin-authoring", "559932fe5f722b82"),
)


def get_profile(name: str) -> Profile:
    from claude_telemetry_cli.errors import UsageError

    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None
