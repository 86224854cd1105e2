"""Values as Claude Code writes them: ids drawn from a seeded generator, plugin hashes, flags."""

from __future__ import annotations

import hashlib
import random
import string

from claude_telemetry_cli.contract import BUILTIN_PLUGINS

__all__ = ["BASE62", "BUILTIN_HASHES", "base62_digits", "flag", "hex_digits", "plugin_hash"]

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
BUILTIN_HASHES = dict(BUILTIN_PLUGINS)


def flag(value: bool) -> str:
    """A yes/no as the client sends it: a string."""
    return "true" if value else "false"


def hex_digits(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def base62_digits(rng: random.Random, count: int) -> str:
    """`count` of rng.choice(BASE62), drawn exactly as choice() draws them (6 bits, again when the
    value is 62 or 63) at a quarter of the cost: ids are a sixth of a large compile."""
    bits = rng.getrandbits
    digits = []
    while len(digits) < count:
        r = bits(6)
        if r < 62:
            digits.append(BASE62[r])
    return "".join(digits)


def plugin_hash(name: str, marketplace: str | None) -> str:
    """plugin_id_hash: the built-ins' observed values, else a stable hash of name and marketplace."""
    if marketplace == "builtin" and name in BUILTIN_HASHES:
        return BUILTIN_HASHES[name]
    return hashlib.sha256(f"{name}@{marketplace or ''}".encode()).hexdigest()[:16]
