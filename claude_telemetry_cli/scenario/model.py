"""Pydantic models of a scenario file: the scenario, its sessions, their identity, plugins and steps."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
    model_validator,
)

from claude_telemetry_cli.contract import (
    ATTRIBUTION_KEYS,
    BUILTIN_PLUGINS,
    DEFAULT_APP_VERSION,
    DEFAULT_MODEL,
)
from claude_telemetry_cli.contract.profiles import (
    CURRENT_EVENTS,
    OFFICIAL_MARKETPLACES,
    PLUGIN_METRIC_KEY_PATTERN,
    PLUGIN_METRIC_MAX_KEYS,
)
from claude_telemetry_cli.durations import parse_duration
from claude_telemetry_cli.scenario import limits

# Editors see what the loader accepts: a number of seconds or a duration string.
DURATION_JSON_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?(h|m|s|ms))+\s*$|^\s*\d+(\.\d+)?\s*$"},
    ],
    "description": "seconds, or a duration such as 250ms, 5s, 1m30s, 2h",
}


def _at_most(limit: float, what: str) -> AfterValidator:
    """A limit no real session reaches, past which the work a value asks for would hang the tool; the
    message says what the limit bounds, so that a typo reads as one."""

    def check(value: float) -> float:
        if value > limit:
            shown = value if isinstance(value, int) else f"{value:g}"
            raise ValueError(f"{shown} is more than {limit:,.0f}, {what}")
        return value

    return AfterValidator(check)


def _count(limit: int, what: str, *, positive: bool = False) -> Any:
    low: dict[str, int] = {"exclusiveMinimum": 0} if positive else {"minimum": 0}
    return Annotated[
        int,
        Field(gt=0) if positive else Field(ge=0),
        _at_most(limit, what),
        WithJsonSchema({"type": "integer", **low, "maximum": limit}),
    ]


def _seconds(limit: float, what: str) -> Any:
    """A duration (as parse_duration reads it) of at most `limit` seconds."""

    def check(seconds: float) -> float:
        if not math.isfinite(seconds) or seconds > limit:
            raise ValueError(f"{_days(seconds)} is more than {_days(limit)}, {what}")
        return seconds

    number, text = DURATION_JSON_SCHEMA["anyOf"]
    schema = {**DURATION_JSON_SCHEMA, "anyOf": [{**number, "maximum": limit}, text]}
    return Annotated[float, BeforeValidator(parse_duration), AfterValidator(check), WithJsonSchema(schema)]


def _days(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 86_400 else f"{seconds / 86_400:,.6g} days"


Count = _count(limits.MAX_COUNT, "the most any count in a scenario may be")
Tokens = _count(limits.MAX_TOKENS, "the most tokens a step may count")
DurationMs = _count(limits.MAX_STEP_MS, "the longest a step may last (24 hours)")
SizeBytes = _count(limits.MAX_BYTES, "the largest size a step may report")
_TEXT = "the most characters a text given by its length may have"
TextLength = _count(limits.MAX_TEXT_LENGTH, _TEXT)
PromptLength = _count(limits.MAX_TEXT_LENGTH, _TEXT, positive=True)
Lines = _count(limits.MAX_LINES, "the most lines one edit may change")
HookCount = _count(limits.MAX_HOOKS, "the most hooks one hook step may run", positive=True)
Repeat = _count(limits.MAX_REPEAT, "the most times a session may repeat", positive=True)
Attempts = _count(limits.MAX_ATTEMPTS, "the most attempts a scenario may give one request", positive=True)
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PriceUsd = Annotated[NonNegFloat, _at_most(limits.MAX_PRICE_USD, "the highest price a scenario may set")]
CostUsd = Annotated[NonNegFloat, _at_most(limits.MAX_COST_USD, "the most one request may cost")]
WaitSeconds = _seconds(limits.MAX_WAIT_SECONDS, "the longest one step may wait or report as active")
StartSeconds = _seconds(limits.MAX_START_SECONDS, "the latest a session may start")
SpacingSeconds = _seconds(limits.MAX_START_SECONDS, "the longest between the copies of a session")
Name = Annotated[str, Field(min_length=1)]
Uuid = Annotated[
    str, Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
]

Effort = Literal["low", "medium", "high", "xhigh", "max"]
Speed = Literal["normal", "fast"]
MetricQuerySource = Literal["main", "subagent", "auxiliary"]
Decision = Literal["accept", "reject"]
DecisionSource = Literal["config", "hook", "user_permanent", "user_temporary", "user_abort", "user_reject"]
AcceptSource = Literal["config", "hook", "user_permanent", "user_temporary"]
StartType = Literal["fresh", "resume", "continue", "agents_view"]
PermissionMode = Literal["default", "acceptEdits", "plan", "auto", "bypassPermissions"]
ToolSource = Literal["builtin", "mcp", "sdk_host_builtin_mcp"]
ParameterValue = str | int | float | bool
HookType = Literal["command", "prompt", "mcp_tool", "http", "agent"]
HookSource = Literal[
    "userSettings", "projectSettings", "localSettings", "flagSettings", "policySettings", "pluginHook"
]


def _one_as_text(value: Any) -> Any:
    # `log_raw_api_bodies: 1` is YAML's integer; the variable's value is the text "1".
    return "1" if value == 1 and not isinstance(value, bool) else value


# OTEL_LOG_RAW_API_BODIES as the process had it: `1` for inline bodies, `file:<absolute dir>` for files.
_RAW_BODIES = r"^(1|file:/.*)$"
RawBodies = Annotated[
    str,
    BeforeValidator(_one_as_text),
    Field(pattern=_RAW_BODIES),
    WithJsonSchema(
        {
            "anyOf": [{"const": 1}, {"type": "string", "pattern": _RAW_BODIES}],
            "description": "1 for inline bodies, or file:<absolute directory>",
        }
    ),
]

_REJECT_ONLY = ("user_abort", "user_reject")
_ACCEPT_ONLY = ("user_permanent", "user_temporary")


class _Model(BaseModel):
    # strict: a quoted "5" is not a token count and `yes` is not a model name; YAML types must be meant.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_decision_source(decision: str, source: str | None) -> None:
    if source is None:
        return
    if decision == "accept" and source in _REJECT_ONLY:
        raise ValueError(
            f"source {source!r} only goes with decision: reject; for accept use one of "
            "config, hook, user_permanent, user_temporary"
        )
    if decision == "reject" and source in _ACCEPT_ONLY:
        raise ValueError(
            f"source {source!r} only goes with decision: accept; for reject use one of "
            "config, hook, user_abort, user_reject"
        )


def default_source(decision: str) -> str:
    return "config" if decision == "accept" else "user_reject"


class Price(_Model):
    """USD per million tokens; cache prices default to Anthropic's multipliers of the input price."""

    input: PriceUsd
    output: PriceUsd
    cache_read: PriceUsd | None = None
    cache_write: PriceUsd | None = None


