"""History: a scenario's telemetry at its own timestamps, in a chosen window of the past.

`run --start-at/--end-at` sends it over OTLP (stream.py -> send.py); `export` writes it to a file. Both
encode with the direct OTLP encoder `load` uses (otlp/encode.py), so what they carry is one thing.
"""

from __future__ import annotations

import threading

from claude_telemetry_cli.errors import UsageError
from claude_telemetry_cli.history.send import HistoryResult, SignalTally, send_history
from claude_telemetry_cli.history.stream import Export, HistoryPlan, HistorySpooler, scenario_exports
from claude_telemetry_cli.history.when import HistoryWindow, format_instant, history_window, parse_when

__all__ = [
    "Export",
    "HistoryPlan",
    "HistoryResult",
    "HistorySpooler",
    "HistoryWindow",
    "SignalTally",
    "check_history_config",
    "format_instant",
    "history_plan",
    "history_window",
    "parse_when",
    "scenario_exports",
    "send_history",
    "send_scenario_history",
]


def check_history_config(config) -> list:
    """The signals history sends (their SignalConfig), or a UsageError saying why it cannot. Only OTLP
    carries old timestamps: a Prometheus endpoint is scraped now, a console has no backend."""
    if not config.enabled:
        raise UsageError("telemetry is off: set CLAUDE_CODE_ENABLE_TELEMETRY=1")
    signals = [config.metrics, config.logs, config.traces]
    for sig in signals:
        others = [e for e in sig.exporters if e != "otlp"]
        if others:
            hint = (
                " (for Prometheus: claude-telemetry export --format openmetrics)"
                if "prometheus" in others
                else ""
            )
            raise UsageError(
                f"--start-at/--end-at send history over OTLP; the {sig.signal} exporter {others[0]!r}"
                f" cannot carry it{hint}"
            )
    sending = [sig for sig in signals if sig.otlp_enabled]
    if not sending:
        reasons = [sig.disabled_reason for sig in signals if sig.disabled_reason]
        raise UsageError(
            "history sends OTLP: set OTEL_METRICS_EXPORTER=otlp and/or OTEL_LOGS_EXPORTER=otlp"
            + (f" ({'; '.join(reasons)})" if reasons else "")
        )
    return sending


def history_plan(config, window: HistoryWindow, *, signals: set[str]) -> HistoryPlan:
    return HistoryPlan(
        start_ns=window.start_ns,
        metric_interval_s=config.metric_export_interval_ms / 1000,
        logs_interval_s=config.logs_export_interval_ms / 1000,
        traces_interval_s=config.traces_export_interval_ms / 1000,
        temporality=config.temporality,
        metrics="metrics" in signals,
        logs="logs" in signals,
        traces="traces" in signals,
    )


def send_scenario_history(
    playable,
    config,
    contract,
    window: HistoryWindow,
    *,
    export_timeout_s: float,
    concurrency: int = 64,
    progress=None,
) -> HistoryResult:
    """`playable` (compiled under `config`) sent over OTLP as `config` says, its scenario time 0 at the
    start of `window`."""
    from claude_telemetry_cli.load.transport import build_sender
    from claude_telemetry_cli.otlp.encode import OtlpEncoder

    sending = check_history_config(config)
    stop = threading.Event()
    senders = {sig.signal: build_sender(sig, export_timeout_s, stop=stop) for sig in sending}
    plan = history_plan(config, window, signals=set(senders))
    encoder = OtlpEncoder(contract, config.temporality)
    return send_history(
        scenario_exports(playable, encoder, plan),
        senders,
        concurrency=concurrency,
        export_timeout_s=export_timeout_s,
        progress=progress,
        stop=stop,
    )
