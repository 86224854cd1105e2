"""The ONLY reader of os.environ and of Claude Code settings files: resolves a TelemetryConfig."""

from __future__ import annotations

import json
import os
import re
import signal as os_signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.errors import ConfigError, UsageError
from claude_telemetry_cli.options import EmitOptions

__all__ = [
    "ENDPOINT_VARIABLES",
    "HEADERS_HELPER_KEY",
    "HEADERS_HELPER_TIMEOUT_S",
    "RELEVANT_VARIABLES",
    "SECRET_VARIABLES",
    "Removal",
    "SignalConfig",
    "Source",
    "Sourced",
    "TelemetryConfig",
    "default_managed_path",
    "flag_overrides",
    "is_secret",
    "load_config",
    "mask_url",
    "mask_value",
    "masked_view",
    "parse_cli_overrides",
    "parse_key_value_list",
    "read_env_file",
    "merge_headers",
    "run_headers_helper",
]

# Where a value came from, shown by `config`: "default", "env", "cli", "cli (--endpoint)" (a shorthand flag),
# "settings:<path>", "managed:<path>".
Source = str


@dataclass(frozen=True)
class Sourced:
    value: str
    source: Source


@dataclass(frozen=True)
class Removal:
    """A developer-set variable that managed settings removed, and why."""

    variable: str
    source: Source
    reason: str


@dataclass(frozen=True)
class SignalConfig:
    """How one signal (metrics, logs or traces) is exported."""

    signal: str  # "metrics" | "logs" | "traces"
    exporters: tuple[str, ...]  # subset of otlp, prometheus, console (never "none")
    protocol: str | None  # grpc | http/protobuf | http/json, None when no otlp exporter can run
    endpoint: str | None  # full URL the exporter is given (HTTP: with /v1/<signal> appended)
    headers: tuple[tuple[str, str], ...] = ()
    # gRPC TLS (OTEL_EXPORTER_OTLP_*): paths
    certificate: str | None = None
    client_key: str | None = None
    client_certificate: str | None = None
    # HTTP TLS (CLAUDE_CODE_CLIENT_*, NODE_EXTRA_CA_CERTS): paths
    http_client_cert: str | None = None
    http_client_key: str | None = None
    http_client_key_passphrase: str | None = None
    http_ca_certs: str | None = None
    # Why the otlp exporter of this signal exports nothing (None when it runs or is not selected).
    disabled_reason: str | None = None

    @property
    def otlp_enabled(self) -> bool:
        return "otlp" in self.exporters and self.protocol is not None and self.disabled_reason is None


@dataclass(frozen=True)
class TelemetryConfig:
    enabled: bool  # CLAUDE_CODE_ENABLE_TELEMETRY=1
    profile: str
    metrics: SignalConfig
    logs: SignalConfig
    metric_export_interval_ms: int
    logs_export_interval_ms: int
    temporality: str  # "delta" | "cumulative"
    emit: EmitOptions
    prometheus_host: str = "localhost"
    prometheus_port: int = 9464
    headers_helper: str | None = None  # otelHeadersHelper command
    headers_helper_debounce_ms: int = 1740000
    # Every variable that was read, with its effective value and source (secrets NOT masked here).
    values: dict[str, Sourced] = field(default_factory=dict)
    removed: tuple[Removal, ...] = ()
    # Human sentences: why a signal exports nothing, ignored variables, ...
    # Every disabled_reason is repeated here, so printing the warnings is enough to explain the config.
    warnings: tuple[str, ...] = ()
    settings_files: tuple[str, ...] = ()  # the files read, in precedence order (lowest first)
    headers_helper_source: Source | None = None
    # Span tracing (Claude Code's beta): exporters stay empty unless the beta flag is on too.
    traces: SignalConfig = field(default_factory=lambda: SignalConfig("traces", (), None, None))
    traces_export_interval_ms: int = 5000
    enhanced_telemetry_beta: bool = False  # CLAUDE_CODE_ENHANCED_TELEMETRY_BETA (or its alias) is 1

    @property
    def tracing(self) -> bool:
        """Whether spans are made at all: the events then carry their interaction's trace ids."""
        return bool(self.traces.exporters)


# --- variable names -------------------------------------------------------------------------------

