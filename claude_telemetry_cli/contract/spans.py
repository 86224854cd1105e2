"""Claude Code's beta traces as data: the tracer scope, the span tree, each span's own attributes.

From the monitoring page (2026-08), "Traces (beta)". Every span also carries the standard attributes
(the same set as events) and `span.type`, the span's name; those are not repeated below. Attribute
order is the wire order the simulator writes, the order of the documentation's tables.
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
REDACTED = "<REDACTED>"

# Events that run in the background rather than as part of a turn: they carry the ids of an
# interaction they happen to fall into, but never stretch it (a turn ends with its own last record).
BACKGROUND_EVENTS = frozenset({"retention_sweep"})

# The JS SDK's BatchSpanProcessor default batch size, which Claude Code uses.
MAX_SPAN_BATCH = 512


@dataclass(frozen=True)
class SpanSpec:
    name: str
    parent: str | None  # the parent span's name; None for a root
    description: str
    attributes: tuple[A, ...]
    # Only llm_request, tool.execution (and hook) set status ERROR on failure; others stay UNSET.
    can_fail: bool = False

    @property
    def attribute_keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.attributes)


SPANS: dict[str, SpanSpec] = {
    s.name: s
    for s in (
        SpanSpec(
            INTERACTION,
            None,
            "One user prompt and everything it triggers, until the turn's last record",
            (
                A(
                    "user_prompt",
                    "string",
                    "prompt text, <REDACTED> unless gated in",
                    "OTEL_LOG_USER_PROMPTS",
                ),
                A("user_prompt_length", "int", "prompt length in characters"),
                A("interaction.sequence", "int", "1-based counter of interactions in this session"),
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
                A("query_source", "string", "subsystem that issued the request, e.g. repl_main_thread"),
                A("speed", "string", "fast or normal"),
                A("llm_request.context", "string", "interaction, tool or standalone: the parent span"),
                A("duration_ms", "int", "wall-clock duration including retries"),
                A("ttft_ms", "int", "time to first token", "optional"),
                A("input_tokens", "int", "input tokens", "optional"),
                A("output_tokens", "int", "output tokens", "optional"),
                A("cache_read_tokens", "int", "tokens read from the prompt cache", "optional"),
                A("cache_creation_tokens", "int", "tokens written to the prompt cache", "optional"),
                A("request_id", "string", "API request id (request-id header)", "optional"),
                A("gen_ai.response.id", "string", "same value as request_id", "optional"),
                A("client_request_id", "string", "x-client-request-id of the final attempt"),
                A("attempt", "int", "total attempts made for this request"),
                A("success", "bool", "true or false"),
                A("status_code", "int", "HTTP status when the request failed", "optional"),
                A("error", "string", "error message when the request failed", "optional"),
                A("response.has_tool_call", "bool", "the response contained tool-use blocks", "optional"),
                A("stop_reason", "string", "end_turn, tool_use, ...", "optional"),
                A("gen_ai.response.finish_reasons", "string[]", "stop_reason in an array", "optional"),
            ),
            can_fail=True,
        ),
        SpanSpec(
            TOOL,
            INTERACTION,
            "One tool call: the permission wait and the execution",
            (
                A("tool_name", "string", "tool name"),
                A("duration_ms", "int", "wall-clock duration including permission wait and execution"),
                A("result_tokens", "int", "approximate token size of the tool result", "optional"),
                A("tool_use_id", "string", "the model's tool_use block id, as on tool_decision/tool_result"),
                A("gen_ai.tool.call.id", "string", "same value as tool_use_id"),
            ),
        ),
        SpanSpec(
            BLOCKED_ON_USER,
            TOOL,
            "Time spent waiting for the permission decision",
            (
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
                A("duration_ms", "int", "time spent running the tool body"),
                A("tool_use_id", "string", "same value as on the parent claude_code.tool span"),
                A("gen_ai.tool.call.id", "string", "same value as tool_use_id"),
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
