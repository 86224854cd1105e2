"""Where configuration comes from, lowest precedence first: the process environment, Claude Code's
settings files, the command line (-e, --env-file, shorthand flags) and managed settings, which may
lock the OTLP destination."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from claude_telemetry_cli.errors import ConfigError, UsageError
from claude_telemetry_cli.pairs import split_pair
from claude_telemetry_cli.settings.config import Removal, Source, Sourced
from claude_telemetry_cli.settings.names import (
    HEADERS_HELPER_KEY,
    LOCKED_SIGNALS,
    OTLP_ENDPOINT,
    OTLP_HEADERS,
    OTLP_INSECURE,
    OTLP_PROTOCOL,
    PROTOCOLS,
    RELEVANT_VARIABLES,
    signal_var,
)
from claude_telemetry_cli.settings.values import check_url

__all__ = [
    "FLAG_VARIABLES",
    "Tier",
    "default_managed_path",
    "flag_overrides",
    "gather_tiers",
    "parse_cli_overrides",
    "read_env_file",
    "settings_file_of",
    "with_precedence",
]

_RELEVANT = frozenset(RELEVANT_VARIABLES)
_CREDENTIALS = ("HEADERS", "CLIENT_KEY", "CLIENT_CERTIFICATE")


def default_managed_path() -> Path:
    """Where Claude Code looks for managed settings on this operating system."""
    if sys.platform == "darwin":
        return Path("/Library/Application Support/ClaudeCode/managed-settings.json")
    if sys.platform.startswith("win"):
        return Path(r"C:\Program Files\ClaudeCode\managed-settings.json")
    return Path("/etc/claude-code/managed-settings.json")


# --- settings tiers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    source: Source
    env: dict[str, str]
    headers_helper: str | None = None
    managed: bool = False
    sources: dict[str, Source] = field(default_factory=dict)  # a variable's own source, where it has one


def _read_settings_file(path: Path, source: Source, *, managed: bool) -> Tier | None:
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read settings file: {reason or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except (RecursionError, ValueError):  # nested past Python's recursion, or a number of 5,000 digits
        raise ConfigError(f"{path}: invalid JSON: nested too deep or a number too long") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a settings file must hold a JSON object")
    raw_env = data.get("env", {})
    if not isinstance(raw_env, dict):
        raise ConfigError(f"{path}: 'env' must be an object of strings, not {type(raw_env).__name__}")
    env: dict[str, str] = {}
    for key, value in raw_env.items():
        if isinstance(value, bool):
            env[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            env[key] = str(value)
        else:
            raise ConfigError(f"{path}: env.{key} must be a string, number or boolean")
    helper = data.get(HEADERS_HELPER_KEY)
    if helper is not None and not isinstance(helper, str):
        raise ConfigError(f"{path}: '{HEADERS_HELPER_KEY}' must be a string (a command line)")
    return Tier(source=source, env=env, headers_helper=helper or None, managed=managed)


def gather_tiers(
    environ: Mapping[str, str],
    cli_env: Mapping[str, str] | None,
    cwd: Path,
    home: Path,
    managed_path: Path,
    cli_flags: Mapping[str, tuple[str, str]] | None = None,
) -> list[Tier]:
    """Every source of configuration, lowest precedence first."""
    tiers = [Tier("env", {k: v for k, v in environ.items() if k in _RELEVANT})]
    for path in (
        home / ".claude" / "settings.json",
        cwd / ".claude" / "settings.json",
        cwd / ".claude" / "settings.local.json",
    ):
        tier = _read_settings_file(path, f"settings:{path}", managed=False)
        if tier is not None:
            tiers.append(tier)
    if cli_env or cli_flags:
        tiers.append(_cli_tier(tiers, cli_env or {}, cli_flags or {}))
    drop_in = managed_path.parent / "managed-settings.d"
    drop_ins = sorted(drop_in.glob("*.json"), key=lambda p: p.name) if drop_in.is_dir() else []
    for path in (managed_path, *drop_ins):
        tier = _read_settings_file(path, f"managed:{path}", managed=True)
        if tier is not None:
            tiers.append(tier)
    return tiers


def _cli_tier(
    below: list[Tier], cli_env: Mapping[str, str], cli_flags: Mapping[str, tuple[str, str]]
) -> Tier:
    """-e/--env-file values, and the shorthand flags' over them; --header's pairs follow the headers
    set below (settings files, environment, -e), so the flag adds a header rather than replacing them."""
    env, sources = dict(cli_env), {}
    for variable, (value, flag) in cli_flags.items():
        if variable == OTLP_HEADERS:
            base = env.get(variable)
            if base is None:
                base = next((t.env[variable] for t in reversed(below) if variable in t.env), None)
            value = f"{base.rstrip().rstrip(',')},{value}" if base and base.strip() else value
        env[variable] = value
        sources[variable] = f"cli ({flag})"
    return Tier("cli", env, sources=sources)


def settings_file_of(source: Source) -> str | None:
    prefix, _, path = source.partition(":")
    return path if prefix in ("settings", "managed") else None


# --- managed locking ------------------------------------------------------------------------------


def _lock_rules(managed_vars: set[str]) -> list[tuple[str, str]]:
    """(variable to remove if developer-set, reason), in the order the rules are documented."""
    rules: list[tuple[str, str]] = []
    if OTLP_ENDPOINT in managed_vars:
        reason = f"managed settings set {OTLP_ENDPOINT}, which locks the endpoint of every signal"
        rules += [(signal_var(s, "ENDPOINT"), reason) for s in LOCKED_SIGNALS]
    if OTLP_PROTOCOL in managed_vars:
        reason = f"managed settings set {OTLP_PROTOCOL}, which locks the protocol of every signal"
        rules += [(signal_var(s, "PROTOCOL"), reason) for s in LOCKED_SIGNALS]
    for credential in _CREDENTIALS:
        generic = f"OTEL_EXPORTER_OTLP_{credential}"
        if generic in managed_vars:
            reason = f"managed settings set {generic}, so credentials go only to the managed collector"
            rules += [(signal_var(s, credential), reason) for s in LOCKED_SIGNALS]
            rules += [(OTLP_ENDPOINT, reason)] + [(signal_var(s, "ENDPOINT"), reason) for s in LOCKED_SIGNALS]
        for signal in LOCKED_SIGNALS:
            per_signal = signal_var(signal, credential)
            if per_signal in managed_vars:
                reason = (
                    f"managed settings set {per_signal}, so {signal.lower()} credentials go only to "
                    "the managed collector"
                )
                rules.append((signal_var(signal, "ENDPOINT"), reason))
    return rules


def with_precedence(tiers: list[Tier]) -> tuple[dict[str, Sourced], list[Removal]]:
    """Per-key precedence, then managed locking of the OTLP destination."""
    effective: dict[str, Sourced] = {}
    managed_vars: set[str] = set()
    for tier in tiers:
        for key, value in tier.env.items():
            if key in _RELEVANT:
                effective[key] = Sourced(value, tier.sources.get(key, tier.source))
                if tier.managed:
                    managed_vars.add(key)
    removals: dict[str, Removal] = {}
    for variable, reason in _lock_rules(managed_vars):
        current = effective.get(variable)
        # Claude Code never removes a variable that managed settings set themselves.
        if current is None or variable in managed_vars or variable in removals:
            continue
        removals[variable] = Removal(variable, current.source, reason)
        del effective[variable]
    return effective, list(removals.values())


# --- command-line sources -------------------------------------------------------------------------

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_cli_overrides(pairs: list[str], *, option: str = "-e", secret: bool = False) -> dict[str, str]:
    """`-e KEY=VALUE` (or another `option`'s pairs), repeated; a later pair for the same key wins. With
    `secret` a malformed pair is shown up to its name only: it may be a credential."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        key, value = split_pair(pair, option, secret=secret)
        overrides[key] = value
    return overrides


# The shorthands telemetrygen and otel-cli users reach for, as the variables they stand for.
FLAG_VARIABLES = {
    "--endpoint": OTLP_ENDPOINT,
    "--protocol": OTLP_PROTOCOL,
    "--header": OTLP_HEADERS,
    "--insecure": OTLP_INSECURE,
}


def flag_overrides(
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: list[str] | None = None,
    insecure: bool = False,
) -> dict[str, tuple[str, str]]:
    """The shorthand flags as command-line overrides: variable -> (value, flag), for load_config's
    `cli_flags`. --header KEY=VALUE pairs are taken literally (a comma or % in a value is encoded)."""
    out: dict[str, tuple[str, str]] = {}
    if endpoint is not None:
        check_url("--endpoint", endpoint.strip())
        out[OTLP_ENDPOINT] = (endpoint.strip(), "--endpoint")
    if protocol is not None:
        if protocol.strip().lower() not in PROTOCOLS:
            raise UsageError(f"--protocol '{protocol}': use grpc, http/protobuf or http/json")
        out[OTLP_PROTOCOL] = (protocol.strip().lower(), "--protocol")
    if headers:
        pairs = parse_cli_overrides(headers, option="--header", secret=True)
        out[OTLP_HEADERS] = (",".join(f"{_literal(k)}={_literal(v)}" for k, v in pairs.items()), "--header")
    if insecure:
        out[OTLP_INSECURE] = ("true", "--insecure")
    return out


def _literal(text: str) -> str:
    """`text` as it reads back from a key=value list, which percent-decodes and splits at commas."""
    return text.strip().replace("%", "%25").replace(",", "%2C")


def read_env_file(path: Path) -> dict[str, str]:
    """A dotenv-style file for `--env-file`: KEY=VALUE lines, `#` comments, optional `export ` and quotes."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    values: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        key, value = split_pair(
            stripped, f"{path}:{lineno}:", secret=True, key_ok=_ENV_KEY.fullmatch, error=ConfigError
        )
        value = value.strip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            if len(value) < 2 or not value.endswith(quote):
                raise ConfigError(f"{path}:{lineno}: unterminated {quote} quote; expected KEY=VALUE")
            value = value[1:-1]
        elif " #" in value:
            # As in shell and python-dotenv, ` #` starts a comment after an unquoted value.
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values
