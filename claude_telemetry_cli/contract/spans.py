"""Claude Code's beta traces as data: the tracer scope, the span tree, each span's own attributes.

From the monitoring page (2026-08), "Traces (beta)", and what Claude Code 2.1.332 sent
(tests/data/real-client-2.1.332-traces-session.json). Every span starts with the standard attributes
(the same set as events), then `gen_ai.provider.name` and `span.type` (the span's name without its
`claude_code.` prefix); those are not repeated below. Attribute order is the wire order of 2.1.332;
attributes it did not send in that capture (failures, a first-party client_request_id) keep the
order the documentation lists them in, next to their neighbours there. The tool span's detail
attributes (OTEL_LOG_TOOL_DETAILS) stand with the other attributes its call's input gives
(bash_argv0), and its `tool.output` event's attribute names are this tool's reading of "the tool's
input and output bodies": no capture shows either.
"""

from __future__ import annotations

from dataclasses import dataclass

from claude_telemetry_cli.contract.model import AttributeSpec as A

# The observed tracer scope: versioned 1.0.0, not with the client version (TELEMETRY.md).
TRACER_NAME = "com.anthropic.claude_code.tracing"
TRACER_VERSION = "1.0.0"

INTERACTION = "claude_code.interaction"
LLM_REQUEST = "claude_code.llm_request"
TOOL = "claude_code.tool"
BLOCKED_ON_USER = "claude_code.tool.blocked_on_user"
EXECUTION = "claude_code.tool.execution"

SPAN_TYPE = "span.type"
PROVIDER_NAME = "gen_ai.provider.name"
REDACTED = "<REDACTED>"

# The llm_request span's event, one per attempt of the request.
REQUEST_ATTEMPT = "gen_ai.request.attempt"
# The tool span's event with the tool's input and output bodies (OTEL_LOG_TOOL_CONTENT), and the prefix
# that marks its attributes among what a tool call hands its span.
TOOL_OUTPUT = "tool.output"
TOOL_OUTPUT_PREFIX = "tool.output/"

# Events that run in the background rather than as part of a turn: they carry the ids of an
# interaction they happen to fall into, but never stretch it (a turn ends with its own last record).
BACKGROUND_EVENTS = frozenset({"retention_sweep"})

# The JS SDK's BatchSpanProcessor default batch size, which Claude Code uses.
MAX_SPAN_BATCH = 512

# Span.flags as Claude Code's JS exporter writes them: the W3C trace flags (sampled, 0x01) and
# "has is_remote" (0x100), never remote. The Python SDK's encoders leave the trace flags out (256).
SPAN_FLAGS = 0x101


def span_type(name: str) -> str:
    """The `span.type` of a span: its name without the `claude_code.` prefix (`tool.execution`)."""
    return name.removeprefix("claude_code.")


@dataclass(frozen=True)
class SpanEventSpec:
    name: str
    description: str
    attributes: tuple[A, ...]

    @property
    def attribute_keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.attributes)


@dataclass(frozen=True)
class SpanSpec:
    name: str
    parent: str | None  # the parent span's name; None for a root
    description: str
    attributes: tuple[A, ...]
    # Only llm_request, tool.execution (and hook) set status ERROR on failure; others stay UNSET.
    can_fail: bool = False
    events: tuple[SpanEventSpec, ...] = ()

    @property
    def attribute_keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.attributes)


_CONVERSATION = A("gen_ai.conversation.id", "string", "the session id")