ENABLE_TELEMETRY = "CLAUDE_CODE_ENABLE_TELEMETRY"
METRICS_EXPORTER = "OTEL_METRICS_EXPORTER"
LOGS_EXPORTER = "OTEL_LOGS_EXPORTER"
TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
ENHANCED_BETA = "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA"
ENHANCED_BETA_ALIAS = "ENABLE_ENHANCED_TELEMETRY_BETA"
OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
OTLP_CERTIFICATE = "OTEL_EXPORTER_OTLP_CERTIFICATE"
OTLP_CLIENT_KEY = "OTEL_EXPORTER_OTLP_CLIENT_KEY"
OTLP_CLIENT_CERTIFICATE = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
OTLP_INSECURE = "OTEL_EXPORTER_OTLP_INSECURE"
HTTP_CLIENT_CERT = "CLAUDE_CODE_CLIENT_CERT"
HTTP_CLIENT_KEY = "CLAUDE_CODE_CLIENT_KEY"
HTTP_CLIENT_KEY_PASSPHRASE = "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE"
HTTP_CA_CERTS = "NODE_EXTRA_CA_CERTS"
METRIC_EXPORT_INTERVAL = "OTEL_METRIC_EXPORT_INTERVAL"
LOGS_EXPORT_INTERVAL = "OTEL_LOGS_EXPORT_INTERVAL"
TRACES_EXPORT_INTERVAL = "OTEL_TRACES_EXPORT_INTERVAL"
TEMPORALITY = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
LOG_USER_PROMPTS = "OTEL_LOG_USER_PROMPTS"
LOG_ASSISTANT_RESPONSES = "OTEL_LOG_ASSISTANT_RESPONSES"
LOG_TOOL_DETAILS = "OTEL_LOG_TOOL_DETAILS"
PROMETHEUS_HOST = "OTEL_EXPORTER_PROMETHEUS_HOST"
PROMETHEUS_PORT = "OTEL_EXPORTER_PROMETHEUS_PORT"
HEADERS_HELPER_DEBOUNCE = "CLAUDE_CODE_OTEL_HEADERS_HELPER_DEBOUNCE_MS"
HEADERS_HELPER_KEY = "otelHeadersHelper"
HEADERS_HELPER_TIMEOUT_S = 10
MAX_MS = 2**31 - 1  # milliseconds of an interval or debounce
MAX_PAIRS = 32  # key=value pairs in one variable (OTEL_RESOURCE_ATTRIBUTES, *_HEADERS); real ones list a few

# (variable, EmitOptions field, default)
INCLUDE_SWITCHES: tuple[tuple[str, str, bool], ...] = (
    ("OTEL_METRICS_INCLUDE_SESSION_ID", "include_session_id", True),
    ("OTEL_METRICS_INCLUDE_VERSION", "include_version", False),
    ("OTEL_METRICS_INCLUDE_ACCOUNT_UUID", "include_account_uuid", True),
    ("OTEL_METRICS_INCLUDE_ENTRYPOINT", "include_entrypoint", False),
    ("OTEL_METRICS_INCLUDE_RESOURCE_ATTRIBUTES", "include_resource_attributes", True),
)

SIGNALS = ("metrics", "logs")  # traces are resolved apart: they also need the beta flag
_LOCKED_SIGNALS = ("METRICS", "LOGS", "TRACES")
_CREDENTIALS = ("HEADERS", "CLIENT_KEY", "CLIENT_CERTIFICATE")
_PER_SIGNAL_SUFFIXES = ("PROTOCOL", "ENDPOINT", "HEADERS", "CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE")


def _signal_var(signal: str, suffix: str) -> str:
    return f"OTEL_EXPORTER_OTLP_{signal.upper()}_{suffix}"


ENDPOINT_VARIABLES = frozenset({OTLP_ENDPOINT} | {_signal_var(s, "ENDPOINT") for s in _LOCKED_SIGNALS})
HEADER_VARIABLES = frozenset({OTLP_HEADERS} | {_signal_var(s, "HEADERS") for s in _LOCKED_SIGNALS})
SECRET_VARIABLES = HEADER_VARIABLES | {HTTP_CLIENT_KEY_PASSPHRASE}

RELEVANT_VARIABLES: tuple[str, ...] = (
    ENABLE_TELEMETRY,
    METRICS_EXPORTER,
    LOGS_EXPORTER,
    TRACES_EXPORTER,
    ENHANCED_BETA,
    ENHANCED_BETA_ALIAS,
    OTLP_PROTOCOL,
    OTLP_ENDPOINT,
    OTLP_HEADERS,
    OTLP_CERTIFICATE,
    OTLP_CLIENT_KEY,
    OTLP_CLIENT_CERTIFICATE,
    OTLP_INSECURE,
    *(_signal_var(s, suffix) for s in _LOCKED_SIGNALS for suffix in _PER_SIGNAL_SUFFIXES),
    HTTP_CLIENT_CERT,
    HTTP_CLIENT_KEY,
    HTTP_CLIENT_KEY_PASSPHRASE,
    HTTP_CA_CERTS,
    METRIC_EXPORT_INTERVAL,
    LOGS_EXPORT_INTERVAL,
    TRACES_EXPORT_INTERVAL,
    TEMPORALITY,
    *(var for var, _, _ in INCLUDE_SWITCHES),
    RESOURCE_ATTRIBUTES,
    LOG_USER_PROMPTS,
    LOG_ASSISTANT_RESPONSES,
    LOG_TOOL_DETAILS,
    PROMETHEUS_HOST,
    PROMETHEUS_PORT,
    HEADERS_HELPER_DEBOUNCE,
)
_RELEVANT = frozenset(RELEVANT_VARIABLES)

