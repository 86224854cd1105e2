"""The content limit: how long a content-bearing attribute may be before Claude Code truncates it.

Model responses (`assistant_response.response`), raw API bodies (`api_request_body.body`), tool content
(the `tool.output` span event) are cut at CLAUDE_CODE_OTEL_CONTENT_MAX_LENGTH, 61440 UTF-16 code units
(60 KB) by default, the truncation marker included; an OpenTelemetry SDK attribute value limit
(OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, or its log record or span variant) set lower wins, so the marker
stays within what the SDK keeps. Lengths are JavaScript's: UTF-16 code units.
"""

from __future__ import annotations

__all__ = ["DEFAULT_CONTENT_LIMIT", "cut_to", "truncate_content", "utf16_length"]

DEFAULT_CONTENT_LIMIT = 61_440


def _marker(limit: int) -> str:
    size = "60KB" if limit == DEFAULT_CONTENT_LIMIT else f"{limit} character"
    return f"\n\n[TRUNCATED - Content exceeds {size} limit]"


def utf16_length(text: str) -> int:
    """The length JavaScript gives `text`: characters outside the BMP count twice."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def cut_to(text: str, units: int) -> str:
    """The longest prefix of `text` at most `units` UTF-16 code units long, never half a surrogate pair."""
    if text.isascii():
        return text[:units]
    return text.encode("utf-16-le")[: 2 * units].decode("utf-16-le", errors="ignore")


def truncate_content(text: str, limit: int) -> tuple[str, bool]:
    """`text` as Claude Code sends it under content limit `limit`, and whether it was cut: at most `limit`
    code units, the marker included (a limit shorter than the marker keeps a bare prefix)."""
    if utf16_length(text) <= limit:
        return text, False
    marker = _marker(limit)
    room = limit - utf16_length(marker)
    if room <= 0:
        return cut_to(text, limit), True
    return cut_to(text, room) + marker, True
