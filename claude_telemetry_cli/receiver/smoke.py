"""The self-contained check: replay a scenario into an embedded receiver over every protocol and
temporality, through the real OpenTelemetry pipeline (metrics, events and beta traces), and verify
exact totals each time."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from claude_telemetry_cli.receiver.reception import Reception
from claude_telemetry_cli.receiver.verify import Verdict
from claude_telemetry_cli.receiver.watch import watch

PROTOCOLS = ("grpc", "http/protobuf", "http/json")
TEMPORALITIES = ("delta", "cumulative")


@dataclass
class SmokeCase:
    protocol: str
    temporality: str
    verdict: Verdict | None = None
    error: str | None = None
    seconds: float = 0.0
    requests: int = 0
    records: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.verdict is not None and self.verdict.ok

    def to_json(self) -> dict:
        return {
            "protocol": self.protocol,
            "temporality": self.temporality,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "records": self.records,
            "requests": self.requests,
            "error": self.error,
            "verdict": self.verdict.to_json() if self.verdict else None,
        }


def run_smoke(
    scenario: Path,
    *,
    profile: str = "current",
    protocols: tuple[str, ...] = PROTOCOLS,
    temporalities: tuple[str, ...] = TEMPORALITIES,
    timeout_s: float = 20.0,
    on_case: Callable[[SmokeCase], None] | None = None,
) -> list[SmokeCase]:
    from claude_telemetry_cli.clock import InstantClock
    from claude_telemetry_cli.contract import get_profile
    from claude_telemetry_cli.pipeline import PipelineFactory
    from claude_telemetry_cli.receiver.server import OtlpServer
    from claude_telemetry_cli.replay import replay
    from claude_telemetry_cli.scenario import compile_scenario, load_scenario
    from claude_telemetry_cli.scenario.spans import derive_spans
    from claude_telemetry_cli.settings import load_config

    contract = get_profile(profile)
    parsed = load_scenario(scenario)
    reception = Reception()
    server = OtlpServer(reception, grpc_port=0, http_port=0).start()
    cases: list[SmokeCase] = []
    # The user's own environment and settings files must not leak into a self-contained check.
    with tempfile.TemporaryDirectory(prefix="claude-telemetry-smoke-") as empty:
        try:
            for protocol in protocols:
                for temporality in temporalities:
                    case = SmokeCase(protocol, temporality)
                    endpoint = server.grpc_endpoint if protocol == "grpc" else server.http_endpoint
                    config = load_config(
                        {},
                        cli_env={
                            "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
                            "OTEL_METRICS_EXPORTER": "otlp",
                            "OTEL_LOGS_EXPORTER": "otlp",
                            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
                            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality,
                            # Short intervals: several requests per session, so cumulative re-sends
                            # and delta splits are exercised, not just the exports at exit.
                            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
                            "OTEL_LOGS_EXPORT_INTERVAL": "1000",
                            # Traces (beta) too, so every signal Claude Code can send is checked.
                            "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1",
                            "OTEL_TRACES_EXPORTER": "otlp",
                            "OTEL_TRACES_EXPORT_INTERVAL": "1000",
                        },
                        cwd=Path(empty),
                        home=Path(empty),
                        managed_path=Path(empty) / "managed-settings.json",
                        profile=profile,
                    )
                    timeline = compile_scenario(parsed, config.emit)
                    if config.tracing:
                        timeline = derive_spans(timeline, seed=parsed.seed)
                    case.records = len(timeline.records)
                    reception.reset()
                    started = time.monotonic()
                    factory = PipelineFactory(config, contract, export_timeout_s=5.0)
                    try:
                        result = replay(
                            timeline,
                            factory,
                            InstantClock(),
                            metric_interval_s=config.metric_export_interval_ms / 1000,
                            logs_interval_s=config.logs_export_interval_ms / 1000,
                            traces_interval_s=config.traces_export_interval_ms / 1000,
                        )
                    finally:
                        factory.close()
                    case.requests = sum(s.requests for s in factory.stats)
                    if result.aborted:
                        case.error = result.aborted
                    else:
                        outcome = watch(reception, expected=timeline.totals(), timeout_s=timeout_s)
                        case.verdict = outcome.verdict
                        if outcome.interrupted:
                            raise KeyboardInterrupt
                    case.seconds = time.monotonic() - started
                    cases.append(case)
                    if on_case is not None:
                        on_case(case)
        finally:
            server.stop()
    return cases