_EXPORTERS = {
    "metrics": ("otlp", "prometheus", "console", "none"),
    "logs": ("otlp", "console", "none"),
    "traces": ("otlp", "console", "none"),
}
_EXPORTER_VARIABLE = {"metrics": METRICS_EXPORTER, "logs": LOGS_EXPORTER, "traces": TRACES_EXPORTER}
_PROTOCOLS = ("grpc", "http/protobuf", "http/json")
_TEMPORALITIES = ("delta", "cumulative")
_DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
_DEFAULT_HTTP_BASE = "http://localhost:4318"
_TRUE = ("1", "true")
_FALSE = ("0", "false")

TELEMETRY_OFF_REASON = "CLAUDE_CODE_ENABLE_TELEMETRY is not set to 1, so Claude Code exports nothing"
NO_PROTOCOL_REASON = (
    "no OTLP protocol: set OTEL_EXPORTER_OTLP_PROTOCOL (grpc, http/protobuf or http/json); "
    "Claude Code has no default"
)


def default_managed_path() -> Path:
    """Where Claude Code looks for managed settings on this operating system."""
    if sys.platform == "darwin":
        return Path("/Library/Application Support/ClaudeCode/managed-settings.json")
    if sys.platform.startswith("win"):
        return Path(r"C:\Program Files\ClaudeCode\managed-settings.json")
    return Path("/etc/claude-code/managed-settings.json")


# --- small parsers --------------------------------------------------------------------------------


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
        key, sep, value = item.partition("=")
        key = unquote(key.strip())
        if not sep or not key:
            shown = _redact_fragment(item.strip()) if variable in SECRET_VARIABLES else item.strip()
            raise ConfigError(
                f"{variable}: malformed {what} '{shown}': expected key=value pairs separated by commas"
            )
        pairs.append((key, unquote(value.strip())))
    if len(pairs) > MAX_PAIRS:
        # Claude Code puts every resource attribute on every point and event: the work grows with them.
        raise ConfigError(
            f"{variable}: {len(pairs):,} {what}s are more than {MAX_PAIRS}, the most one variable may list"
        )
    return pairs


def _redact_fragment(fragment: str) -> str:
    # A malformed header is often `Authorization: Bearer <token>`: keep the name, hide what follows it.
    name = re.match(r"[A-Za-z0-9_.\-]*", fragment).group(0)
    return name if name == fragment else f"{name}***"


def _merge_pairs(
    base: Iterable[tuple[str, str]], over: Iterable[tuple[str, str]], *, case_insensitive: bool
) -> tuple[tuple[str, str], ...]:
    """Later pairs replace earlier ones with the same key, keeping the first one's position."""
    merged: dict[str, tuple[str, str]] = {}
    for key, value in (*base, *over):
        merged[key.lower() if case_insensitive else key] = (key, value)
    return tuple(merged.values())


