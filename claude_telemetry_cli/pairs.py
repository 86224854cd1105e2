"""KEY=VALUE pairs, wherever they come from: one split, and one wording for a malformed pair."""

from __future__ import annotations

import re
from collections.abc import Callable

from claude_telemetry_cli.errors import TelemetryError, UsageError

__all__ = ["masked", "split_pair"]

# A name followed by what separates it from a value: `Authorization: Bearer <token>`, `Bearer <token>`.
_NAMED = re.compile(r"([A-Za-z0-9_.\-]+)\s*[:\s]")


def split_pair(
    text: str,
    name: str,
    *,
    form: str = "KEY=VALUE",
    hint: str = "",
    secret: bool = False,
    key_ok: Callable[[str], object] | None = None,
    error: type[TelemetryError] = UsageError,
) -> tuple[str, str]:
    """`text` split at its first '=': the key trimmed, the value as written (it may hold '=').

    A pair with no '=', an empty key or a key `key_ok` refuses raises `error` with the message
    "NAME 'TEXT': expected FORM" (then `hint`), NAME being the option or variable the pair came from.
    With `secret`, TEXT is shown masked: what follows may be a credential.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or (key_ok is not None and not key_ok(key)):
        shown = masked(text.strip()) if secret else text.strip()
        raise error(f"{name} '{shown}': expected {form}{hint}")
    return key, value


def masked(fragment: str) -> str:
    """`fragment`, which may hold a credential, as it may be shown: the name it starts with when one is
    set apart from what follows (`Authorization: Bearer <token>` is 'Authorization***'), else nothing of
    it (a bare word may be the token itself)."""
    named = _NAMED.match(fragment)
    return f"{named.group(1)}***" if named else "***"
