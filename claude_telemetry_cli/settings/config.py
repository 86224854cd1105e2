"""The resolved configuration: a frozen TelemetryConfig, one SignalConfig per signal, and where each
value came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from claude_telemetry_cli.options import EmitOptions

__all__ = ["Removal", "SignalConfig", "Source", "Sourced", "TelemetryConfig"]

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
    # The standard attributes the client derives from its environment (anthropic.custom_base_url,
    # anthropic.provider, terminal.type), as text, each with the source of the variable that decided it.
    client: dict[str, Sourced] = field(default_factory=dict)

    @property
    def tracing(self) -> bool:
        """Whether spans are made at all: the events then carry their interaction's trace ids."""
        return bool(self.traces.exporters)