def merge_headers(base: Iterable[tuple[str, str]], over: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Headers `over` replace those of `base` with the same name, whatever its case."""
    return _merge_pairs(base, over.items(), case_insensitive=True)


def _positive_ms(variable: str, raw: str) -> int:
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


def _switch(variable: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{variable}: '{raw}' is not a boolean; allowed: true, false, 1, 0")


def _check_url(variable: str, value: str) -> None:
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


# --- settings tiers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tier:
    source: Source
    env: dict[str, str]
    headers_helper: str | None = None
    managed: bool = False
    sources: dict[str, Source] = field(default_factory=dict)  # a variable's own source, where it has one


def _read_settings_file(path: Path, source: Source, *, managed: bool) -> _Tier | None:
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
    return _Tier(source=source, env=env, headers_helper=helper or None, managed=managed)


def _gather_tiers(
    environ: Mapping[str, str],
    cli_env: Mapping[str, str] | None,
    cwd: Path,
    home: Path,
    managed_path: Path,
    cli_flags: Mapping[str, tuple[str, str]] | None = None,
) -> list[_Tier]:
    """Every source of configuration, lowest precedence first."""
    tiers = [_Tier("env", {k: v for k, v in environ.items() if k in _RELEVANT})]
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
    below: list[_Tier], cli_env: Mapping[str, str], cli_flags: Mapping[str, tuple[str, str]]
) -> _Tier:
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
    return _Tier("cli", env, sources=sources)


def _file_of(source: Source) -> str | None:
    prefix, _, path = source.partition(":")
    return path if prefix in ("settings", "managed") else None


# --- managed locking ------------------------------------------------------------------------------


def _lock_rules(managed_vars: set[str]) -> list[tuple[str, str]]:
    """(variable to remove if developer-set, reason), in the order the rules are documented."""
    rules: list[tuple[str, str]] = []
    if OTLP_ENDPOINT in managed_vars:
        reason = f"managed settings set {OTLP_ENDPOINT}, which locks the endpoint of every signal"
        rules += [(_signal_var(s, "ENDPOINT"), reason) for s in _LOCKED_SIGNALS]
    if OTLP_PROTOCOL in managed_vars:
        reason = f"managed settings set {OTLP_PROTOCOL}, which locks the protocol of every signal"
        rules += [(_signal_var(s, "PROTOCOL"), reason) for s in _LOCKED_SIGNALS]
    for credential in _CREDENTIALS:
        generic = f"OTEL_EXPORTER_OTLP_{credential}"
        if generic in managed_vars:
            reason = f"managed settings set {generic}, so credentials go only to the managed collector"
            rules += [(_signal_var(s, credential), reason) for s in _LOCKED_SIGNALS]
            rules += [(OTLP_ENDPOINT, reason)] + [
                (_signal_var(s, "ENDPOINT"), reason) for s in _LOCKED_SIGNALS
            ]
        for signal in _LOCKED_SIGNALS:
            per_signal = _signal_var(signal, credential)
            if per_signal in managed_vars:
                reason = (
                    f"managed settings set {per_signal}, so {signal.lower()} credentials go only to "
                    "the managed collector"
                )
                rules.append((_signal_var(signal, "ENDPOINT"), reason))
    return rules


def _resolve(tiers: list[_Tier]) -> tuple[dict[str, Sourced], list[Removal]]:
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


# --- resolution -----------------------------------------------------------------------------------


class _Resolver:
    """The effective variables of one load, plus what the load records about them."""

    def __init__(self, effective: dict[str, Sourced], cwd: Path) -> None:
        self.values: dict[str, Sourced] = dict(effective)
        self.cwd = cwd
        self.warnings: list[str] = []
        self._warned_empty: set[str] = set()

    def get(self, variable: str) -> str | None:
        """The effective value; an empty value counts as unset, as the OpenTelemetry SDKs treat it."""
        sourced = self.values.get(variable)
        if sourced is None or sourced.source == "default":
            return None
        if not sourced.value.strip():
            if variable not in self._warned_empty:
                self._warned_empty.add(variable)
                self.warn(f"{variable} is set but empty ({sourced.source}): treated as unset")
            return None
        return sourced.value

    def default(self, variable: str, value: str) -> str:
        self.values[variable] = Sourced(value, "default")
        return value

    def get_or_default(self, variable: str, default: str) -> str:
        value = self.get(variable)
        return self.default(variable, default) if value is None else value

    def first(self, *variables: str) -> tuple[str, str | None]:
        """The first variable that is set, and its value; the last name when none is."""
        for variable in variables:
            value = self.get(variable)
            if value is not None:
                return variable, value
        return variables[-1], None

    def path(self, variable: str) -> str | None:
        value = self.get(variable)
        if value is None:
            return None
        path = Path(value)
        if not path.is_absolute():
            path = self.cwd / path
        try:
            found = path.is_file()
        except OSError as exc:  # a name longer than the file system takes
            raise ConfigError(f"{variable}: cannot read {path}: {exc.strerror}") from None
        if not found:
            raise ConfigError(f"{variable}: file not found: {path}")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"{variable}: file is not readable: {path}")
        return str(path)

    def warn(self, sentence: str) -> None:
        if sentence not in self.warnings:
            self.warnings.append(sentence)


def _parse_exporters(variable: str, raw: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = [name.strip().lower() for name in raw.split(",")]
    names = [name for name in names if name]
    for name in names:
        if name not in allowed:
            raise ConfigError(f"{variable}: unknown exporter '{name}'; allowed: {', '.join(allowed)}")
    if "none" in names:
        return ()
    return tuple(dict.fromkeys(names))


def _exporters(signal: str, env: _Resolver, *, events: bool, enabled: bool) -> tuple[str, ...]:
    variable = _EXPORTER_VARIABLE[signal]
    raw = env.get(variable)
    noun = "metrics" if signal == "metrics" else "events"
    # With telemetry off, its one warning already explains everything; more would bury it.
    if signal == "logs" and not events:
        if raw is not None and enabled:
            env.warn(f"{variable} is ignored: this profile's Claude Code exports no events")
        return ()
    if raw is None:
        # Tracing is off by default: _traces_config says why only when half of it is configured.
        if enabled and signal != "traces":
            env.warn(f"{variable} is not set: no {noun} are exported")
        return ()
    return _parse_exporters(variable, raw, _EXPORTERS[signal])


def _protocol(signal: str, env: _Resolver) -> tuple[str | None, str | None]:
    """The signal's OTLP protocol, or None and the reason it exports nothing."""
    variable, raw = env.first(_signal_var(signal, "PROTOCOL"), OTLP_PROTOCOL)
    if raw is None:
        return None, NO_PROTOCOL_REASON
    protocol = raw.strip().lower()
    if protocol not in _PROTOCOLS:
        return None, (
            f"{variable}='{raw}' is not an OTLP protocol (allowed: grpc, http/protobuf, http/json), "
            f"so Claude Code exports no {signal} over OTLP"
        )
    return protocol, None


def _endpoint(signal: str, protocol: str, env: _Resolver) -> str:
    per_signal = _signal_var(signal, "ENDPOINT")
    value = env.get(per_signal)
    if value is not None:
        return value.strip()
    generic = env.get(OTLP_ENDPOINT)
    if protocol == "grpc":
        return generic.strip() if generic is not None else env.default(per_signal, _DEFAULT_GRPC_ENDPOINT)
    if generic is None:
        return env.default(per_signal, f"{_DEFAULT_HTTP_BASE}/v1/{signal}")
    return f"{generic.strip().rstrip('/')}/v1/{signal}"


def _tls(signal: str, env: _Resolver) -> dict[str, str | None]:
    certificate_var, _ = env.first(_signal_var(signal, "CERTIFICATE"), OTLP_CERTIFICATE)
    key_var, key = env.first(_signal_var(signal, "CLIENT_KEY"), OTLP_CLIENT_KEY)
    cert_var, cert = env.first(_signal_var(signal, "CLIENT_CERTIFICATE"), OTLP_CLIENT_CERTIFICATE)
    if (key is None) != (cert is None):
        present, missing = (key_var, "CLIENT_CERTIFICATE") if cert is None else (cert_var, "CLIENT_KEY")
        raise ConfigError(
            f"{present} is set but neither {_signal_var(signal, missing)} nor OTEL_EXPORTER_OTLP_{missing} "
            "is: gRPC mTLS needs both a client key and a client certificate"
        )
    return {
        "certificate": env.path(certificate_var),
        "client_key": env.path(key_var),
        "client_certificate": env.path(cert_var),
    }


def _http_tls(env: _Resolver) -> dict[str, str | None]:
    key, cert = env.get(HTTP_CLIENT_KEY), env.get(HTTP_CLIENT_CERT)
    if (key is None) != (cert is None):
        present, missing = (
            (HTTP_CLIENT_KEY, HTTP_CLIENT_CERT) if cert is None else (HTTP_CLIENT_CERT, HTTP_CLIENT_KEY)
        )
        raise ConfigError(
            f"{present} is set but {missing} is not: HTTP mTLS needs both a client key and certificate"
        )
    return {
        "http_client_cert": env.path(HTTP_CLIENT_CERT),
        "http_client_key": env.path(HTTP_CLIENT_KEY),
        "http_client_key_passphrase": env.get(HTTP_CLIENT_KEY_PASSPHRASE),
        "http_ca_certs": env.path(HTTP_CA_CERTS),
    }


def _signal_config(
    signal: str,
    env: _Resolver,
    *,
    enabled: bool,
    events: bool,
    http_tls: dict[str, str | None],
    selected: bool = True,
) -> SignalConfig:
    # Not selected: the exporter variable is not read at all, as Claude Code ignores it then.
    exporters = _exporters(signal, env, events=events, enabled=enabled) if selected else ()
    headers = _merge_pairs(
        parse_key_value_list(env.get(OTLP_HEADERS) or "", OTLP_HEADERS),
        parse_key_value_list(env.get(_signal_var(signal, "HEADERS")) or "", _signal_var(signal, "HEADERS")),
        case_insensitive=True,
    )
    common = dict(signal=signal, headers=headers, **_tls(signal, env), **http_tls)
    if not enabled:
        return SignalConfig(
            exporters=(), protocol=None, endpoint=None, disabled_reason=TELEMETRY_OFF_REASON, **common
        )
    if "otlp" not in exporters:
        return SignalConfig(exporters=exporters, protocol=None, endpoint=None, **common)
    protocol, reason = _protocol(signal, env)
    if protocol is None:
        env.warn(f"{signal}: {reason}")
        return SignalConfig(
            exporters=exporters, protocol=None, endpoint=None, disabled_reason=reason, **common
        )
    endpoint = _endpoint(signal, protocol, env)
    return SignalConfig(exporters=exporters, protocol=protocol, endpoint=endpoint, **common)


def _beta(env: _Resolver) -> tuple[bool, str]:
    """Whether Claude Code's span tracing beta is on; if not, the words for why."""
    for variable in (ENHANCED_BETA, ENHANCED_BETA_ALIAS):
        raw = env.get(variable)
        if raw is not None and raw.strip().lower() in _TRUE:
            return True, ""
    raw = env.get(ENHANCED_BETA)
    said = f"{ENHANCED_BETA} is '{raw}', not 1" if raw is not None else f"{ENHANCED_BETA} is not 1"
    return False, f"{said} (nor {ENHANCED_BETA_ALIAS}): tracing is a beta, so Claude Code exports no spans"


def _traces_config(
    env: _Resolver, *, enabled: bool, events: bool, http_tls: dict[str, str | None], beta: tuple[bool, str]
) -> SignalConfig:
    """Traces need the beta flag AND OTEL_TRACES_EXPORTER; say why when only one of them is set."""
    on, why_not = beta
    raw = env.get(TRACES_EXPORTER)
    # `none` is an explicit "no": nothing to explain then.
    requested = raw is not None and [n for n in raw.lower().split(",") if n.strip()] != ["none"]
    common = dict(enabled=enabled, events=events, http_tls=http_tls)
    if not enabled:
        return _signal_config("traces", env, selected=False, **common)
    if not events:
        if requested or on:
            env.warn(f"{TRACES_EXPORTER} is ignored: this profile's Claude Code exports no traces")
        return _signal_config("traces", env, selected=False, **common)
    if not on:
        off = _signal_config("traces", env, selected=False, **common)
        if not requested:
            return off
        reason = f"{TRACES_EXPORTER} is set but {why_not}"
        env.warn(f"traces: {reason}")
        return replace(off, disabled_reason=reason)
    if raw is None:
        env.warn(f"{ENHANCED_BETA} is 1 but {TRACES_EXPORTER} is not set: no spans are exported")
    return _signal_config("traces", env, **common)


def _check_insecure(env: _Resolver, signals: Iterable[SignalConfig]) -> None:
    """OTEL_EXPORTER_OTLP_INSECURE decides TLS only for an endpoint without a scheme (as in the
    OpenTelemetry SDKs); every endpoint here has one, so say so when the two disagree."""
    raw = env.get(OTLP_INSECURE)
    if raw is None or not _switch(OTLP_INSECURE, raw):
        return
    for signal in signals:
        if signal.otlp_enabled and signal.endpoint and signal.endpoint.startswith("https://"):
            env.warn(
                f"{OTLP_INSECURE}=true changes nothing for {mask_url(signal.endpoint)}: the endpoint's"
                " scheme decides, https:// for TLS and http:// for plaintext"
            )
            return


def _enabled(env: _Resolver) -> bool:
    raw = env.get(ENABLE_TELEMETRY)
    if raw is not None and raw.strip().lower() in _TRUE:
        return True
    if raw is None:
        env.warn(TELEMETRY_OFF_REASON)
    else:
        env.warn(f"{ENABLE_TELEMETRY} is '{raw}', not 1, so Claude Code exports nothing")
    return False


def _content_gate(env: _Resolver, variable: str, *, unset: bool | None) -> bool | None:
    raw = env.get(variable)
    if raw is None:
        if unset is not None:
            env.default(variable, "1" if unset else "0")
        return unset
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text not in _FALSE:
        env.warn(f"{variable}='{raw}' is neither 1 nor true, so it counts as off")
    return False


def _emit_options(env: _Resolver, profile: str) -> EmitOptions:
    switches = {
        name: _switch(variable, env.get_or_default(variable, "true" if default else "false"))
        for variable, name, default in INCLUDE_SWITCHES
    }
    resource = env.get(RESOURCE_ATTRIBUTES)
    resource_attributes = _merge_pairs(
        parse_key_value_list(resource or "", RESOURCE_ATTRIBUTES), (), case_insensitive=False
    )
    return EmitOptions(
        profile=profile,
        resource_attributes=resource_attributes,
        log_user_prompts=bool(_content_gate(env, LOG_USER_PROMPTS, unset=False)),
        log_assistant_responses=_content_gate(env, LOG_ASSISTANT_RESPONSES, unset=None),
        log_tool_details=bool(_content_gate(env, LOG_TOOL_DETAILS, unset=False)),
        **switches,
    )


def _prometheus(env: _Resolver) -> tuple[str, int]:
    host = env.get_or_default(PROMETHEUS_HOST, "localhost").strip()
    raw_port = env.get_or_default(PROMETHEUS_PORT, "9464")
    text = raw_port.strip()
    port = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()) or len(port) > 5 or int(port) > 65535:
        raise ConfigError(f"{PROMETHEUS_PORT}: '{raw_port}' is not a port number (0-65535)")
    return host, int(port)