class User(_Model):
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    organization_id: Uuid | None = None
    account_uuid: Uuid | None = None
    account_id: Annotated[str, Field(pattern=r"^user_01[0-9A-Za-z]+$")] | None = None
    # The anonymous install id; None: a 64-hex value drawn from the scenario seed.
    id: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class Plugin(_Model):
    name: Name
    marketplace: Name = "builtin"
    scope: Literal["official", "org", "user-local", "default-bundle"] = "default-bundle"
    enabled_via: Literal["default-enable", "org-policy", "seed-mount", "user-install"] = "default-enable"
    # None: the built-in's hash, or one derived from name and marketplace.
    id_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")] | None = None
    # plugin.version, from the manifest.
    version: Name | None = None
    # None: true for the built-ins (they ship hooks), false otherwise.
    has_hooks: bool | None = None
    has_mcp: bool = False
    host_owned_mcp: bool = False
    skill_path_count: Count = 0
    command_path_count: Count = 0
    agent_path_count: Count = 0


BUILTIN_PLUGIN_NAMES = tuple(name for name, _ in BUILTIN_PLUGINS)


def _plugin_from_name(value: Any) -> Any:
    # A bare name is the common case: `plugins: [cc-plugin-privacy]`.
    return {"name": value} if isinstance(value, str) else value


PluginEntry = Annotated[Plugin, BeforeValidator(_plugin_from_name)]


def is_official(plugin: str, marketplace: str | None, official: bool | None) -> bool:
    """Whether events may name a plugin: Anthropic's marketplaces and the built-ins are named verbatim."""
    if official is not None:
        return official
    if marketplace is None:
        return plugin in BUILTIN_PLUGIN_NAMES
    return marketplace in OFFICIAL_MARKETPLACES


