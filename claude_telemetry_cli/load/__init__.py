"""Load generation: fleets of simulated Claude Code sessions (or a throughput loop) sending OTLP directly.

activity.py builds the templates, session.py plays one session, engine.py schedules many in one worker,
transport.py sends and retries, runner.py runs the workers, stats.py counts. The Locust integration
(claude_telemetry_cli/locust/) plays the same sessions as Locust users.
"""

from __future__ import annotations

from claude_telemetry_cli.errors import UsageError

__all__ = ["check_load_config"]

LOAD_PROTOCOLS = ("grpc", "http/protobuf")


def check_load_config(config, *, totals: bool = False, where: str = "with -e or in the environment") -> None:
    """Raise a one-line UsageError unless `config` (settings.TelemetryConfig) lets load send: telemetry on,
    at least one signal exported over OTLP, over a protocol load speaks, and delta temporality when the
    acknowledged totals are to be written (their verdict adds up deltas). A sender's own complaint (an
    endpoint, header or TLS file it cannot use) is a ConfigError. `where` tells how a variable is set
    for the program asking (Locust has no -e)."""
    if not config.enabled:
        raise UsageError(f"telemetry is off: set CLAUDE_CODE_ENABLE_TELEMETRY=1 ({where})")
    if not (config.metrics.otlp_enabled or config.logs.otlp_enabled or config.traces.otlp_enabled):
        reasons = [r for r in (config.metrics.disabled_reason, config.logs.disabled_reason) if r]
        raise UsageError(
            "load sends OTLP: set OTEL_METRICS_EXPORTER=otlp and/or OTEL_LOGS_EXPORTER=otlp"
            + (f" ({'; '.join(reasons)})" if reasons else "")
        )
    for sig in (config.metrics, config.logs, config.traces):
        if sig.otlp_enabled and sig.protocol not in LOAD_PROTOCOLS:
            raise UsageError(
                f"load sends OTLP over grpc or http/protobuf; the {sig.signal} protocol is {sig.protocol}"
                " (set OTEL_EXPORTER_OTLP_PROTOCOL)"
            )
    if totals and config.temporality != "delta":
        raise UsageError("the totals of what was acknowledged need delta temporality (the default)")
    # Each signal's sender, built once here (nothing is connected): an endpoint, a header or a TLS file
    # it cannot use is one line before any worker starts, not one line per worker after an empty report.
    from claude_telemetry_cli.load.transport import build_sender

    for sig in (config.metrics, config.logs, config.traces):
        if sig.otlp_enabled:
            build_sender(sig, 1.0).close()
