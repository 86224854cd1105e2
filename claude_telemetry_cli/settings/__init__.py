"""The ONLY reader of os.environ and of Claude Code settings files: resolves a TelemetryConfig.

names.py holds the variables' names, sources.py where values come from (environment, settings files,
command line, managed settings), resolve.py how they become a TelemetryConfig (config.py), headers.py
runs otelHeadersHelper and view.py shows a configuration with its secrets masked (and hides them in
any other text).
"""

from __future__ import annotations

from claude_telemetry_cli.settings.config import Removal, SignalConfig, Source, Sourced, TelemetryConfig
from claude_telemetry_cli.settings.headers import HEADERS_HELPER_TIMEOUT_S, run_headers_helper
from claude_telemetry_cli.settings.names import (
    ENDPOINT_VARIABLES,
    HEADERS_HELPER_KEY,
    INCLUDE_SWITCHES,
    OTLP_HEADERS,
    RELEVANT_VARIABLES,
    SECRET_VARIABLES,
)
from claude_telemetry_cli.settings.resolve import NO_PROTOCOL_REASON, TELEMETRY_OFF_REASON, load_config
from claude_telemetry_cli.settings.sources import (
    FLAG_VARIABLES,
    default_managed_path,
    flag_overrides,
    parse_cli_overrides,
    read_env_file,
)
from claude_telemetry_cli.settings.values import mask_url, merge_headers, parse_key_value_list
from claude_telemetry_cli.settings.view import (
    config_secrets,
    is_secret,
    mask_value,
    masked_view,
    redact,
    secret_values,
)

__all__ = [
    "ENDPOINT_VARIABLES",
    "FLAG_VARIABLES",
    "HEADERS_HELPER_KEY",
    "HEADERS_HELPER_TIMEOUT_S",
    "INCLUDE_SWITCHES",
    "NO_PROTOCOL_REASON",
    "OTLP_HEADERS",
    "RELEVANT_VARIABLES",
    "SECRET_VARIABLES",
    "TELEMETRY_OFF_REASON",
    "Removal",
    "SignalConfig",
    "Source",
    "Sourced",
    "TelemetryConfig",
    "config_secrets",
    "default_managed_path",
    "flag_overrides",
    "is_secret",
    "load_config",
    "mask_url",
    "mask_value",
    "masked_view",
    "merge_headers",
    "parse_cli_overrides",
    "parse_key_value_list",
    "read_env_file",
    "redact",
    "run_headers_helper",
    "secret_values",
]