class _PluginRef(_Model):
    """The plugin something comes from; its marketplace decides whether events may name it."""

    plugin: Name | None = None
    # None: `builtin` for a built-in plugin; any other plugin then counts as a third-party one.
    marketplace: Name | None = None
    # None: official when the marketplace is `claude-plugins-official` or `builtin`.
    official: bool | None = None

    @model_validator(mode="after")
    def _plugin_given(self) -> _PluginRef:
        if self.plugin is None and (self.marketplace is not None or self.official is not None):
            raise ValueError("marketplace and official describe a plugin; give `plugin` too")
        return self

    @property
    def plugin_official(self) -> bool:
        return self.plugin is not None and is_official(self.plugin, self.marketplace, self.official)

    @property
    def plugin_marketplace(self) -> str | None:
        if self.marketplace is None and self.plugin in BUILTIN_PLUGIN_NAMES:
            return "builtin"
        return self.marketplace


# Each attribution key with the step field that sets it: the key, its dots made underscores.
ATTRIBUTION_FIELDS = tuple((key, key.replace(".", "_")) for key in ATTRIBUTION_KEYS)


class _Attributed(_Model):
    """Skill, plugin, agent and MCP attribution of an API request, as the wire shows it (already redacted)."""

    agent_name: Name | None = None
    skill_name: Name | None = None
    plugin_name: Name | None = None
    marketplace_name: Name | None = None
    mcp_server_name: Name | None = None
    mcp_tool_name: Name | None = None


class Prompt(_Model):
    # None: the text's length, or 120 characters.
    length: PromptLength | None = None
    text: Name | None = None
    # A `/` command the prompt invokes, without the slash: a command dispatch, with no message.uuid.
    command: Annotated[str, Field(pattern=r"^[A-Za-z0-9][\w:.-]*$")] | None = None
    # None: builtin. Plugin commands are `custom`.
    command_source: Literal["builtin", "custom", "mcp"] | None = None

    @model_validator(mode="after")
    def _length_matches_text(self) -> Prompt:
        if self.text is not None and self.length is not None and self.length != len(self.text):
            raise ValueError(
                f"length {self.length} does not match the text's {len(self.text)} characters; "
                "give one or the other"
            )
        if self.command_source is not None and self.command is None:
            raise ValueError("command_source describes a command; give `command` too")
        return self

    @property
    def effective_length(self) -> int:
        if self.length is not None:
            return self.length
        return len(self.text) if self.text is not None else 120


class ApiRequest(_Model):
    input_tokens: Tokens = 0
    output_tokens: Tokens = 0
    cache_read_tokens: Tokens = 0
    cache_creation_tokens: Tokens = 0
    cache_creation_5m_tokens: Tokens = 0
    cache_creation_1h_tokens: Tokens = 0
    duration_ms: DurationMs = 2000
    # None: a few milliseconds short of duration_ms, as streamed responses are.
    ttft_ms: DurationMs | None = None
    # None: priced from the model's token prices.
    cost_usd: CostUsd | None = None
    model: Name | None = None
    effort: Effort | None = None
    speed: Speed = "normal"
    query_source: MetricQuerySource = "main"
    # The event-side subsystem (repl_main_thread, sdk, compact, an agent name); None: the session's.
    event_query_source: Name | None = None
    # The fields of _Attributed, declared here to keep their place in the allowed-fields list of errors.
    agent_name: Name | None = None
    skill_name: Name | None = None
    plugin_name: Name | None = None
    marketplace_name: Name | None = None
    mcp_server_name: Name | None = None
    mcp_tool_name: Name | None = None
    # A response with text emits assistant_response; a tool-use-only response does not. `text` is the
    # text itself, true (response_length characters, else 240) or false (tool use only, no text);
    # response_length alone says it has text of that length (0: none). Neither: the last request of a
    # turn (before the next prompt or the end of the session) answers in text, an earlier one only
    # calls tools.
    response_length: TextLength | None = None
    text: bool | Name | None = None
    # Attempts it took (the earlier ones failed and were retried: no event says so, the llm_request span
    # does); duration_ms is the final attempt's. None total: the final attempt plus the backoff.
    attempt: Attempts = 1
    total_retry_duration_ms: DurationMs | None = None

    @property
    def effective_total_ms(self) -> int:
        if self.total_retry_duration_ms is not None:
            return self.total_retry_duration_ms
        return self.duration_ms + retry_backoff_ms(self.attempt)

    @model_validator(mode="after")
    def _consistent(self) -> ApiRequest:
        if self.total_retry_duration_ms is not None and self.total_retry_duration_ms < self.duration_ms:
            raise ValueError(
                f"total_retry_duration_ms ({self.total_retry_duration_ms}) cannot be shorter "
                f"than duration_ms ({self.duration_ms})"
            )
        if self.ttft_ms is not None and self.ttft_ms > self.duration_ms:
            raise ValueError(f"ttft_ms ({self.ttft_ms}) cannot exceed duration_ms ({self.duration_ms})")
        if isinstance(self.text, str) and self.response_length not in (None, len(self.text)):
            raise ValueError(
                f"response_length {self.response_length} does not match the text's "
                f"{len(self.text)} characters; give one or the other"
            )
        if self.text is False and self.response_length:
            raise ValueError(
                f"text: false says the response has no text, but response_length is {self.response_length}; "
                "drop one of them"
            )
        return self

    def response_length_at(self, turn_end: bool) -> int:
        """The length of the response's text, 0 when it has none; `turn_end`: the request ends its turn."""
        if isinstance(self.text, str):
            return len(self.text)
        if self.text is False:
            return 0
        if self.response_length is not None:
            return self.response_length
        return 240 if self.text or turn_end else 0


