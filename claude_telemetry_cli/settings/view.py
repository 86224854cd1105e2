"""The `config` command's view of a TelemetryConfig: JSON-able, every secret shown as ***."""

from __future__ import annotations

from collections.abc import Iterable

from claude_telemetry_cli.errors import UsageError
from claude_telemetry_cli.pairs import split_pair
from claude_telemetry_cli.settings.config import SignalConfig, TelemetryConfig
from claude_telemetry_cli.settings.names import (
    BASE_URL,
    ENDPOINT_VARIABLES,
    HEADER_VARIABLES,
    SECRET_VARIABLES,
)
from claude_telemetry_cli.settings.values import mask_url

__all__ = ["config_secrets", "is_secret", "mask_value", "masked_view", "redact", "secret_values"]


def is_secret(variable: str) -> bool:
    return variable in SECRET_VARIABLES


def mask_value(variable: str, value: str) -> str:
    """The value as it may be shown: header values and passphrases as ***, URL passwords hidden."""
    if variable in HEADER_VARIABLES:
        masked = []
        for item in value.split(","):
            if not item.strip():
                continue
            try:
                key, _ = split_pair(item, variable)
            except UsageError:
                masked.append("***")
            else:
                masked.append(f"{key}=***")
        return ",".join(masked)
    if variable in SECRET_VARIABLES:
        return "***"
    if variable in ENDPOINT_VARIABLES or variable == BASE_URL:
        return mask_url(value)
    return value


def secret_values(headers: Iterable[tuple[str, str]], passphrase: str | None = None) -> tuple[str, ...]:
    """What `redact` hides: each header value, each long word of one (the token after `Bearer`), and
    the key passphrase. Short values (`x-team=a`) are left out: hiding them would mangle every message."""
    found: set[str] = set()
    for _, value in headers:
        value = value.strip()
        if len(value) >= 6:
            found.add(value)
        found.update(word for word in value.split() if len(word) >= 8)
    if passphrase:
        found.add(passphrase)
    # Longest first: a value is hidden whole before a word of it is.
    return tuple(sorted(found, key=len, reverse=True))


def config_secrets(config: TelemetryConfig) -> tuple[str, ...]:
    signals = (config.metrics, config.logs, config.traces)
    headers = [pair for signal in signals for pair in signal.headers]
    passphrase = next((s.http_client_key_passphrase for s in signals if s.http_client_key_passphrase), None)
    return secret_values(headers, passphrase)


def redact(data, secrets: Iterable[str]):
    """`data` (an exporter's error, a collector's reply, a summary holding them: text, or dicts and lists
    of it) with every secret in it shown as ***: a collector may quote the header it refused."""
    if isinstance(data, str):
        for secret in secrets:
            if secret in data:
                data = data.replace(secret, "***")
        return data
    if isinstance(data, dict):
        return {key: redact(value, secrets) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(redact(value, secrets) for value in data)
    return data


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
            "tool_content": emit.log_tool_content,
            "raw_api_bodies": emit.log_raw_api_bodies,
            # UTF-16 code units, the truncation marker included; lowered by the SDK value limits.
            "limit_events": emit.event_content_limit,
            "limit_spans": emit.span_content_limit,
        },
        "internal_errors": emit.error_reporting,
        "resource_attributes": dict(emit.resource_attributes),
        # On every point and event, unless a scenario session sets its own (custom_base_url, provider,
        # terminal_type).
        "client": {
            key: {"value": sourced.value, "source": sourced.source} for key, sourced in config.client.items()
        },
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
