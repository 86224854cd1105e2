"""The environment a benchmark runs the command-line sender with: this checkout's package, telemetry on,
and OTLP to one endpoint; nothing inherited from the shell's own telemetry settings."""

from __future__ import annotations

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def sender_env(endpoint: str, protocol: str, *, logs: bool = True, traces: bool = False) -> dict[str, str]:
    """Metrics, and events unless not `logs`, and with `traces` the beta's spans, to `endpoint`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CLAUDE_CODE_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        CLAUDE_CODE_ENABLE_TELEMETRY="1",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
    )
    if logs:
        env["OTEL_LOGS_EXPORTER"] = "otlp"
    if traces:
        env.update(CLAUDE_CODE_ENHANCED_TELEMETRY_BETA="1", OTEL_TRACES_EXPORTER="otlp")
    return env