class Edit(_Model):
    tool: Literal["Edit", "Write", "NotebookEdit"] = "Edit"
    # The `model` of its lines_of_code points. None: the latest request's model, as the client reports;
    # a recorded session can credit an edit to another model (a subagent's, say), and only this says so.
    model: Name | None = None
    language: Name = "unknown"
    lines_added: Lines = 0
    lines_removed: Lines = 0
    decision: Decision = "accept"
    # None: config for an accept, user_reject for a reject.
    source: DecisionSource | None = None
    duration_ms: DurationMs = 10
    input_size_bytes: SizeBytes | None = None
    result_size_bytes: SizeBytes | None = None
    # The tool's arguments (file_path, old_string, ...), revealed as tool_input only with
    # OTEL_LOG_TOOL_DETAILS; None: no tool_input.
    input: dict[str, JsonValue] | None = None

    @model_validator(mode="after")
    def _source_fits_decision(self) -> Edit:
        _check_decision_source(self.decision, self.source)
        return self


class Tool(_Model):
    name: Name
    duration_ms: DurationMs = 100
    success: bool = True
    decision: Decision = "accept"
    source: DecisionSource | None = None
    tool_source: ToolSource = "builtin"
    # None on failure: ShellError for Bash, Error otherwise.
    error_type: Name | None = None
    # The full error message, revealed only with OTEL_LOG_TOOL_DETAILS.
    error: Name | None = None
    input_size_bytes: SizeBytes | None = None
    result_size_bytes: SizeBytes | None = None
    # Revealed as the tool_parameters JSON only with OTEL_LOG_TOOL_DETAILS.
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)
    # The tool's arguments, revealed as tool_input only with OTEL_LOG_TOOL_DETAILS; None: no tool_input.
    input: dict[str, JsonValue] | None = None
    # The MCP server's scope (user, project, local, ...), kept on tool_result even without details.
    mcp_server_scope: Name | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Tool:
        _check_decision_source(self.decision, self.source)
        if self.success and (self.error_type is not None or self.error is not None):
            raise ValueError("error_type and error describe a failed tool; set success: false or drop them")
        return self


# What git refuses in a branch name (git check-ref-format): white space, control and special characters,
# `..`, `//`, `@{`, a `/` or `.` at either end, a `.lock` ending.
_NOT_A_BRANCH = re.compile(r"[\s~^:?*\[\\\x00-\x1f\x7f]|\.\.|//|@\{|^[./]|[./]$|\.lock$|^@$")


def _branch(name: str) -> str:
    if _NOT_A_BRANCH.search(name):
        raise ValueError(f"{name!r} is not a branch name git accepts")
    return name


Branch = Annotated[str, Field(min_length=1), AfterValidator(_branch)]


class Commit(_Model):
    """A `git commit` run through the Bash tool."""

    duration_ms: DurationMs = 70
    source: AcceptSource = "config"
    # None: a plausible command; revealed only with OTEL_LOG_TOOL_DETAILS.
    command: Name | None = None
    # The branch committed to: tool_result's vcs.ref.head.name and tool_parameters' git_branch, revealed
    # only with OTEL_LOG_TOOL_DETAILS.
    branch: Branch = "main"
    input_size_bytes: SizeBytes | None = None
    result_size_bytes: SizeBytes | None = None


class PullRequest(_Model):
    """A `gh pr create` run through the Bash tool."""

    duration_ms: DurationMs = 1800
    source: AcceptSource = "config"
    command: Name | None = None
    input_size_bytes: SizeBytes | None = None
    result_size_bytes: SizeBytes | None = None


def retry_backoff_ms(attempts: int) -> int:
    """The waits between `attempts` attempts: Claude Code's exponential backoff, 500 ms doubling, capped
    at 32 s."""
    return sum(min(500 * 2 ** (i - 1), 32_000) for i in range(1, attempts))


