"""Steps of the conversation: prompts, API requests and their responses, active time, waits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claude_telemetry_cli.contract import (
    ACTIVE_TIME_TOTAL,
    COST_USAGE,
    TOKEN_TYPES,
    TOKEN_USAGE,
    price_request,
)
from claude_telemetry_cli.scenario.compile.bodies import attempt_bodies, response_body
from claude_telemetry_cli.scenario.compile.timing import MS
from claude_telemetry_cli.scenario.model import Active, ApiRequest, Prompt, effective_model

if TYPE_CHECKING:
    from claude_telemetry_cli.scenario.compile.process import Process

__all__ = ["REDACTED", "step_active", "step_api_request", "step_prompt", "step_wait"]

REDACTED = "<REDACTED>"


def step_prompt(process: Process, prompt: Prompt, before: int, after: int) -> None:
    options = process.options
    process.prompt_id = process.new_uuid()
    message_uuid = process.new_uuid()
    process.skill_attribution = {}
    length = prompt.effective_length
    text = REDACTED
    if options.log_user_prompts:
        text = prompt.text if prompt.text is not None else process.text(length)
    source = command = None
    if prompt.command is not None:
        source = prompt.command_source or "builtin"
        # Custom, plugin and MCP command names collapse to their source without tool details.
        command = prompt.command if source == "builtin" or options.log_tool_details else source
    process.event(
        process.cursor,
        "user_prompt",
        {
            "prompt_length": str(length),
            "prompt": text,
            "prompt_text": text,
            # A command dispatch makes zero or many messages, so it names none.
            "message.uuid": message_uuid if command is None else None,
            "command_name": command,
            "command_source": source,
        },
    )


def step_api_request(process: Process, request: ApiRequest, before: int, after: int) -> None:
    entry = process.entry
    model = effective_model(entry, request)
    effort = request.effort or entry.effort
    cost = request.cost_usd
    if cost is None:
        cost = price_request(
            process.context.prices[model],
            request.input_tokens,
            request.output_tokens,
            request.cache_read_tokens,
            request.cache_creation_tokens,
        )
    started = process.cursor
    process.cursor += after
    at = process.cursor
    request_id = process.new_base62("req_")
    message_uuid = process.new_uuid()
    client_request_id = process.client_request_id()
    process.request_id = request_id
    process.model = model
    attribution = process.attribution(request)
    query_source = request.event_query_source or entry.query_source
    # One request body per attempt: the final one took duration_ms, the failed ones and the backoff
    # came before it.
    attempt_bodies(
        process,
        started,
        at - request.duration_ms * MS,
        request.attempt,
        model,
        query_source,
        request.input_tokens + request.cache_read_tokens + request.cache_creation_tokens,
    )
    measured = {
        "model": model + process.profile.usage_model_suffix,
        "query_source": request.query_source,
        "speed": "fast" if request.speed == "fast" else None,
        "effort": effort,
        **attribution,
    }
    process.metric(at, COST_USAGE, cost, measured)
    for token_type, field in TOKEN_TYPES:
        process.metric(at, TOKEN_USAGE, getattr(request, field), {**measured, "type": token_type})
    ttft = request.ttft_ms
    if ttft is None:
        ttft = max(0, request.duration_ms - max(2, request.duration_ms // 100))
    response_body(process, at, request, model, query_source, request_id)
    process.event(
        at,
        "api_request",
        {
            "model": model,
            "input_tokens": request.input_tokens,
            "output_tokens": request.output_tokens,
            "cache_read_tokens": request.cache_read_tokens,
            "cache_creation_tokens": request.cache_creation_tokens,
            "cache_creation_5m_tokens": request.cache_creation_5m_tokens,
            "cache_creation_1h_tokens": request.cache_creation_1h_tokens,
            "cost_usd": float(cost),
            "cost_usd_micros": round(cost * 1_000_000),
            "duration_ms": request.duration_ms,
            "ttft_ms": ttft,
            "request_id": request_id,
            "client_request_id": client_request_id,
            "speed": request.speed,
            "query_source": query_source,
            "effort": effort,
            **attribution,
        },
        # The retries only the llm_request span tells of: its attempts, and its duration with them.
        span_attributes={"attempt": request.attempt, "duration_ms": request.effective_total_ms}
        if request.attempt > 1
        else None,
    )
    length = process.response_length(request)
    if length:
        text = REDACTED
        if process.options.reveal_responses:
            text = request.text if isinstance(request.text, str) else process.text(length)
            text = process.content(text)[0]
        process.event(
            at,
            "assistant_response",
            {
                "response_length": length,
                "response": text,
                "request_id": request_id,
                "message.uuid": message_uuid,
                "model": model,
                "query_source": query_source,
            },
        )


def step_active(process: Process, active: Active, before: int, after: int) -> None:
    for kind, seconds in (("user", active.user), ("cli", active.cli)):
        if seconds is not None:
            process.metric(process.cursor, ACTIVE_TIME_TOTAL, seconds, {"type": kind})


def step_wait(process: Process, seconds: float, before: int, after: int) -> None:
    process.cursor += after
