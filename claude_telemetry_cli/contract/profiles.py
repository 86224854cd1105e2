"""The contract profiles: `current` (Claude Code 2.1.331 as observed), `2.1.197` (an older client), and
`2025-05` (the seed page)."""

from __future__ import annotations

from dataclasses import replace

from claude_telemetry_cli.contract.model import AttributeSpec as A
from claude_telemetry_cli.contract.model import EventSpec, MetricSpec, ModelPrice, Profile

SERVICE_NAME = "claude-code"
METER_NAME = "com.anthropic.claude_code"
LOGGER_NAME = "com.anthropic.claude_code.events"
# Events per log export request: the JS SDK's BatchLogRecordProcessor default, which Claude Code uses.
MAX_LOG_BATCH = 512
DEFAULT_APP_VERSION = "2.1.331"
DEFAULT_MODEL = "claude-sonnet-4-5"
DEFAULT_PROFILE = "current"

# The metrics, by name.
SESSION_COUNT = "claude_code.session.count"
LINES_OF_CODE_COUNT = "claude_code.lines_of_code.count"
PULL_REQUEST_COUNT = "claude_code.pull_request.count"
COMMIT_COUNT = "claude_code.commit.count"
COST_USAGE = "claude_code.cost.usage"
TOKEN_USAGE = "claude_code.token.usage"
CODE_EDIT_TOOL_DECISION = "claude_code.code_edit_tool.decision"
ACTIVE_TIME_TOTAL = "claude_code.active_time.total"
# token.usage's `type` values, each with the api_request event attribute that carries the same count.
TOKEN_TYPES = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cacheRead", "cache_read_tokens"),
    ("cacheCreation", "cache_creation_tokens"),
)

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
ATTRIBUTION_KEYS = tuple(a.key for a in ATTRIBUTION)


