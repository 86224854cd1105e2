"""`export`: a scenario's telemetry as history, written to a file instead of sent.

The file is written beside its target under a temporary name and renamed into place when complete: a
reader never meets half a file, and a failure or an interrupt leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from claude_telemetry_cli.files import writing
from claude_telemetry_cli.history.openmetrics import (
    CollectorScrapes,
    Naming,
    OpenMetricsResult,
    ProcessScrapes,
    points_of_exports,
    process_updates,
    write_openmetrics,
)
from claude_telemetry_cli.history.stream import HistoryPlan, scenario_exports
from claude_telemetry_cli.history.when import HistoryWindow

__all__ = [
    "FORMATS",
    "OtlpJsonResult",
    "export_openmetrics",
    "export_otlp_json",
    "export_signals",
    "target_file",
]

FORMATS = ("openmetrics", "otlp-json")

Progress = Callable[[int, int], None]  # (Unix ns reached, samples or lines written)


@contextlib.contextmanager
def target_file(path: str | None) -> Iterator[BinaryIO]:
    """A binary file to write the export to: stdout for None or "-", else `path` written whole or not at
    all (files.writing). A write error (a full disk) is a UsageError naming the file."""
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with writing(path, "--out", "wb", buffering=1 << 20) as fh:
        yield fh


def export_openmetrics(
    playable,
    config,
    contract,
    window: HistoryWindow,
    out: BinaryIO,
    *,
    naming: Naming,
    scrape_interval_s: float,
    series_expiry_s: float,
    delta_rule: str = "processor",
    spool_dir: str | None = None,
    progress: Progress | None = None,
) -> OpenMetricsResult:
    """What a Prometheus server scraping every `scrape_interval_s` over `window` would have stored of
    `playable`'s metrics (compiled under `config`), as OpenMetrics text on `out`."""
    from claude_telemetry_cli.otlp.encode import OtlpEncoder

    if naming.kind == "otel-collector":
        plan = HistoryPlan(
            start_ns=window.start_ns,
            metric_interval_s=config.metric_export_interval_ms / 1000,
            logs_interval_s=config.logs_export_interval_ms / 1000,
            traces_interval_s=config.traces_export_interval_ms / 1000,
            temporality=config.temporality,
            metrics=True,
            logs=False,
            traces=False,
        )
        encoder = OtlpEncoder(contract, config.temporality)
        scrapes = CollectorScrapes(naming, round(series_expiry_s * 1e9), delta_rule)
        updates = points_of_exports(scenario_exports(playable, encoder, plan))

        def apply(target, point) -> None:
            target.receive(point)

    else:
        scrapes = ProcessScrapes(naming)
        updates = process_updates(playable, window.start_ns)
        specs = contract.metrics

        def apply(target, update) -> None:
            info, record = update
            if record is None:
                target.exit(info.index)
                return
            spec = specs[record.name]
            target.measure(
                info.index,
                record.name,
                spec.unit,
                spec.description,
                record.attributes,
                info.resource,
                info.app_version,
                float(record.value or 0.0),
            )

    return write_openmetrics(
        updates,
        scrapes,
        apply,
        out,
        end_ns=window.end_ns,
        interval_ns=round(scrape_interval_s * 1e9),
        spool_dir=spool_dir,
        progress=progress,
    )


def export_signals(config) -> set[str]:
    """The signals an OTLP/JSON export writes: those the configuration exports; with none configured,
    metrics and events, as Claude Code sends once telemetry is on (and spans when tracing is)."""
    chosen = {sig.signal for sig in (config.metrics, config.logs, config.traces) if sig.exporters}
    return chosen or {"metrics", "logs", *(["traces"] if config.tracing else [])}


@dataclass
class OtlpJsonResult:
    lines: int = 0
    requests: dict | None = None
    items: int = 0
    first_ns: int | None = None
    last_ns: int | None = None

    def to_json(self) -> dict:
        from claude_telemetry_cli.history.when import format_instant

        return {
            "lines": self.lines,
            "requests": dict(sorted((self.requests or {}).items())),
            "items": self.items,
            "first_request": format_instant(self.first_ns) if self.first_ns is not None else None,
            "last_request": format_instant(self.last_ns) if self.last_ns is not None else None,
        }


def export_otlp_json(
    playable,
    config,
    contract,
    window: HistoryWindow,
    out: BinaryIO,
    *,
    signals: set[str],
    progress: Progress | None = None,
) -> OtlpJsonResult:
    """Every export request of `signals`, in the order they were due, one OTLP/JSON object a line: the
    Collector's file exporter format, which its otlpjsonfile receiver reads back."""
    from claude_telemetry_cli.history import history_plan
    from claude_telemetry_cli.otlp.encode import OtlpEncoder
    from claude_telemetry_cli.otlp.json_lines import otlp_json

    plan = history_plan(config, window, signals=signals)
    encoder = OtlpEncoder(contract, config.temporality)
    result = OtlpJsonResult(requests={s: 0 for s in signals})
    last_progress = 0
    for export in scenario_exports(playable, encoder, plan):
        request = export.request
        out.write(otlp_json(request.signal, request.body) + b"\n")
        result.lines += 1
        result.requests[request.signal] += 1
        result.items += request.points + request.events + request.spans
        at_ns = window.ns(export.at)
        if result.first_ns is None:
            result.first_ns = at_ns
        result.last_ns = at_ns
        if progress is not None and at_ns - last_progress >= 3_600 * 10**9:
            last_progress = at_ns
            progress(at_ns, result.lines)
    return result
