"""One variable's value read as what it stands for: key=value lists, headers, durations, switches, URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.pairs import masked, split_pair
from claude_telemetry_cli.settings.names import HEADER_VARIABLES, SECRET_VARIABLES

__all__ = [
    "FALSE",
    "TRUE",
    "check_headers",
    "check_url",
    "mask_url",
    "merge_headers",
    "merge_pairs",
    "parse_key_value_list",
    "positive_ms",
    "switch",
]

MAX_MS = 2**31 - 1  # milliseconds of an interval or debounce
MAX_PAIRS = 32  # key=value pairs in one variable (OTEL_RESOURCE_ATTRIBUTES, *_HEADERS); real ones list a few
TRUE = ("1", "true")
FALSE = ("0", "false")


def parse_key_value_list(text: str, variable: str) -> list[tuple[str, str]]:
    """Parse `k=v,k2=v2` (W3C baggage style, as OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES use).

    Keys and values are trimmed and percent-decoded; a value may contain '='; empty items are skipped;
    order and duplicates are kept, so callers decide which duplicate wins. A header's value is trimmed
    again once decoded: a receiver drops the white space around a header value, and an HTTP client
    refuses to send it.
    """
    header = variable in HEADER_VARIABLES
    what = "header" if header else "attribute"
    pairs: list[tuple[str, str]] = []
    items = [item for item in text.split(",") if item.strip()]
    for number, item in enumerate(items, start=1):
        # A header is shown masked, so its place in the list says which one it is.
        place = f" {number} of {len(items)}" if header else ""
        key, value = split_pair(
            item,
            f"{variable}: malformed {what}{place}",
            form="key=value pairs separated by commas",
            secret=variable in SECRET_VARIABLES,
            error=ConfigError,
        )
        value = unquote(value.strip())
        pairs.append((unquote(key), value.strip(" \t") if header else value))
    if len(pairs) > MAX_PAIRS:
        # Claude Code puts every resource attribute on every point and event: the work grows with them.
        raise ConfigError(
            f"{variable}: {len(pairs):,} {what}s are more than {MAX_PAIRS}, the most one variable may list"
        )
    return pairs


# RFC 9110's token: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# gRPC metadata keys, lowercased as the exporters send them.
_GRPC_KEY = re.compile(r"[0-9a-z_.\-]+")
# What Node's HTTP client (Claude Code's) refuses in a header value; gRPC takes printable ASCII only.
_HTTP_VALUE_REFUSED = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
_GRPC_VALUE_REFUSED = re.compile(r"[^\x20-\x7e]")


def check_headers(where: str, headers: Iterable[tuple[str, str]], *, grpc: bool) -> None:
    """A ConfigError naming `where` and the header if one cannot be sent as Claude Code would send it: a
    name that is not a header name, or a value holding a character HTTP (or gRPC) refuses, such as a
    line break decoded from %0A. The message names the header and never shows its value: it is
    usually a credential."""
    transport = "gRPC metadata" if grpc else "HTTP header"
    for name, value in headers:
        if not _HEADER_NAME.fullmatch(name):
            # `Authorization: Bearer <token>=` splits at the token's own '=': the "name" holds it.
            raise ConfigError(f"{where}: '{masked(name + ' ')}' is not a header name; expected name=value")
        if grpc and not _GRPC_KEY.fullmatch(name.lower()):
            raise ConfigError(f"{where}: '{name}' is not a valid {transport} key (letters, digits, _ . -)")
        refused = (_GRPC_VALUE_REFUSED if grpc else _HTTP_VALUE_REFUSED).search(value)
        if refused is not None:
            raise ConfigError(
                f"{where}: the value of header '{name}' holds {_character(refused.group(0))},"
                f" which {transport} values cannot hold"
            )


def _character(char: str) -> str:
    if char in "\r\n":
        return "a line break (%0A or %0D once decoded)"
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"a control character (%{ord(char):02X} once decoded)"
    return "a character beyond ASCII" if ord(char) <= 0xFF else "a character beyond Latin-1"


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
    digits = text.lstrip("0")
    if not text.isdigit() or not text.isascii() or not digits:
        raise ConfigError(f"{variable}: '{raw}' is not a positive whole number of milliseconds")
    if len(digits) > 10 or int(digits) > MAX_MS:
        # Node.js runs a longer timer at once, and Python cannot sleep that long.
        raise ConfigError(
            f"{variable}: '{raw}' is more than {MAX_MS:,} ms, the longest Claude Code's timers wait"
        )
    return int(digits)


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