SPANS: dict[str, SpanSpec] = {
    s.name: s
    for s in (
        SpanSpec(
            INTERACTION,
            None,
            "One user prompt and everything it triggers, until the turn's last record",
            (
                A("gen_ai.operation.name", "string", "always invoke_agent"),
                _CONVERSATION,
                A(
                    "user_prompt",
                    "string",
                    "prompt text, <REDACTED> unless gated in",
                    "OTEL_LOG_USER_PROMPTS",
                ),
                A("user_prompt_length", "int", "prompt length in characters"),
                A("interaction.sequence", "int", "1-based counter of interactions in this session"),
                A("parent.source", "string", "none, or env when the caller passed TRACEPARENT"),
                A("queued_sends", "int", "prompts queued while the turn ran"),
                A("interaction.duration_ms", "int", "wall-clock duration of the turn"),
            ),
        ),
        SpanSpec(
            LLM_REQUEST,
            INTERACTION,
            "One API request, retries included",
            (
                A("model", "string", "model identifier"),
                A("gen_ai.system", "string", "always anthropic"),
                A("gen_ai.request.model", "string", "same value as model"),
                A("gen_ai.operation.name", "string", "always chat"),
                A("llm_request.context", "string", "interaction, tool or standalone: the parent span"),
                A("speed", "string", "fast or normal"),
                _CONVERSATION,
                A("query_source_safe", "string", "the subsystem that made the request, as on api_request"),
                A("duration_ms", "int", "wall-clock duration including retries"),
                A("input_tokens", "int", "input tokens", "optional"),
                A("output_tokens", "int", "output tokens", "optional"),
                A("cache_read_tokens", "int", "tokens read from the prompt cache", "optional"),
                A("cache_creation_tokens", "int", "tokens written to the prompt cache", "optional"),
                A("success", "bool", "true or false"),
                A("attempt", "int", "total attempts made for this request"),
                A("status_code", "int", "HTTP status when the request failed", "optional"),
                A("error", "string", "error message when the request failed", "optional"),
                A("request_id", "string", "API request id (request-id header)", "optional"),
                A("gen_ai.response.id", "string", "same value as request_id", "optional"),
                A(
                    "client_request_id",
                    "string",
                    "x-client-request-id of the final attempt; first-party API only, as on api_request",
                    "optional",
                ),
                A("ttft_ms", "int", "time to first token", "optional"),
                A("first_content_ms", "int", "time to the first content block", "optional"),
                A("effort", "string", "the request's effort, as on api_request", "optional"),
                A("stop_reason", "string", "end_turn, tool_use, ...", "optional"),
                A("gen_ai.response.finish_reasons", "string[]", "stop_reason in an array", "optional"),
                A(
                    "gen_ai.usage.input_tokens",
                    "int",
                    "every prompt token: input + cache read + cache creation",
                    "optional",
                ),
                A("gen_ai.usage.output_tokens", "int", "same value as output_tokens", "optional"),
                A("gen_ai.usage.cache_read.input_tokens", "int", "same as cache_read_tokens", "optional"),
                A("gen_ai.usage.cache_write.input_tokens", "int", "as cache_creation_tokens", "optional"),
                A("gen_ai.response.model", "string", "the model that answered", "optional"),
            ),
            can_fail=True,
            events=(
                SpanEventSpec(
                    REQUEST_ATTEMPT,
                    "One attempt of the request, when it was sent",
                    (
                        A("attempt", "int", "1-based attempt number"),
                        A(
                            "client_request_id",
                            "string",
                            "the attempt's x-client-request-id; first-party API only",
                            "optional",
                        ),
                    ),
                ),
            ),
        ),
        SpanSpec(
            TOOL,
            INTERACTION,
            "One tool call: the permission wait and the execution",
            (
                A("tool_name", "string", "tool name"),
                A("tool_name_safe", "string", "tool name; mcp_other for an MCP tool"),
                A("gen_ai.operation.name", "string", "always execute_tool"),
                A("gen_ai.tool.name", "string", "same value as tool_name"),
                _CONVERSATION,
                A("bash_command_class", "string", "Bash only: vcs, other, ...", "optional"),
                A("bash_argv0", "string", "Bash only: the command's program, e.g. git", "optional"),
                A("file_path", "string", "Read, Edit and Write: the target file", "OTEL_LOG_TOOL_DETAILS"),
                A("full_command", "string", "Bash: the command", "OTEL_LOG_TOOL_DETAILS"),
                A("skill_name", "string", "Skill: the skill's name", "OTEL_LOG_TOOL_DETAILS"),
                A("subagent_type", "string", "Agent or Task: the subagent type", "OTEL_LOG_TOOL_DETAILS"),
                A(
                    "tool_input",
                    "string",
                    "the call's arguments as JSON, cut as tool_result's",
                    "OTEL_LOG_TOOL_DETAILS",
                ),
                A("tool_use_id", "string", "the model's tool_use block id, as on tool_decision/tool_result"),
                A("gen_ai.tool.call.id", "string", "same value as tool_use_id"),
                A("duration_ms", "int", "wall-clock duration including permission wait and execution"),
            ),
            events=(
                SpanEventSpec(
                    TOOL_OUTPUT,
                    "The tool's input and output bodies, when it ran (OTEL_LOG_TOOL_CONTENT)",
                    (
                        A(
                            "tool_input",
                            "string",
                            "the arguments as JSON, cut at the content limit",
                            "optional",
                        ),
                        A("tool_output", "string", "the result, cut at the content limit"),
                    ),
                ),
            ),
        ),
        SpanSpec(
            BLOCKED_ON_USER,
            TOOL,
            "Time spent waiting for the permission decision",
            (
                _CONVERSATION,
                A("duration_ms", "int", "time spent waiting for the permission decision"),
                A("decision", "string", "accept or reject"),
                A("source", "string", "decision source, as on the tool_decision event"),
            ),
        ),
        SpanSpec(
            EXECUTION,
            TOOL,
            "Time spent running the tool body (absent when the call was rejected)",
            (
                _CONVERSATION,
                A("tool_use_id", "string", "same value as on the parent claude_code.tool span"),
                A("gen_ai.tool.call.id", "string", "same value as tool_use_id"),
                A("duration_ms", "int", "time spent running the tool body"),
                A("success", "bool", "true or false"),
                A(
                    "error",
                    "string",
                    "error category (e.g. ShellError); the full message with the gate",
                    "optional",
                ),
            ),
            can_fail=True,
        ),
    )
}