_DEFAULT_ERRORS = {429: "Rate limited", 500: "Internal server error", 529: "Overloaded"}


class ApiError(_Attributed):
    # None: a connection error, which has no HTTP status.
    status_code: Annotated[int, Field(ge=100, le=599)] | None = None
    error: Name | None = None
    attempt: Attempts = 1
    # The final attempt's duration.
    duration_ms: DurationMs = 1000
    # None: every attempt plus Claude Code's exponential backoff (500 ms doubling, capped at 32 s).
    total_retry_duration_ms: DurationMs | None = None
    model: Name | None = None
    speed: Speed = "normal"
    effort: Effort | None = None
    event_query_source: Name | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ApiError:
        if self.total_retry_duration_ms is not None and self.total_retry_duration_ms < self.duration_ms:
            raise ValueError(
                f"total_retry_duration_ms ({self.total_retry_duration_ms}) cannot be shorter "
                f"than duration_ms ({self.duration_ms})"
            )
        return self

    @property
    def effective_error(self) -> str:
        if self.error is not None:
            return self.error
        if self.status_code is None:
            return "Connection error."
        return _DEFAULT_ERRORS.get(self.status_code, f"API Error {self.status_code}")

    @property
    def effective_total_ms(self) -> int:
        if self.total_retry_duration_ms is not None:
            return self.total_retry_duration_ms
        return self.duration_ms * self.attempt + retry_backoff_ms(self.attempt)


class Active(_Model):
    """Active time already spent; it reports time, it does not move the clock (use wait for that)."""

    user: WaitSeconds | None = None
    cli: WaitSeconds | None = None

    @model_validator(mode="after")
    def _something(self) -> Active:
        if self.user is None and self.cli is None:
            raise ValueError("give user, cli or both, e.g. {user: 30s, cli: 12s}")
        return self


class ApiRefusal(_Attributed):
    """A response that ended with stop_reason `refusal`: a successful stream, so no api_error."""

    model: Name | None = None
    # True: the server's model fallback already retried it, so the user never saw this refusal.
    server_fallback_hop: bool = False
    # stop_details.category; only cyber, bio, frontier_llm and reasoning_extraction set has_category.
    category: Name | None = None
    # Whether stop_details carried an explanation.
    has_explanation: bool = False
    attempt: Attempts = 1
    speed: Speed = "normal"
    effort: Effort | None = None
    event_query_source: Name | None = None

    @model_validator(mode="after")
    def _hop_has_no_details(self) -> ApiRefusal:
        if self.server_fallback_hop and (self.category is not None or self.has_explanation):
            raise ValueError(
                "a server_fallback_hop refusal carries no stop_details; drop category and has_explanation"
            )
        return self


class PermissionModeChange(_Model):
    """The session's permission mode changes; later tool decisions report the new one."""

    # None: whatever mode the session is in at this step.
    from_mode: PermissionMode | None = Field(None, alias="from")
    to: PermissionMode
    # None: a change from the SDK or the bridge, which carries no trigger.
    trigger: Literal["shift_tab", "exit_plan_mode", "auto_gate_denied", "auto_opt_in"] | None = "shift_tab"

    @model_validator(mode="after")
    def _a_change(self) -> PermissionModeChange:
        if self.from_mode == self.to:
            raise ValueError(f"from and to are both {self.to!r}; a change needs two modes")
        return self


class Auth(_Model):
    """/login or /logout completed."""

    action: Literal["login", "logout"] = "login"
    success: bool = True
    auth_method: Name = "oauth"
    # For a failure only: its kind (never the message) and its HTTP status.
    error_category: Name | None = None
    status_code: Annotated[int, Field(ge=100, le=599)] | None = None

    @model_validator(mode="after")
    def _errors_only_on_failure(self) -> Auth:
        if self.success and (self.error_category is not None or self.status_code is not None):
            raise ValueError("error_category and status_code describe a failure; set success: false")
        return self


class _SourcedByPlugin(_PluginRef):
    """Something loaded from a source; a plugin's comes from one fixed source, others from user settings."""

    _plugin_source: ClassVar[str]
    _kind: ClassVar[tuple[str, str]]  # (what it is, how the plugin relates to it), for messages
    # Each subclass declares `source`, with the values its events allow.

    @model_validator(mode="after")
    def _source_fits_plugin(self) -> _SourcedByPlugin:
        what, verb = self._kind
        if self.source == self._plugin_source and self.plugin is None:
            raise ValueError(f"source: {self._plugin_source} needs the `plugin` that {verb} the {what}")
        if self.plugin is not None and self.source not in (None, self._plugin_source):
            raise ValueError(f"a plugin's {what} has source {self._plugin_source}, not {self.source!r}")
        return self

    @property
    def effective_source(self) -> str:
        if self.source is not None:
            return self.source
        return self._plugin_source if self.plugin is not None else "userSettings"