def _temporality(env: _Resolver) -> str:
    raw = env.get_or_default(TEMPORALITY, "delta")
    value = raw.strip().lower()
    if value not in _TEMPORALITIES:
        raise ConfigError(f"{TEMPORALITY}: '{raw}' is not allowed; allowed: {', '.join(_TEMPORALITIES)}")
    return value


# --- otelHeadersHelper ----------------------------------------------------------------------------


def run_headers_helper(command: str, *, source: Source | None = None) -> dict[str, str]:
    """Run an otelHeadersHelper command and return the headers it prints as a JSON object.

    Raises ConfigError "otelHeadersHelper (<source>): <what went wrong>" on any failure; never includes
    the command's stdout in the message, since that is where the credentials are.
    """
    where = f"{HEADERS_HELPER_KEY} ({source})" if source else HEADERS_HELPER_KEY
    try:
        # A session of its own, so a timeout kills the helper's children too: a surviving child would
        # keep the output pipes open and the wait would last as long as it does.
        # The value is the path of an executable (spaces allowed) or else a shell command line.
        direct = os.path.isfile(command) and os.access(command, os.X_OK)
        process = subprocess.Popen(
            [command] if direct else command,
            shell=not direct,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        raise ConfigError(f"{where}: could not run '{command}': {exc.strerror or exc}") from None
    try:
        stdout, stderr = process.communicate(timeout=HEADERS_HELPER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _kill_session(process)
        raise ConfigError(
            f"{where}: '{command}' did not finish within {HEADERS_HELPER_TIMEOUT_S} s"
        ) from None
    if process.returncode != 0:
        detail = stderr.strip().splitlines()
        tail = f": {detail[-1][:200]}" if detail else ""
        raise ConfigError(f"{where}: '{command}' exited with status {process.returncode}{tail}")
    try:
        headers = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where}: output is not JSON ({exc.msg}); expected an object of header names to values"
        ) from None
    if not isinstance(headers, dict):
        raise ConfigError(f"{where}: output must be a JSON object of header names to values")
    for key, value in headers.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: header '{key}' must be a string, not {type(value).__name__}")
    return headers


