"""Human durations ("250ms", "5s", "1m30s", "2h", or bare seconds) <-> seconds."""

from __future__ import annotations

import re

from claude_telemetry_cli.errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
DURATION_HELP = "use e.g. 250ms, 5s, 1m30s, 2h or a number of seconds"


def parse_duration(value: object) -> float:
    """Seconds from "250ms", "5s", "1m30s", "2h" or a bare number of seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}; {DURATION_HELP}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"duration must be >= 0, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}; {DURATION_HELP}")
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds < 0:
            raise ValueError(f"duration must be >= 0, got {value!r}")
        return seconds
    parts = _PART.findall(text)
    units = [unit for _, unit in parts]
    # Units must appear once each, largest first, so "30s1m" or "5s5s" cannot mean something surprising.
    order = [u for u in ("h", "m", "s", "ms") if u in units]
    if not parts or "".join(n + u for n, u in parts) != text or units != order:
        raise ValueError(f"invalid duration {value!r}; {DURATION_HELP}")
    return sum(float(n) * _UNIT[u] for n, u in parts)


def duration_option(option: str, value: str | None, *, allow_inf: bool = False) -> float | None:
    """Seconds from a command-line option's value (None when not given; None for inf, forever, when
    `allow_inf`), or a UsageError naming the option."""
    if value is None:
        return None
    if allow_inf and value.strip().lower() in ("inf", "infinity", "forever"):
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"
