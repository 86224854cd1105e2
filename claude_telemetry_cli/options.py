"""What shapes the records a scenario compiles to: profile, attribute switches, content gates."""

from __future__ import annotations

from dataclasses import dataclass


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
    # What the client reads from its own environment and reports on every point and event:
    # ANTHROPIC_BASE_URL (anthropic.custom_base_url), CLAUDE_CODE_USE_BEDROCK/_VERTEX/_FOUNDRY
    # (anthropic.provider), TERM (terminal.type). None: the environment says nothing, so the session's
    # default stands; a field the scenario sets wins either way.
    custom_base_url: bool | None = None
    provider: str | None = None
    terminal_type: str | None = None

    @property
    def reveal_responses(self) -> bool:
        if self.log_assistant_responses is None:
            return self.log_user_prompts
        return self.log_assistant_responses