class McpConnect(_PluginRef):
    """An MCP server connected, disconnected or failed to; the step lasts the attempt."""

    server: Name
    status: Literal["connected", "failed", "disconnected"] = "connected"
    transport: Name = "stdio"
    scope: Name = "local"
    duration_ms: DurationMs = 250
    error_code: Name | None = None
    # The full message, revealed only with OTEL_LOG_TOOL_DETAILS; None: the error code.
    error: Name | None = None

    @model_validator(mode="after")
    def _errors_only_on_failure(self) -> McpConnect:
        if self.status != "failed" and (self.error_code is not None or self.error is not None):
            raise ValueError("error_code and error describe a failed connection; set status: failed")
        return self


class InternalError(_Model):
    """An unexpected error caught inside Claude Code: only its class name and errno-style code."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z_$][\w$]*$")] = "TypeError"
    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")] | None = None


class PluginInstall(_Model):
    """A plugin finished installing."""

    name: Name
    marketplace: Name
    version: Name | None = None
    # None: official when the marketplace is `claude-plugins-official`.
    official: bool | None = None
    trigger: Literal["cli", "ui"] = "cli"

    @property
    def is_official(self) -> bool:
        return is_official(self.name, self.marketplace, self.official)


class Skill(_SourcedByPlugin):
    """A skill is invoked; it also attributes the API requests that follow, until the next prompt."""

    _plugin_source: ClassVar[str] = "plugin"
    _kind: ClassVar[tuple[str, str]] = ("skill", "provides")

    name: Name
    trigger: Literal["user-slash", "claude-proactive", "nested-skill"] = "claude-proactive"
    # None: `plugin` for a plugin's skill, else `userSettings`. `bundled` skills are named verbatim.
    source: Name | None = None
    kind: Literal["workflow"] | None = None


class AtMention(_Model):
    type: Literal["file", "directory", "agent", "mcp_resource", "peer"] = "file"
    success: bool = True


class HookConfig(_SourcedByPlugin):
    """A hook declared in settings or by a plugin: one hook_registered event at session start."""

    _plugin_source: ClassVar[str] = "pluginHook"
    _kind: ClassVar[tuple[str, str]] = ("hook", "contributes")

    event: Name
    type: HookType = "command"
    # None: pluginHook for a plugin's hook, else userSettings.
    source: HookSource | None = None
    matcher: Name | None = None


class Hook(_Model):
    """The hooks matching one hook event run: hook_execution_start, then _complete after duration_ms."""

    event: Name
    matcher: Name | None = None
    hooks: HookCount = 1
    # None: the hooks neither blocking, failing nor cancelled.
    succeeded: Count | None = None
    blocking: Count = 0
    non_blocking_errors: Count = 0
    cancelled: Count = 0
    duration_ms: DurationMs = 60
    managed_only: bool = False
    # None: policySettings when only managed hooks may run, else merged.
    source: Literal["policySettings", "merged"] | None = None
    # What hook_definitions shows (with OTEL_LOG_TOOL_DETAILS and detailed beta tracing).
    type: HookType = "command"
    command: Name | None = None

    @model_validator(mode="after")
    def _counts_fit(self) -> Hook:
        outcomes = self.blocking + self.non_blocking_errors + self.cancelled + (self.succeeded or 0)
        if outcomes > self.hooks:
            raise ValueError(
                f"succeeded, blocking, non_blocking_errors and cancelled add up to {outcomes}, "
                f"more than hooks ({self.hooks})"
            )
        return self

    @property
    def effective_succeeded(self) -> int:
        if self.succeeded is not None:
            return self.succeeded
        return self.hooks - self.blocking - self.non_blocking_errors - self.cancelled

    @property
    def effective_source(self) -> str:
        if self.source is not None:
            return self.source
        return "policySettings" if self.managed_only else "merged"


_PLUGIN_METRIC_FIXED = CURRENT_EVENTS["hook_plugin_metrics"].attribute_keys
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PluginMetricKey = Annotated[str, Field(pattern=PLUGIN_METRIC_KEY_PATTERN)]


class HookPluginMetrics(_PluginRef):
    """An official-marketplace plugin's hook reports its own metrics (names and values of its choice)."""

    event: Name = "PostToolUse"
    metrics: Annotated[
        dict[PluginMetricKey, bool | int | FiniteFloat],
        Field(min_length=1, max_length=PLUGIN_METRIC_MAX_KEYS),
    ]

    @model_validator(mode="after")
    def _official_plugin(self) -> HookPluginMetrics:
        if self.plugin is None:
            raise ValueError("give the `plugin` whose hook reports the metrics")
        if not self.plugin_official:
            raise ValueError(
                "only plugins from an official Anthropic marketplace emit hook_plugin_metrics; "
                "use marketplace: claude-plugins-official"
            )
        clashing = sorted(set(self.metrics) & set(_PLUGIN_METRIC_FIXED))
        if clashing:
            raise ValueError(f"metric names {clashing} are the event's own attributes; rename them")
        return self


