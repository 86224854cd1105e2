"""Resolution: the effective variables, read as Claude Code reads them, into a frozen TelemetryConfig."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.contract.content_limit import DEFAULT_CONTENT_LIMIT
from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.settings.config import SignalConfig, Source, Sourced, TelemetryConfig
from claude_telemetry_cli.settings.headers import run_headers_helper
from claude_telemetry_cli.settings.names import (
    ATTRIBUTE_VALUE_LIMIT,
    ATTRIBUTE_VALUE_LIMITS,
    BASE_URL,
    CONTENT_MAX_LENGTH,
    DISABLE_ERROR_REPORTING,
    ENABLE_TELEMETRY,
    ENDPOINT_VARIABLES,
    ENHANCED_BETA,
    ENHANCED_BETA_ALIAS,
    HEADERS_HELPER_DEBOUNCE,
    HEADERS_HELPER_KEY,
    HTTP_CA_CERTS,
    HTTP_CLIENT_CERT,
    HTTP_CLIENT_KEY,
    HTTP_CLIENT_KEY_PASSPHRASE,
    INCLUDE_SWITCHES,
    LOG_ASSISTANT_RESPONSES,
    LOG_RAW_API_BODIES,
    LOG_TOOL_CONTENT,
    LOG_TOOL_DETAILS,
    LOG_USER_PROMPTS,
    LOGS_EXPORT_INTERVAL,
    LOGS_EXPORTER,
    METRIC_EXPORT_INTERVAL,
    METRICS_EXPORTER,
    OTLP_CERTIFICATE,
    OTLP_CLIENT_CERTIFICATE,
    OTLP_CLIENT_KEY,
    OTLP_ENDPOINT,
    OTLP_HEADERS,
    OTLP_INSECURE,
    OTLP_PROTOCOL,
    PROMETHEUS_HOST,
    PROMETHEUS_PORT,
    PROTOCOLS,
    PROVIDER_SWITCHES,
    RESOURCE_ATTRIBUTES,
    SIGNALS,
    TEMPORALITY,
    TERMINAL,
    TRACES_EXPORT_INTERVAL,
    TRACES_EXPORTER,
    signal_var,
)
from claude_telemetry_cli.settings.sources import (
    default_managed_path,
    gather_tiers,
    settings_file_of,
    with_precedence,
)
from claude_telemetry_cli.settings.values import (
    FALSE,
    TRUE,
    check_headers,
    check_url,
    mask_url,
    merge_pairs,
    parse_key_value_list,
    positive_ms,
    switch,
)

__all__ = ["NO_PROTOCOL_REASON", "TELEMETRY_OFF_REASON", "load_config"]

_EXPORTERS = {
    "metrics": ("otlp", "prometheus", "console", "none"),
    "logs": ("otlp", "console", "none"),
    "traces": ("otlp", "console", "none"),
}
_EXPORTER_VARIABLE = {"metrics": METRICS_EXPORTER, "logs": LOGS_EXPORTER, "traces": TRACES_EXPORTER}
_TEMPORALITIES = ("delta", "cumulative")
_DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
_DEFAULT_HTTP_BASE = "http://localhost:4318"

TELEMETRY_OFF_REASON = "CLAUDE_CODE_ENABLE_TELEMETRY is not set to 1, so Claude Code exports nothing"
NO_PROTOCOL_REASON = (
    "no OTLP protocol: set OTEL_EXPORTER_OTLP_PROTOCOL (grpc, http/protobuf or http/json); "
    "Claude Code has no default"
)


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

    tiers = gather_tiers(environ, cli_env, cwd, home, managed_path, cli_flags)
    effective, removed = with_precedence(tiers)
    env = _Resolver(effective, cwd)
    for removal in removed:
        env.warn(f"{removal.variable} from {removal.source} was removed: {removal.reason}")

    enabled = _enabled(env)
    for variable in sorted(ENDPOINT_VARIABLES):
        value = env.get(variable)
        if value is not None:
            check_url(variable, value.strip())
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
    debounce = positive_ms(HEADERS_HELPER_DEBOUNCE, env.get_or_default(HEADERS_HELPER_DEBOUNCE, "1740000"))
    if helper is not None and helper_source is not None:
        env.values[HEADERS_HELPER_KEY] = Sourced(helper, helper_source)
        if enabled:
            signals = _apply_headers_helper(signals, helper, helper_source, env)

    metric_interval = positive_ms(
        METRIC_EXPORT_INTERVAL,
        env.get_or_default(METRIC_EXPORT_INTERVAL, str(contract.metric_export_interval_ms)),
    )
    logs_interval = positive_ms(
        LOGS_EXPORT_INTERVAL, env.get_or_default(LOGS_EXPORT_INTERVAL, str(contract.logs_export_interval_ms))
    )
    traces_interval = positive_ms(TRACES_EXPORT_INTERVAL, env.get_or_default(TRACES_EXPORT_INTERVAL, "5000"))
    temporality = _temporality(env)
    client = _client(env)
    emit = _emit_options(env, contract.name, client)
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
        settings_files=tuple(f for f in (settings_file_of(t.source) for t in tiers) if f is not None),
        traces=signals["traces"],
        traces_export_interval_ms=traces_interval,
        enhanced_telemetry_beta=beta[0],
        client=client,
    )


# --- reading the effective variables -------------------------------------------------------------


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
    variable, raw = env.first(signal_var(signal, "PROTOCOL"), OTLP_PROTOCOL)
    if raw is None:
        return None, NO_PROTOCOL_REASON
    protocol = raw.strip().lower()
    if protocol not in PROTOCOLS:
        return None, (
            f"{variable}='{raw}' is not an OTLP protocol (allowed: grpc, http/protobuf, http/json), "
            f"so Claude Code exports no {signal} over OTLP"
        )
    return protocol, None


def _endpoint(signal: str, protocol: str, env: _Resolver) -> str:
    per_signal = signal_var(signal, "ENDPOINT")
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
    certificate_var, _ = env.first(signal_var(signal, "CERTIFICATE"), OTLP_CERTIFICATE)
    key_var, key = env.first(signal_var(signal, "CLIENT_KEY"), OTLP_CLIENT_KEY)
    cert_var, cert = env.first(signal_var(signal, "CLIENT_CERTIFICATE"), OTLP_CLIENT_CERTIFICATE)
    if (key is None) != (cert is None):
        present, missing = (key_var, "CLIENT_CERTIFICATE") if cert is None else (cert_var, "CLIENT_KEY")
        raise ConfigError(
            f"{present} is set but neither {signal_var(signal, missing)} nor OTEL_EXPORTER_OTLP_{missing} "
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
    header_lists = [
        (variable, parse_key_value_list(env.get(variable) or "", variable))
        for variable in (OTLP_HEADERS, signal_var(signal, "HEADERS"))
    ]
    headers = merge_pairs(*(pairs for _, pairs in header_lists), case_insensitive=True)
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
    for variable, pairs in header_lists:
        check_headers(variable, pairs, grpc=protocol == "grpc")
    endpoint = _endpoint(signal, protocol, env)
    return SignalConfig(exporters=exporters, protocol=protocol, endpoint=endpoint, **common)


def _beta(env: _Resolver) -> tuple[bool, str]:
    """Whether Claude Code's span tracing beta is on; if not, the words for why."""
    for variable in (ENHANCED_BETA, ENHANCED_BETA_ALIAS):
        raw = env.get(variable)
        if raw is not None and raw.strip().lower() in TRUE:
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
    if raw is None or not switch(OTLP_INSECURE, raw):
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
    if raw is not None and raw.strip().lower() in TRUE:
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
    if text in TRUE:
        return True
    if text not in FALSE:
        env.warn(f"{variable}='{raw}' is neither 1 nor true, so it counts as off")
    return False


