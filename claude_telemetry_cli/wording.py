"""Counts in words: `1 session`, `2 sessions`, `1,024 points`, for every message a person reads."""

from __future__ import annotations

__all__ = ["counted"]

# Nouns whose plural is not the singular plus "s".
_PLURALS = {"series": "series", "entry": "entries", "process": "processes", "body": "bodies"}


def counted(n: int, noun: str) -> str:
    """`n` with thousands separators and the noun agreeing with it."""
    word = noun if n == 1 else _PLURALS.get(noun, noun + "s")
    return f"{n:,} {word}"