def _kill_session(process: subprocess.Popen) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, os_signal.SIGKILL)
        else:
            process.kill()
    except ProcessLookupError:
        pass
    process.communicate()


def _apply_headers_helper(
    signals: dict[str, SignalConfig], command: str, source: Source, env: _Resolver
) -> dict[str, SignalConfig]:
    http = [s for s in signals.values() if s.otlp_enabled and s.protocol != "grpc"]
    for grpc in (s for s in signals.values() if s.otlp_enabled and s.protocol == "grpc"):
        env.warn(
            f"{HEADERS_HELPER_KEY} applies to HTTP protocols only: {grpc.signal} use grpc, "
            "so its headers are not sent with them"
        )
    if not http:
        return signals
    extra = tuple(run_headers_helper(command, source=source).items())
    return {
        **signals,
        **{s.signal: replace(s, headers=_merge_pairs(s.headers, extra, case_insensitive=True)) for s in http},
    }


# --- public entry point ---------------------------------------------------------------------------


def load_config(
    environ: Mapping[str, str] | None = None,
    *,
    cli_env: Mapping[str, str] | None = None,
    cli_flags: Mapping[str, tuple[str, str]] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
    managed_path: Path | None = None,
    profile: str = "current",
) -> TelemetryConfig:
    """Resolve the telemetry configuration exactly as Claude Code would, remembering every value's source.

    `cli_env` holds the command-line overrides (-e, --env-file); `cli_flags` the shorthand flags' values
    in the same tier (flag_overrides). `environ`, `cwd` and `home` default to the running process's;
    tests pass their own.
    Raises ConfigError for a bad value or settings file, UsageError for an unknown profile.
    """
    contract = get_profile(profile)
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    home = Path.home() if home is None else home
    managed_path = default_managed_path() if managed_path is None else managed_path

    tiers = _gather_tiers(environ, cli_env, cwd, home, managed_path, cli_flags)
    effective, removed = _resolve(tiers)
    env = _Resolver(effective, cwd)
    for removal in removed:
        env.warn(f"{removal.variable} from {removal.source} was removed: {removal.reason}")

    enabled = _enabled(env)
    for variable in sorted(ENDPOINT_VARIABLES):
        value = env.get(variable)
        if value is not None:
            _check_url(variable, value.strip())
    http_tls = _http_tls(env)
    signals = {
        signal: _signal_config(signal, env, enabled=enabled, events=contract.emits_events, http_tls=http_tls)
        for signal in SIGNALS
    }
    beta = _beta(env)
    signals["traces"] = _traces_config(
        env, enabled=enabled, events=contract.emits_events, http_tls=http_tls, beta=beta
    )
    _check_insecure(env, signals.values())

    helper_tier = next((t for t in reversed(tiers) if t.headers_helper), None)
    helper = helper_tier.headers_helper if helper_tier else None
    helper_source = helper_tier.source if helper_tier else None
    debounce = _positive_ms(HEADERS_HELPER_DEBOUNCE, env.get_or_default(HEADERS_HELPER_DEBOUNCE, "1740000"))
    if helper is not None and helper_source is not None:
        env.values[HEADERS_HELPER_KEY] = Sourced(helper, helper_source)
        if enabled:
            signals = _apply_headers_helper(signals, helper, helper_source, env)

    metric_interval = _positive_ms(
        METRIC_EXPORT_INTERVAL,
        env.get_or_default(METRIC_EXPORT_INTERVAL, str(contract.metric_export_interval_ms)),
    )
    logs_interval = _positive_ms(
        LOGS_EXPORT_INTERVAL, env.get_or_default(LOGS_EXPORT_INTERVAL, str(contract.logs_export_interval_ms))
    )
    traces_interval = _positive_ms(TRACES_EXPORT_INTERVAL, env.get_or_default(TRACES_EXPORT_INTERVAL, "5000"))
    temporality = _temporality(env)
    emit = _emit_options(env, contract.name)
    prometheus_host, prometheus_port = _prometheus(env)

    return TelemetryConfig(
        enabled=enabled,
        profile=contract.name,
        metrics=signals["metrics"],
        logs=signals["logs"],
        metric_export_interval_ms=metric_interval,
        logs_export_interval_ms=logs_interval,
        temporality=temporality,
        emit=emit,
        prometheus_host=prometheus_host,
        prometheus_port=prometheus_port,
        headers_helper=helper,
        headers_helper_debounce_ms=debounce,
        headers_helper_source=helper_source,
        values=env.values,
        removed=tuple(removed),
        warnings=tuple(env.warnings),
        settings_files=tuple(f for f in (_file_of(t.source) for t in tiers) if f is not None),
        traces=signals["traces"],
        traces_export_interval_ms=traces_interval,
        enhanced_telemetry_beta=beta[0],
    )