# Claude Code's isEnvTruthy: what turns a provider switch on.
_TRUTHY = ("1", "true", "yes", "on")
# The longest content limit taken: far past any backend's attribute limit, and a bound on what one
# attribute of a replay can hold in memory.
_MAX_LENGTH = 64 * 1024 * 1024


def _truthy(raw: str | None) -> bool:
    return raw is not None and raw.strip().lower() in _TRUTHY


def _length(variable: str, raw: str) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or int(text) == 0:
        raise ConfigError(f"{variable}: '{raw}' is not a positive whole number of characters")
    if len(text) > 9 or int(text) > _MAX_LENGTH:
        raise ConfigError(f"{variable}: '{raw}' is more than {_MAX_LENGTH:,}, the longest this tool takes")
    return int(text)


def _value_limits(env: _Resolver) -> dict[str, int | None]:
    """The SDK's attribute value length limit of each signal: its own variable's, else the general one."""
    general = env.get(ATTRIBUTE_VALUE_LIMIT)
    out: dict[str, int | None] = {}
    for signal, variable in ATTRIBUTE_VALUE_LIMITS.items():
        own = env.get(variable)
        if own is not None:
            out[signal] = _length(variable, own)
        elif general is not None:
            out[signal] = _length(ATTRIBUTE_VALUE_LIMIT, general)
        else:
            out[signal] = None
    return out


