"""KEY=VALUE pairs, wherever they come from: one split, and one wording for a malformed pair."""

from __future__ import annotations

import re
from collections.abc import Callable

from claude_telemetry_cli.errors import TelemetryError, UsageError

__all__ = ["split_pair"]

_NAME = re.compile(r"[A-Za-z0-9_.\-]*")


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
    With `secret`, TEXT is shown up to its name only: what follows may be a credential.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or (key_ok is not None and not key_ok(key)):
        shown = _up_to_name(text.strip()) if secret else text.strip()
        raise error(f"{name} '{shown}': expected {form}{hint}")
    return key, value


def _up_to_name(fragment: str) -> str:
    # A malformed header is often `Authorization: Bearer <token>`: keep the name, hide what follows it.
    name = _NAME.match(fragment).group(0)
    return name if name == fragment else f"{name}***"