# --- command-line sources -------------------------------------------------------------------------

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_cli_overrides(pairs: list[str], *, option: str = "-e", secret: bool = False) -> dict[str, str]:
    """`-e KEY=VALUE` (or another `option`'s pairs), repeated; a later pair for the same key wins. With
    `secret` a malformed pair is shown up to its name only: it may be a credential."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            shown = _redact_fragment(pair.strip()) if secret else pair
            raise UsageError(f"{option} '{shown}': expected KEY=VALUE")
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
        _check_url("--endpoint", endpoint.strip())
        out[OTLP_ENDPOINT] = (endpoint.strip(), "--endpoint")
    if protocol is not None:
        if protocol.strip().lower() not in _PROTOCOLS:
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
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if not sep or not _ENV_KEY.fullmatch(key):
            raise ConfigError(f"{path}:{lineno}: expected KEY=VALUE")
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


# --- the `config` view ----------------------------------------------------------------------------


def is_secret(variable: str) -> bool:
    return variable in SECRET_VARIABLES


def mask_value(variable: str, value: str) -> str:
    """The value as it may be shown: header values and passphrases as ***, URL passwords hidden."""
    if variable in HEADER_VARIABLES:
        masked = []
        for item in value.split(","):
            key, sep, _ = item.partition("=")
            if item.strip():
                masked.append(f"{key.strip()}=***" if sep and key.strip() else "***")
        return ",".join(masked)
    if variable in SECRET_VARIABLES:
        return "***"
    if variable in ENDPOINT_VARIABLES:
        return mask_url(value)
    return value


def _signal_view(signal: SignalConfig) -> dict:
    return {
        "exporters": list(signal.exporters),
        "protocol": signal.protocol,
        "endpoint": mask_url(signal.endpoint) if signal.endpoint else None,
        "headers": {key: "***" for key, _ in signal.headers},
        "grpc_tls": {
            "certificate": signal.certificate,
            "client_key": signal.client_key,
            "client_certificate": signal.client_certificate,
        },
        "http_tls": {
            "client_cert": signal.http_client_cert,
            "client_key": signal.http_client_key,
            "client_key_passphrase": "***" if signal.http_client_key_passphrase else None,
            "ca_certs": signal.http_ca_certs,
        },
        "otlp_enabled": signal.otlp_enabled,
        "disabled_reason": signal.disabled_reason,
    }


def masked_view(config: TelemetryConfig) -> dict:
    """A JSON-able description of the configuration for `config`, with every secret shown as ***."""
    emit = config.emit
    return {
        "enabled": config.enabled,
        "profile": config.profile,
        "metrics": _signal_view(config.metrics),
        "logs": _signal_view(config.logs),
        "traces": {**_signal_view(config.traces), "enhanced_telemetry_beta": config.enhanced_telemetry_beta},
        "metric_export_interval_ms": config.metric_export_interval_ms,
        "logs_export_interval_ms": config.logs_export_interval_ms,
        "traces_export_interval_ms": config.traces_export_interval_ms,
        "temporality": config.temporality,
        "include": {
            "session_id": emit.include_session_id,
            "version": emit.include_version,
            "account_uuid": emit.include_account_uuid,
            "entrypoint": emit.include_entrypoint,
            "resource_attributes": emit.include_resource_attributes,
        },
        "content": {
            "user_prompts": emit.log_user_prompts,
            "assistant_responses": emit.log_assistant_responses,
            "assistant_responses_effective": emit.reveal_responses,
            "tool_details": emit.log_tool_details,
        },
        "resource_attributes": dict(emit.resource_attributes),
        "prometheus": {"host": config.prometheus_host, "port": config.prometheus_port},
        "headers_helper": (
            {
                "command": config.headers_helper,
                "source": config.headers_helper_source,
                "debounce_ms": config.headers_helper_debounce_ms,
            }
            if config.headers_helper
            else None
        ),
        "values": {
            variable: {"value": mask_value(variable, sourced.value), "source": sourced.source}
            for variable, sourced in sorted(config.values.items())
        },
        "removed": [{"variable": r.variable, "source": r.source, "reason": r.reason} for r in config.removed],
        "warnings": list(config.warnings),
        "settings_files": list(config.settings_files),
    }
