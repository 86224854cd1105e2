"""Raw API bodies (OTEL_LOG_RAW_API_BODIES): each API call's request and response, inline or by file."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from claude_telemetry_cli.contract.content_limit import utf16_length
from claude_telemetry_cli.records import AttrValue
from claude_telemetry_cli.scenario.model import ApiRequest

if TYPE_CHECKING:
    from claude_telemetry_cli.scenario.compile.process import Process

__all__ = ["attempt_bodies", "request_body", "response_body"]

# A request body holds the whole conversation: about four characters per token of context.
_CHARS_PER_TOKEN = 4
_FILLER = "The quick brown fox jumps over the lazy dog. "


def attempt_bodies(
    process: Process,
    started: int,
    final: int,
    attempts: int,
    model: str,
    query_source: str,
    context_tokens: int,
) -> None:
    """One request body per attempt of a request: the first sent at `started`, the final one at `final`,
    the others spread evenly between (the failed attempts and the backoff)."""
    for k in range(attempts):
        sent = started + (final - started) * k // (attempts - 1) if attempts > 1 else started
        request_body(process, sent, model, query_source, context_tokens)


def request_body(process: Process, at: int, model: str, query_source: str, context_tokens: int) -> None:
    file_id = process.catalogue_uuid()
    if process.raw_api_bodies is None:
        return  # the id is drawn all the same, so the switch never shifts the ids after it
    chars = context_tokens * _CHARS_PER_TOKEN
    # Past the content limit, filler is only counted: its size must not grow with the token count.
    shown = min(chars, process.options.event_content_limit)
    body = {
        "model": model,
        "max_tokens": 32000,
        "stream": True,
        "messages": [{"role": "user", "content": _filler(shown)}],
    }
    _body_event(
        process,
        at,
        "api_request_body",
        body,
        f"{file_id}.request.json",
        model,
        query_source,
        {},
        chars - shown,
    )


def response_body(
    process: Process, at: int, request: ApiRequest, model: str, query_source: str, request_id: str
) -> None:
    message_id = process.new_base62("msg_", process.more_rng)
    if process.raw_api_bodies is None:
        return  # the id is drawn all the same, so the switch never shifts the ids after it
    length = process.response_length(request)
    shown = length if isinstance(request.text, str) else min(length, process.options.event_content_limit)
    text = request.text if isinstance(request.text, str) else _filler(shown)
    body = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if length else [],
        "stop_reason": "end_turn" if length else "tool_use",
        "usage": {
            "input_tokens": request.input_tokens,
            "output_tokens": request.output_tokens,
            "cache_read_input_tokens": request.cache_read_tokens,
            "cache_creation_input_tokens": request.cache_creation_tokens,
        },
    }
    _body_event(
        process,
        at,
        "api_response_body",
        body,
        f"{request_id}.response.json",
        model,
        query_source,
        {"request_id": request_id},
        length - shown,
    )


def _body_event(
    process: Process,
    at: int,
    name: str,
    body: dict[str, Any],
    file_name: str,
    model: str,
    query_source: str,
    more: dict[str, AttrValue],
    unseen: int = 0,
) -> None:
    """`unseen`: characters of filler left out of `body`'s one filler text (ASCII: one byte and one
    UTF-16 unit each), past what the inline body shows."""
    mode = process.raw_api_bodies
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if mode == "1":
        # Inline: measured and cut in UTF-16 code units, as JavaScript strings are. The filler left out
        # lies past the content limit, so the cut falls within `text`.
        length = utf16_length(text) + unseen
        shown, truncated = process.content(text)
        if unseen and not truncated:
            raise AssertionError("filler was left out of a body the content limit does not cut")
        own = {"body": shown, "body_length": length, "body_truncated": "true" if truncated else None}
    else:
        directory = mode.removeprefix("file:").rstrip("/")
        own = {"body_ref": f"{directory}/{file_name}", "body_length": len(text.encode()) + unseen}
    process.event(at, name, {**own, "model": model, "query_source": query_source, **more})


def _filler(length: int) -> str:
    """Text of exactly `length` characters, cheap enough for bodies of hundreds of kilobytes."""
    return (_FILLER * (length // len(_FILLER) + 1))[:length]