def _raw_api_bodies(env: _Resolver) -> str | None:
    """OTEL_LOG_RAW_API_BODIES: `1` (or true) for inline bodies, `file:<dir>` for files; off otherwise."""
    raw = env.get(LOG_RAW_API_BODIES)
    if raw is None:
        return None
    text = raw.strip()
    if text.lower() in TRUE:
        return "1"
    if text.lower() in FALSE:
        return None
    if text.startswith("file:") and len(text) > len("file:"):
        directory = Path(text.removeprefix("file:")).expanduser()
        if not directory.is_absolute():
            directory = env.cwd / directory
        return f"file:{directory}"
    raise ConfigError(f"{LOG_RAW_API_BODIES}: '{raw}' is neither 1 nor file:<directory>")


def _client(env: _Resolver) -> dict[str, Sourced]:
    """anthropic.custom_base_url, anthropic.provider and terminal.type as the client derives them from its
    environment, each with the source of the variable that decided it ("default" when none did)."""
    out: dict[str, Sourced] = {}
    base_url = env.get(BASE_URL)
    out["anthropic.custom_base_url"] = (
        Sourced("true", env.values[BASE_URL].source) if base_url is not None else Sourced("false", "default")
    )
    on = [(var, name) for var, name in PROVIDER_SWITCHES if _truthy(env.get(var))]
    if on:
        variable, provider = on[0]
        out["anthropic.provider"] = Sourced(provider, f"{env.values[variable].source} ({variable})")
        if len(on) > 1:
            others = ", ".join(var for var, _ in on[1:])
            env.warn(f"{variable} and {others} are all on: Claude Code uses the first, {provider}")
    else:
        out["anthropic.provider"] = Sourced("firstParty", "default")
    terminal = env.get(TERMINAL)
    if terminal is not None:
        out["terminal.type"] = Sourced(terminal.strip(), env.values[TERMINAL].source)
    return out


def _emit_options(env: _Resolver, profile: str, client: dict[str, Sourced]) -> EmitOptions:
    switches = {
        name: switch(variable, env.get_or_default(variable, "true" if default else "false"))
        for variable, name, default in INCLUDE_SWITCHES
    }
    resource = env.get(RESOURCE_ATTRIBUTES)
    resource_attributes = merge_pairs(
        parse_key_value_list(resource or "", RESOURCE_ATTRIBUTES), (), case_insensitive=False
    )
    value_limits = _value_limits(env)
    return EmitOptions(
        profile=profile,
        resource_attributes=resource_attributes,
        log_user_prompts=bool(_content_gate(env, LOG_USER_PROMPTS, unset=False)),
        log_assistant_responses=_content_gate(env, LOG_ASSISTANT_RESPONSES, unset=None),
        log_tool_details=bool(_content_gate(env, LOG_TOOL_DETAILS, unset=False)),
        log_tool_content=bool(_content_gate(env, LOG_TOOL_CONTENT, unset=False)),
        log_raw_api_bodies=_raw_api_bodies(env),
        content_limit=_length(
            CONTENT_MAX_LENGTH, env.get_or_default(CONTENT_MAX_LENGTH, str(DEFAULT_CONTENT_LIMIT))
        ),
        log_value_limit=value_limits["logs"],
        span_value_limit=value_limits["traces"],
        error_reporting=not _truthy(env.get(DISABLE_ERROR_REPORTING)),
        custom_base_url=client["anthropic.custom_base_url"].value == "true",
        provider=client["anthropic.provider"].value,
        terminal_type=client["terminal.type"].value if "terminal.type" in client else None,
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
        **{s.signal: replace(s, headers=merge_pairs(s.headers, extra, case_insensitive=True)) for s in http},
    }
