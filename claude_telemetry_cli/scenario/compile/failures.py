"""API calls that fail: errors with their retries, and refusals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claude_telemetry_cli.contract.profiles import REFUSAL_CATEGORIES
from claude_telemetry_cli.scenario.compile.bodies import attempt_bodies
from claude_telemetry_cli.scenario.compile.timing import MS
from claude_telemetry_cli.scenario.model import ApiError, ApiRefusal, effective_model

if TYPE_CHECKING:
    from claude_telemetry_cli.scenario.compile.process import Process

__all__ = ["step_api_error", "step_api_refusal"]


def step_api_error(process: Process, error: ApiError, before: int, after: int) -> None:
    entry = process.entry
    model = effective_model(entry, error)
    query_source = error.event_query_source or entry.query_source
    # One request body per attempt; the last attempt took duration_ms, the backoff came between.
    final = process.cursor + after - error.duration_ms * MS
    attempt_bodies(process, process.cursor, final, error.attempt, model, query_source, 0)
    process.cursor += after
    message = error.effective_error
    # Drawn whether or not it is reported: an HTTP error response carries a request-id.
    request_id = process.new_base62("req_", process.more_rng)
    process.event(
        process.cursor,
        "api_error",
        {
            "model": model,
            "error": message,
            "status_code": error.status_code,
            "duration_ms": error.duration_ms,
            "attempt": error.attempt,
            "request_id": request_id if error.status_code is not None else None,
            "client_request_id": process.client_request_id(),
            "speed": error.speed,
            "query_source": query_source,
            "effort": error.effort or entry.effort,
            **process.attribution(error),
        },
    )
    if error.attempt > 1:
        process.event(
            process.cursor,
            "api_retries_exhausted",
            {
                "model": model,
                "error": message,
                "status_code": error.status_code,
                "total_attempts": error.attempt,
                "total_retry_duration_ms": error.effective_total_ms,
                "speed": error.speed,
                "query_source": query_source,
                "effort": error.effort or entry.effort,
            },
        )


def step_api_refusal(process: Process, refusal: ApiRefusal, before: int, after: int) -> None:
    hop = refusal.server_fallback_hop
    # Hop blocks carry no stop_details, hence neither has_category nor has_explanation.
    has_category = None if hop else refusal.category in REFUSAL_CATEGORIES
    process.event(
        process.cursor,
        "api_refusal",
        {
            "model": effective_model(process.entry, refusal),
            "request_id": process.new_base62("req_", process.more_rng),
            "query_source": refusal.event_query_source or process.entry.query_source,
            "speed": refusal.speed,
            "attempt": refusal.attempt,
            "effort": refusal.effort or process.entry.effort,
            "server_fallback_hop": hop,
            "has_category": has_category,
            "has_explanation": None if hop else refusal.has_explanation,
            "category": refusal.category if has_category and process.options.log_tool_details else None,
            **process.attribution(refusal),
        },
    )