def _metrics(count_unit: str, descriptions: dict[str, str], names: list[str], rich_attributes: bool):
    api_attrs = (A("model", "string"),)
    if rich_attributes:
        api_attrs = api_attrs + (_QUERY, _SPEED_METRIC, _EFFORT) + ATTRIBUTION
    specs = {
        SESSION_COUNT: MetricSpec(
            SESSION_COUNT,
            descriptions["session"],
            count_unit,
            (A("start_type", "string", "fresh, resume, continue or agents_view"),) if rich_attributes else (),
        ),
        LINES_OF_CODE_COUNT: MetricSpec(
            LINES_OF_CODE_COUNT,
            descriptions["lines"],
            count_unit,
            (A("type", "string", "added or removed"),) + ((A("model", "string"),) if rich_attributes else ()),
        ),
        PULL_REQUEST_COUNT: MetricSpec(PULL_REQUEST_COUNT, descriptions["pr"], count_unit),
        COMMIT_COUNT: MetricSpec(COMMIT_COUNT, descriptions["commit"], count_unit),
        COST_USAGE: MetricSpec(COST_USAGE, descriptions["cost"], "USD", api_attrs),
        TOKEN_USAGE: MetricSpec(
            TOKEN_USAGE,
            descriptions["token"],
            "tokens",
            api_attrs + (A("type", "string", "input, output, cacheRead or cacheCreation"),),
        ),
        CODE_EDIT_TOOL_DECISION: MetricSpec(
            CODE_EDIT_TOOL_DECISION,
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
        ACTIVE_TIME_TOTAL: MetricSpec(
            ACTIVE_TIME_TOTAL,
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
    SESSION_COUNT,
    LINES_OF_CODE_COUNT,
    PULL_REQUEST_COUNT,
    COMMIT_COUNT,
    COST_USAGE,
    TOKEN_USAGE,
    CODE_EDIT_TOOL_DECISION,
    ACTIVE_TIME_TOTAL,
]

_GATE_PROMPTS = "OTEL_LOG_USER_PROMPTS"
_GATE_TOOLS = "OTEL_LOG_TOOL_DETAILS"
_GATE_RESPONSES = "OTEL_LOG_ASSISTANT_RESPONSES"

# Plugins from these are Anthropic's (the official marketplace, the built-in bundle): events name them
# verbatim, where any other plugin's name is redacted unless OTEL_LOG_TOOL_DETAILS=1.
OFFICIAL_MARKETPLACES = frozenset({"claude-plugins-official", "builtin"})
# hook_plugin_metrics also carries keys the plugin names itself; the contract can only give their shape.
PLUGIN_METRIC_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
PLUGIN_METRIC_MAX_KEYS = 20
# stop_details.category values that set has_category on api_refusal.
REFUSAL_CATEGORIES = ("cyber", "bio", "frontier_llm", "reasoning_extraction")


def _flag(key: str, description: str, presence: str = "always") -> A:
    """A yes/no the page writes as `"true"`/`"false"`: a string on the wire, not a boolean."""
    return A(key, "string", f'"true" or "false": {description}', presence)


def _body_event(name: str, description: str, *tail: A) -> EventSpec:
    # The two raw-body events share their shape; only the session's log_raw_api_bodies turns them on.
    return EventSpec(
        name,
        description + " (only with OTEL_LOG_RAW_API_BODIES, the session's log_raw_api_bodies)",
        (
            A("body", "string", "the JSON body, truncated at 60 KB; inline mode (=1) only", "optional"),
            A(
                "body_ref",
                "string",
                "path of the untruncated body file; file mode (=file:<dir>) only",
                "optional",
            ),
            A("body_length", "int", "untruncated length: UTF-16 units inline, UTF-8 bytes in file mode"),
            _flag("body_truncated", "present only when inline truncation happened", "optional"),
            A("model", "string"),
            A("query_source", "string"),
            *tail,
        ),
    )


_PLUGIN_ID_HASH = A(
    "plugin_id_hash", "string", "hash of plugin name and marketplace; plugin-provided only", "optional"
)
_THIRD_PARTY_PLUGIN = A(
    "plugin.name",
    "string",
    "owning plugin; `third-party` for non-Anthropic plugins unless OTEL_LOG_TOOL_DETAILS=1",
    "optional",
)
_HOOK_EXECUTION = (
    A("hook_event", "string", "PreToolUse, PostToolUse, ..."),
    A("hook_name", "string", "hook event and matcher, e.g. PreToolUse:Write"),
    A("num_hooks", "int", "matching hook commands"),
)
_HOOK_CONTEXT = (
    _flag("managed_only", "only managed-policy hooks are permitted"),
    A("hook_source", "string", "policySettings or merged"),
    _flag("safe_mode", "the session was started with --safe-mode"),
    A(
        "hook_definitions",
        "string",
        "JSON hook configuration; also needs detailed beta tracing (the session's beta_tracing_detailed)",
        _GATE_TOOLS,
    ),
)

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
                A("message.uuid", "string", "transcript entry; absent on command dispatches", "optional"),
                A(
                    "command_name",
                    "string",
                    "the command; custom and MCP names read `custom`/`mcp` unless OTEL_LOG_TOOL_DETAILS=1",
                    "optional",
                ),
                A("command_source", "string", "builtin, custom or mcp; with command_name", "optional"),
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
                A(
                    "client_request_id",
                    "string",
                    "x-client-request-id; first-party API only (no cloud provider, no custom base URL)",
                    "optional",
                ),
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
                A("request_id", "string", "when the API answered (an HTTP status)", "optional"),
                A("client_request_id", "string", "first-party API only, as on api_request", "optional"),
                A("speed", "string"),
                A("query_source", "string"),
                _EFFORT,
            )
            + ATTRIBUTION,
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
                A("query_source", "string", "as on api_error"),
                _EFFORT,
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
                A("mcp_server_scope", "string", "scope of the tool's MCP server (MCP tools)", "optional"),
                A("tool_parameters", "string", "JSON parameters", _GATE_TOOLS),
                A("error", "string", "full error message when the tool failed", _GATE_TOOLS),
                A(
                    "tool_input",
                    "string",
                    "JSON arguments, values cut at 512, bounded at ~4K characters",
                    _GATE_TOOLS,
                ),
                A("vcs.ref.head.name", "string", "a git commit through Bash: the branch", _GATE_TOOLS),
                A("vcs.ref.head.revision", "string", "a git commit through Bash: its sha", _GATE_TOOLS),
                A("vcs.ref.head.type", "string", "a git commit through Bash: `branch`", _GATE_TOOLS),
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
                A(
                    "plugin.name",
                    "string",
                    "`third-party` outside Anthropic's unless OTEL_LOG_TOOL_DETAILS=1",
                ),
                A("marketplace.name", "string", "redacted like plugin.name"),
                A("plugin.version", "string", "when declared and the name is not redacted", "optional"),
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
                A(k, "string") if k != "skip_reason" else A(k, "string", "when result is skipped", "optional")
                for k in (
                    "result",
                    "period_days",
                    "used_default",
                    "skip_reason",
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
        EventSpec(
            "api_refusal",
            "A response ended with stop_reason refusal (no api_error fires for it)",
            (
                A("model", "string"),
                A("request_id", "string"),
                A("query_source", "string"),
                A("speed", "string", "fast or normal"),
                A("attempt", "int", "retry attempt, the first is 1"),
                _EFFORT,
                A("server_fallback_hop", "bool", "the server already retried this refusal on another model"),
                A(
                    "has_category",
                    "bool",
                    "stop_details.category is a known one; absent on a hop",
                    "optional",
                ),
                A(
                    "has_explanation",
                    "bool",
                    "stop_details.explanation was given; absent on a hop",
                    "optional",
                ),
                A("category", "string", "cyber, bio, frontier_llm or reasoning_extraction", _GATE_TOOLS),
            )
            + ATTRIBUTION,
        ),
        _body_event("api_request_body", "One API request attempt's raw body"),
        _body_event("api_response_body", "One successful API response's raw body", A("request_id", "string")),
        EventSpec(
            "permission_mode_changed",
            "The permission mode changed (Shift+Tab, leaving plan mode, an auto mode gate)",
            (
                A("from_mode", "string", "default, plan, acceptEdits, auto, bypassPermissions"),
                A("to_mode", "string"),
                A(
                    "trigger",
                    "string",
                    "shift_tab, exit_plan_mode, auto_gate_denied, auto_opt_in; absent from the SDK",
                    "optional",
                ),
            ),
        ),
        EventSpec(
            "auth",
            "/login or /logout completed",
            (
                A("action", "string", "login or logout"),
                _flag("success", "the action succeeded"),
                A("auth_method", "string", "e.g. oauth"),
                A("error_category", "string", "kind of failure, never the message", "optional"),
                A("status_code", "string", "HTTP status of a failure, as a string", "optional"),
            ),
        ),
        EventSpec(
            "mcp_server_connection",
            "An MCP server connected, disconnected or failed to connect",
            (
                A("status", "string", "connected, failed or disconnected"),
                A("transport_type", "string", "stdio, sse, http, ..."),
                A("server_scope", "string", "user, project, local, ..."),
                A("duration_ms", "int", "connection attempt duration"),
                A("error_code", "string", "when the connection failed", "optional"),
                A("is_plugin", "bool", "a plugin provides the server"),
                _PLUGIN_ID_HASH,
                _THIRD_PARTY_PLUGIN,
                A("server_name", "string", "configured server name", _GATE_TOOLS),
                A("error", "string", "full error message when the connection failed", _GATE_TOOLS),
            ),
        ),
        EventSpec(
            "internal_error",
            "An unexpected internal error was caught (first-party API only)",
            (
                A("error_name", "string", "error class name, e.g. TypeError"),
                A(
                    "error_code",
                    "string",
                    "errno-style code, e.g. ENOENT, when the error has one",
                    "optional",
                ),
            ),
        ),
        EventSpec(
            "plugin_installed",
            "A plugin finished installing (`claude plugin install` or /plugin)",
            (
                _flag("marketplace.is_official", "an official Anthropic marketplace"),
                A("install.trigger", "string", "cli or ui"),
                A("plugin.name", "string", "always for official marketplaces", _GATE_TOOLS),
                A("plugin.version", "string", "when declared; as plugin.name", _GATE_TOOLS),
                A("marketplace.name", "string", "as plugin.name", _GATE_TOOLS),
            ),
        ),
        EventSpec(
            "skill_activated",
            "A skill was invoked, by the Skill tool or as a / command",
            (
                A(
                    "skill.name",
                    "string",
                    "`custom_skill` for user-defined and third-party skills unless OTEL_LOG_TOOL_DETAILS=1",
                ),
                A("invocation_trigger", "string", "user-slash, claude-proactive or nested-skill"),
                A("skill.source", "string", "bundled, userSettings, projectSettings, plugin, ..."),
                A("skill.kind", "string", "workflow for a workflow skill", "optional"),
                A("plugin.name", "string", "owning plugin; always when official", _GATE_TOOLS),
                A(
                    "marketplace.name",
                    "string",
                    "owning plugin's marketplace; always when official",
                    _GATE_TOOLS,
                ),
            ),
        ),
        EventSpec(
            "at_mention",
            "An @-mention in a prompt was resolved",
            (
                A("mention_type", "string", "file, directory, agent, mcp_resource or peer"),
                _flag("success", "the mention resolved"),
            ),
        ),
        EventSpec(
            "hook_registered",
            "One per configured hook at session start",
            (
                A("hook_event", "string", "PreToolUse, PostToolUse, ..."),
                A("hook_type", "string", "command, prompt, mcp_tool, http or agent"),
                A("hook_source", "string", "userSettings, projectSettings, localSettings, ..., pluginHook"),
                _flag("safe_mode", "the session was started with --safe-mode"),
                A("hook_matcher", "string", "the matcher, when one is set", _GATE_TOOLS),
                A(
                    "plugin.name",
                    "string",
                    "pluginHook only; `third-party` outside Anthropic's unless OTEL_LOG_TOOL_DETAILS=1",
                    "optional",
                ),
                A("plugin_id_hash", "string", "pluginHook only", "optional"),
            ),
        ),
        EventSpec(
            "hook_execution_start",
            "Hooks began executing for a hook event",
            _HOOK_EXECUTION + _HOOK_CONTEXT,
        ),
        EventSpec(
            "hook_execution_complete",
            "All hooks of a hook event finished",
            _HOOK_EXECUTION
            + (
                A("num_success", "int", "completed successfully"),
                A("num_blocking", "int", "returned a blocking decision"),
                A("num_non_blocking_error", "int", "failed without blocking"),
                A("num_cancelled", "int", "cancelled before completion"),
                A("total_duration_ms", "int", "wall-clock duration of all matching hooks"),
            )
            + _HOOK_CONTEXT,
        ),
        EventSpec(
            "hook_plugin_metrics",
            "An official-marketplace plugin hook reported its metrics; plus up to 20 keys of the plugin's "
            "own, named like `finding_count`, valued boolean or number",
            (
                A("plugin_id", "string", "<name>@<marketplace>"),
                A("hook_event", "string"),
            ),
        ),
        EventSpec(
            "compaction",
            "Conversation compaction completed",
            (
                A("trigger", "string", "auto or manual"),
                _flag("success", "compaction succeeded"),
                A("duration_ms", "int"),
                A("pre_tokens", "int", "approximate tokens before"),
                A("post_tokens", "int", "approximate tokens after"),
                A("error", "string", "when compaction failed", "optional"),
                A(
                    "precompute_reuse",
                    "string",
                    "manual only: hit, miss_custom_instructions, miss_hook, miss_not_ready",
                    "optional",
                ),
            ),
        ),
        EventSpec(
            "subagent_completed",
            "A subagent finished and returned its result",
            (
                A(
                    "agent_type",
                    "string",
                    "built-in and official-plugin agents verbatim, else `custom` unless tool details are on",
                ),
                A("agent.source", "string", "built-in, plugin, userSettings, projectSettings, ..."),
                A("is_built_in", "bool"),
                A("is_async", "bool", "ran in the background"),
                A("total_tokens", "int", "tokens of the final request only"),
                A("total_tool_uses", "int"),
                A("duration_ms", "int"),
                A("model", "string", "the model the subagent was resolved to"),
                A("final_model", "string", "the model of the final response"),
                A("model_swapped", "bool", "more than one model served the subagent"),
                _PLUGIN_ID_HASH,
                _THIRD_PARTY_PLUGIN,
            ),
        ),
        EventSpec(
            "feedback_survey",
            "A session quality survey was shown or answered",
            (
                A("event_type", "string", "appeared, responded, transcript_prompt_appeared, ..."),
                A("appearance_id", "string", "links the events of one survey instance"),
                A("survey_type", "string", "session is the 'How is Claude doing?' prompt"),
                A("response", "string", "the user's selection, on responded events", "optional"),
                A(
                    "enabled_via_override",
                    "bool",
                    "CLAUDE_CODE_ENABLE_FEEDBACK_SURVEY_FOR_OTEL is set; session surveys only",
                    "optional",
                ),
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

_CURRENT = Profile(
    name="current",
    description="Claude Code 2.1.331 and 2.1.332 as observed on the wire, and the 2026 monitoring page",
    metrics=_metrics("", _CURRENT_DESCRIPTIONS, _ALL_METRICS, True),
    events=CURRENT_EVENTS,
    metric_export_interval_ms=60000,
    logs_export_interval_ms=5000,
    standard_attributes=_CURRENT_STANDARD,
    version="2.1.331",
)

# What Claude Code 2.1.197 sends differently from 2.1.331, the same work captured from both: fewer
# attributes, no start-up or retention_sweep events, and the model of cost and token points suffixed.
_ATTRIBUTES_SINCE_2_1_197 = {
    "user_prompt": ("prompt_text", "message.uuid"),
    "api_request": ("cache_creation_5m_tokens", "cache_creation_1h_tokens", "ttft_ms"),
    "assistant_response": ("message.uuid",),
    "tool_decision": ("tool_source", "permission_mode", "request_id"),
    "tool_result": ("request_id",),
}
_EVENTS_SINCE_2_1_197 = ("managed_settings_resolved", "plugin_loaded", "retention_sweep")
_STANDARD_SINCE_2_1_197 = ("anthropic.provider", "anthropic.custom_base_url")


def _older(events: dict[str, EventSpec]) -> dict[str, EventSpec]:
    out = {}
    for name, spec in events.items():
        if name in _EVENTS_SINCE_2_1_197:
            continue
        newer = _ATTRIBUTES_SINCE_2_1_197.get(name, ())
        out[name] = replace(spec, attributes=tuple(a for a in spec.attributes if a.key not in newer))
    return out


_V2_1_197 = Profile(
    name="2.1.197",
    description="Claude Code 2.1.197 as observed on the wire: no anthropic.* attributes, no start-up "
    "or retention_sweep events, no ttft_ms or 5m/1h cache tokens, [1m] on the model of usage points",
    metrics=_CURRENT.metrics,
    events=_older(CURRENT_EVENTS),
    metric_export_interval_ms=60000,
    logs_export_interval_ms=5000,
    standard_attributes=tuple(a for a in _CURRENT_STANDARD if a.key not in _STANDARD_SINCE_2_1_197),
    startup_events=False,
    version="2.1.197",
    usage_model_suffix="[1m]",
)

PROFILES: dict[str, Profile] = {
    "current": _CURRENT,
    # The newest release's shape by its number: every session in it, whatever its app_version.
    "2.1.331": replace(_CURRENT, name="2.1.331"),
    "2.1.197": _V2_1_197,
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
# The client versions with a profile of their own, oldest first.
VERSION_PROFILES: tuple[Profile, ...] = (_V2_1_197, _CURRENT)

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


def version_key(version: str) -> tuple[int, ...]:
    """A client version's order: 2.1.197 < 2.1.300 < 2.1.331 (a suffix such as -beta is ignored)."""
    numbers = []
    for part in version.split(".")[:3]:
        digits = ""
        for c in part:
            if not c.isdigit():
                break
            digits += c
        numbers.append(int(digits or 0))
    return tuple(numbers)


def profile_for_version(app_version: str) -> tuple[Profile, bool]:
    """The profile of the newest known client at or below `app_version`, and whether the version is
    older than every known one (then the oldest profile is the nearest)."""
    key = version_key(app_version)
    chosen = None
    for profile in VERSION_PROFILES:
        if version_key(profile.version or "") <= key:
            chosen = profile
    if chosen is None:
        return VERSION_PROFILES[0], True
    return chosen, False


def profile_changes(old: Profile, new: Profile) -> list[str]:
    """What a backend sees change from profile `old` to `new`, one line each: metrics, events and their
    attributes added or removed, descriptions, units, standard attributes, suffixes, intervals."""
    changes: list[str] = []

    def keys(label: str, before: tuple[str, ...], after: tuple[str, ...]) -> None:
        for key in after:
            if key not in before:
                changes.append(f"{label}attribute {key} added")
        for key in before:
            if key not in after:
                changes.append(f"{label}attribute {key} removed")
        common = [k for k in after if k in before]
        if common != [k for k in before if k in after]:
            changes.append(f"{label}attributes reordered")

    for name in [*old.metrics, *(m for m in new.metrics if m not in old.metrics)]:
        a, b = old.metrics.get(name), new.metrics.get(name)
        if a is None or b is None:
            changes.append(f"metric {name} {'added' if a is None else 'removed'}")
            continue
        if a.description != b.description:
            changes.append(f"metric {name}: description {a.description!r} -> {b.description!r}")
        if a.unit != b.unit:
            changes.append(f"metric {name}: unit {a.unit!r} -> {b.unit!r}")
        keys(f"metric {name}: ", a.attribute_keys, b.attribute_keys)
    for name in [*old.events, *(e for e in new.events if e not in old.events)]:
        a, b = old.events.get(name), new.events.get(name)
        if a is None or b is None:
            changes.append(f"event {name} {'added' if a is None else 'removed'}")
            continue
        keys(f"event {name}: ", a.attribute_keys, b.attribute_keys)
        types_a = {x.key: x.type for x in a.attributes}
        for x in b.attributes:
            if x.key in types_a and types_a[x.key] != x.type:
                changes.append(f"event {name}: attribute {x.key} {types_a[x.key]} -> {x.type}")
    before = tuple(a.key for a in old.standard_attributes)
    after = tuple(a.key for a in new.standard_attributes)
    keys("standard ", before, after)
    if old.usage_model_suffix != new.usage_model_suffix:
        changes.append(
            f"model on cost and token points: suffix {old.usage_model_suffix or '(none)'} -> "
            f"{new.usage_model_suffix or '(none)'}"
        )
    for label, x, y in (
        ("metric export interval", old.metric_export_interval_ms, new.metric_export_interval_ms),
        ("logs export interval", old.logs_export_interval_ms, new.logs_export_interval_ms),
    ):
        if x != y:
            changes.append(f"{label}: {x} ms -> {y} ms")
    return changes