class Compaction(_Model):
    """Conversation compaction completed; the step lasts duration_ms."""

    trigger: Literal["auto", "manual"] = "auto"
    success: bool = True
    duration_ms: DurationMs = 20000
    pre_tokens: Tokens = 160000
    post_tokens: Tokens = 12000
    error: Name | None = None
    # Manual only: whether /compact reused the summary auto-compaction had prepared.
    precompute_reuse: Literal["hit", "miss_custom_instructions", "miss_hook", "miss_not_ready"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Compaction:
        if self.success and self.error is not None:
            raise ValueError("error describes a failed compaction; set success: false")
        if self.precompute_reuse is not None and self.trigger != "manual":
            raise ValueError("precompute_reuse is only reported for trigger: manual")
        if self.success and self.post_tokens > self.pre_tokens:
            raise ValueError(f"post_tokens ({self.post_tokens}) exceed pre_tokens ({self.pre_tokens})")
        return self


class Subagent(_PluginRef):
    """A subagent finished; a foreground one took duration_ms of the session's time."""

    type: Name = "general-purpose"
    # None: `plugin` for a plugin's agent, else `built-in`; or the settings source of a custom agent.
    source: Name | None = None
    background: bool = False
    # None: the session's model; final_model None: the same as model.
    model: Name | None = None
    final_model: Name | None = None
    duration_ms: DurationMs = 30000
    # The footprint of the subagent's final request only, not a sum over the run.
    total_tokens: Tokens = 0
    tool_uses: Count = 0

    @property
    def effective_source(self) -> str:
        if self.source is not None:
            return self.source
        return "plugin" if self.plugin is not None else "built-in"


class FeedbackSurvey(_Model):
    """A session quality survey appeared or was answered."""

    event_type: Name = "appeared"
    survey_type: Name = "session"
    response: Name | None = None
    # None: a new id at `appeared`, else the current survey's.
    appearance_id: Uuid | None = None
    # CLAUDE_CODE_ENABLE_FEEDBACK_SURVEY_FOR_OTEL was set; reported on session surveys.
    enabled_via_override: bool = False

    @model_validator(mode="after")
    def _response_when_responded(self) -> FeedbackSurvey:
        if self.response is not None and self.event_type != "responded":
            raise ValueError("response goes with event_type: responded")
        return self


STEP_KINDS = (
    "prompt",
    "api_request",
    "edit",
    "tool",
    "commit",
    "pull_request",
    "api_error",
    "active",
    "wait",
    "api_refusal",
    "permission_mode",
    "auth",
    "mcp_connect",
    "internal_error",
    "plugin_install",
    "skill",
    "at_mention",
    "hook",
    "hook_plugin_metrics",
    "compaction",
    "subagent",
    "feedback_survey",
)


class Step(_Model):
    """Exactly one of the fields is set: the step's kind and its parameters."""

    prompt: Prompt | None = None
    api_request: ApiRequest | None = None
    edit: Edit | None = None
    tool: Tool | None = None
    commit: Commit | None = None
    pull_request: PullRequest | None = None
    api_error: ApiError | None = None
    active: Active | None = None
    wait: WaitSeconds | None = None
    api_refusal: ApiRefusal | None = None
    permission_mode: PermissionModeChange | None = None
    auth: Auth | None = None
    mcp_connect: McpConnect | None = None
    internal_error: InternalError | None = None
    plugin_install: PluginInstall | None = None
    skill: Skill | None = None
    at_mention: AtMention | None = None
    hook: Hook | None = None
    hook_plugin_metrics: HookPluginMetrics | None = None
    compaction: Compaction | None = None
    subagent: Subagent | None = None
    feedback_survey: FeedbackSurvey | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        kinds = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a step has exactly one kind, got {len(kinds)}; allowed: {', '.join(STEP_KINDS)}"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)

    @property
    def body(self) -> Any:
        return getattr(self, self.kind)


class Session(_Model):
    """One scripted Claude Code process, started `repeat` times."""

    label: Name | None = None
    user: User = Field(default_factory=User)
    # The session.id to report; None: one drawn from the seed. Names one process, so only with repeat: 1
    # (a recorded session replays under its own id).
    session_id: Uuid | None = None
    model: Name = DEFAULT_MODEL
    app_version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+([-+.][0-9A-Za-z.-]+)?$")] = DEFAULT_APP_VERSION
    # None: no terminal detected, no terminal.type attribute.
    terminal_type: Name | None = "xterm"
    entrypoint: Name = "cli"
    provider: Name = "firstParty"
    custom_base_url: bool = False
    os_type: Name = "linux"
    os_version: Name = "6.8.0"
    host_arch: Name = "amd64"
    permission_mode: PermissionMode = "default"
    # Event-side query_source; metrics always say main, subagent or auxiliary.
    query_source: Name = "repl_main_thread"
    effort: Effort | None = None
    start_type: StartType = "fresh"
    repeat: Repeat = 1
    repeat_every: SpacingSeconds = 0.0
    start_at: StartSeconds = 0.0
    # None: the three built-ins a fresh install loads; [] for none.
    plugins: list[PluginEntry] | None = None
    # Started with --safe-mode: plugins are reported but not loaded.
    safe_mode: bool = False
    # Hooks configured in settings or by plugins: one hook_registered event each at start.
    hooks: list[HookConfig] = Field(default_factory=list)
    # OTEL_LOG_RAW_API_BODIES for this process (`1` or `file:<dir>`): api_request_body and
    # api_response_body events. A session field, not a switch: the bodies are the session's own.
    log_raw_api_bodies: RawBodies | None = None
    # ENABLE_BETA_TRACING_DETAILED=1 with BETA_TRACING_ENDPOINT: with OTEL_LOG_TOOL_DETAILS, hook events
    # carry hook_definitions.
    beta_tracing_detailed: bool = False
    steps: list[Step] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_process_per_id(self) -> Session:
        if self.session_id is not None and self.repeat != 1:
            raise ValueError(
                f"session_id names one process; it cannot go with repeat: {self.repeat} "
                "(drop session_id, or make one session entry per id)"
            )
        return self


SESSION_FIELDS = tuple(Session.model_fields)


class ScenarioHeader(_Model):
    """Everything in a scenario file but its sessions: what a file read one session at a time starts with."""

    version: Literal[1]
    name: Name
    description: str = ""
    # Every id and fake value derives from it: same seed, same telemetry.
    seed: int = 0
    prices: dict[str, Price] = Field(default_factory=dict)
    # Already merged into every session by the loader; kept to show what the file said.
    defaults: dict[str, Any] = Field(default_factory=dict)


class Scenario(ScenarioHeader):
    sessions: Annotated[list[Session], Field(min_length=1)]

    @model_validator(mode="after")
    def _distinct_session_ids(self) -> Scenario:
        seen: dict[str, int] = {}
        for i, session in enumerate(self.sessions):
            if problem := claim_session_id(seen, session, i):
                raise ValueError(problem)
        return self


def claim_session_id(seen: dict[str, int], session: Session, index: int) -> str | None:
    """Remember session `index`'s session_id in `seen`; the problem, if an earlier session has it."""
    if session.session_id is None:
        return None
    key = session.session_id.lower()
    if key in seen:
        return (
            f"sessions[{index}] has the session_id of sessions[{seen[key]}]; "
            "two processes never share one session.id"
        )
    seen[key] = index
    return None


def turn_final_requests(kinds: Iterable[str]) -> frozenset[int]:
    """The indices, among steps of these kinds, of the api_request steps that end a turn: the last one
    before the next prompt or the end of the session."""
    out: set[int] = set()
    last: int | None = None
    for j, kind in enumerate(kinds):
        if kind == "prompt" and last is not None:
            out.add(last)
            last = None
        elif kind == "api_request":
            last = j
    if last is not None:
        out.add(last)
    return frozenset(out)


def effective_model(session: Session, step: ApiRequest | ApiError | ApiRefusal | Subagent) -> str:
    return step.model or session.model


def unpriced_steps(session: Session, known_models: set[str]) -> list[tuple[int, str]]:
    """(step, model) of every api_request of one session with no cost_usd whose model has no price."""
    out = []
    for j, step in enumerate(session.steps):
        body = step.api_request
        if body is not None and body.cost_usd is None and effective_model(session, body) not in known_models:
            out.append((j, effective_model(session, body)))
    return out
