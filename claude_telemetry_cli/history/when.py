"""When a scenario happened: `--start-at`/`--end-at` values, and the window they put a scenario in.

WHEN is an ISO 8601 time (`2026-11-02T09:00:00Z`, `2026-11-02T09:00+01:00`, `2026-11-02` for its
midnight UTC; a time without an offset is UTC), `now`, or relative to now (`-14d`, `now-36h`,
`now-1w2d`). Scenario time 0 lands at the start of the window; every record keeps its offset from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from claude_telemetry_cli.errors import UsageError

__all__ = ["HistoryWindow", "WHEN_HELP", "format_instant", "history_window", "parse_when", "window_ends"]

WHEN_HELP = "an ISO 8601 time (2026-11-02T09:00:00Z), now, or relative to now (-14d, now-36h)"

_RELATIVE = re.compile(r"(?:now)?\s*-\s*((?:\d+(?:\.\d+)?[wdhms]){1,5})")
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_UNIT_S = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
# A window shorter than the scenario by at most this much is rounding, not a contradiction.
_SLACK_NS = 1_000_000_000


def parse_when(text: str, *, now_ns: int, option: str) -> int:
    """Nanoseconds since the Unix epoch that `text` names; UsageError naming `option` otherwise."""
    value = text.strip()
    if value.lower() == "now":
        return now_ns
    relative = _RELATIVE.fullmatch(value.lower())
    if relative:
        parts = _PART.findall(relative.group(1))
        units = [u for _, u in parts]
        if len(set(units)) == len(units) and units == sorted(units, key="wdhms".index):
            seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
            return now_ns - round(seconds * 1e9)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {text!r}: not a time; use {WHEN_HELP}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    delta = parsed - epoch
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def format_instant(ns: int) -> str:
    """ISO 8601 UTC to the second: how the summary names a window's ends."""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    start_ns: int  # where scenario time 0 lands
    end_ns: int  # where the scenario's last instant lands

    def ns(self, at: float) -> int:
        """Scenario seconds -> Unix nanoseconds."""
        return self.start_ns + round(at * 1e9)

    def to_json(self) -> dict:
        return {"start": format_instant(self.start_ns), "end": format_instant(self.end_ns)}


def window_ends(start_at: str | None, end_at: str | None, *, now_ns: int) -> tuple[int | None, int | None]:
    """The ends given, parsed (None where not given); a UsageError when neither is given or one is no
    time. Callers check this before compiling a scenario, so a typo costs nothing."""
    if start_at is None and end_at is None:
        raise UsageError("give --start-at or --end-at (or both)")
    start = parse_when(start_at, now_ns=now_ns, option="--start-at") if start_at is not None else None
    end = parse_when(end_at, now_ns=now_ns, option="--end-at") if end_at is not None else None
    return start, end


def history_window(
    start_at: str | None, end_at: str | None, duration_s: float, *, now_ns: int
) -> HistoryWindow:
    """The window a scenario of `duration_s` lands in. It may not reach past `now_ns`: a backend shows
    no future, and most refuse it."""
    length_ns = round(duration_s * 1e9)
    start, end = window_ends(start_at, end_at, now_ns=now_ns)
    if start is not None and start > now_ns:
        raise UsageError(f"--start-at {start_at!r} is in the future ({format_instant(start)})")
    if end is not None and end > now_ns + _SLACK_NS:
        raise UsageError(f"--end-at {end_at!r} is in the future ({format_instant(end)})")
    span = _format_span(duration_s)
    if start is not None and end is not None:
        if abs((end - start) - length_ns) > _SLACK_NS:
            raise UsageError(
                f"--start-at {start_at!r} and --end-at {end_at!r} are {_format_span((end - start) / 1e9)}"
                f" apart, but the scenario lasts {span}; give one of them"
            )
    elif start is None:
        start = end - length_ns
        if start < 0:
            raise UsageError(f"--end-at {end_at!r}: the scenario lasts {span} and would start before 1970")
    else:
        end = start + length_ns
        if end > now_ns + _SLACK_NS:
            raise UsageError(
                f"--start-at {start_at!r}: the scenario lasts {span} and would end in the future"
                f" ({format_instant(end)}); start earlier, or give --end-at now"
            )
    if start < 0:
        raise UsageError(f"--start-at {start_at!r} is before 1970")
    # On a whole millisecond, as Claude Code stamps: an event at scenario time 0 is then not before it.
    start -= start % 1_000_000
    return HistoryWindow(start, start + length_ns)


def _format_span(seconds: float) -> str:
    seconds = round(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    text = "".join(parts) + (f"{secs}s" if secs or not any(parts) else "")
    return text
