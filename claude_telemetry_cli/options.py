"""What shapes the records a scenario compiles to: profile, attribute switches, content gates."""

from __future__ import annotations

from dataclasses import dataclass

from claude_telemetry_cli.contract.content_limit import DEFAULT_CONTENT_LIMIT


@dataclass(frozen=True)
class EmitOptions:
    profile: str = "current"
    include_session_id: bool = True
    include_version: bool = False
    include_account_uuid: bool = True
    include_entrypoint: bool = False
    include_resource_attributes: bool = True
    # OTEL_RESOURCE_ATTRIBUTES pairs, percent-decoded, in the order given.
    resource_attributes: tuple[tuple[str, str], ...] = ()
    log_user_prompts: bool = False
    # None: follow log_user_prompts, as Claude Code does when OTEL_LOG_ASSISTANT_RESPONSES is unset.
    log_assistant_responses: bool | None = None
    log_tool_details: bool = False
    # OTEL_LOG_TOOL_CONTENT: a tool.output event on each claude_code.tool span.
    log_tool_content: bool = False
    # OTEL_LOG_RAW_API_BODIES (`1` or `file:<dir>`): the default of sessions that do not set their own.
    log_raw_api_bodies: str | None = None
    # CLAUDE_CODE_OTEL_CONTENT_MAX_LENGTH, lowered by the SDK attribute value limits of each signal.
    content_limit: int = DEFAULT_CONTENT_LIMIT
    # The SDK attribute value limits (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT and the log record and span
    # variants): every longer string attribute is cut there. None: no limit.
    log_value_limit: int | None = None
    span_value_limit: int | None = None
    # DISABLE_ERROR_REPORTING set: no internal_error events.
    error_reporting: bool = True
    # What the client reads from its own environment and reports on every point and event:
    # ANTHROPIC_BASE_URL (anthropic.custom_base_url), CLAUDE_CODE_USE_BEDROCK/_VERTEX/_FOUNDRY
    # (anthropic.provider), TERM (terminal.type). None: the environment says nothing, so the session's
    # default stands; a field the scenario sets wins either way.
    custom_base_url: bool | None = None
    provider: str | None = None
    terminal_type: str | None = None

    @property
    def event_content_limit(self) -> int:
        return min(self.content_limit, self.log_value_limit or self.content_limit)

    @property
    def span_content_limit(self) -> int:
        return min(self.content_limit, self.span_value_limit or self.content_limit)

    @property
    def reveal_responses(self) -> bool:
        if self.log_assistant_responses is None:
            return self.log_user_prompts
        return self.log_assistant_responses
