"""One variable's value read as what it stands for: key=value lists, headers, durations, switches, URLs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.pairs import split_pair
from claude_telemetry_cli.settings.names import HEADER_VARIABLES, SECRET_VARIABLES

__all__ = [
    "FALSE",
    "TRUE",
    "check_url",
    "mask_url",
    "merge_headers",
    "merge_pairs",
    "parse_key_value_list",
    "positive_ms",
    "switch",
]

TRUE = ("1", "true")
FALSE = ("0", "false")


def parse_key_value_list(text: str, variable: str) -> list[tuple[str, str]]:
    """Parse `k=v,k2=v2` (W3C baggage style, as OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES use).

    Keys and values are trimmed and percent-decoded; a value may contain '='; empty items are skipped;
    order and duplicates are kept, so callers decide which duplicate wins.
    """
    what = "header" if variable in HEADER_VARIABLES else "attribute"
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        key, value = split_pair(
            item,
            f"{variable}: malformed {what}",
            form="key=value pairs separated by commas",
            secret=variable in SECRET_VARIABLES,
            error=ConfigError,
        )
        pairs.append((unquote(key), unquote(value.strip())))
    return pairs


def merge_pairs(
    base: Iterable[tuple[str, str]], over: Iterable[tuple[str, str]], *, case_insensitive: bool
) -> tuple[tuple[str, str], ...]:
    """Later pairs replace earlier ones with the same key, keeping the first one's position."""
    merged: dict[str, tuple[str, str]] = {}
    for key, value in (*base, *over):
        merged[key.lower() if case_insensitive else key] = (key, value)
    return tuple(merged.values())


def merge_headers(base: Iterable[tuple[str, str]], over: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Headers `over` replace those of `base` with the same name, whatever its case."""
    return merge_pairs(base, over.items(), case_insensitive=True)


def positive_ms(variable: str, raw: str) -> int:
    text = raw.strip()
    if not text.isdigit() or not text.isascii() or int(text) <= 0:
        raise ConfigError(f"{variable}: '{raw}' is not a positive whole number of milliseconds")
    return int(text)


def switch(variable: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ConfigError(f"{variable}: '{raw}' is not a boolean; allowed: true, false, 1, 0")


def check_url(variable: str, value: str) -> None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{variable}: '{mask_url(value)}' is not an http(s) URL with a host, e.g. http://localhost:4317"
        )


def mask_url(url: str) -> str:
    """Hide the password of a URL's user-info, which would otherwise leak a credential."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
