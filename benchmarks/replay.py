"""Replay throughput and start-up, each as a ratio to a baseline measured in the same run.

    python benchmarks/replay.py [--repeat N] [--sessions N]

1. Replay: the `team-day` scenario, scaled to --sessions sessions, replayed instantly through the
   faithful pipeline (one SDK process per session, official gRPC exporters) into a real rotel
   collector with its blackhole exporter. Baselines: the same measurements and events written by
   naive OpenTelemetry SDK loops, as a user would by hand: one provider per session (the same
   request pattern as real processes), and one provider for everything (fewest requests possible).
2. Start-up: `claude-telemetry --help` against `python -c pass`.

Shared machines are noisy: each figure is the best of --repeat runs, and only ratios are compared.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.rotel_blackhole import start_rotel  # noqa: E402


def build_timeline(sessions: int):
    from claude_telemetry_cli.options import EmitOptions
    from claude_telemetry_cli.records import Timeline
    from claude_telemetry_cli.scenario import compile_scenario, load_scenario, resolve_scenario

    base = compile_scenario(load_scenario(resolve_scenario("team-day")), EmitOptions())
    copies = max(1, sessions // len(base.sessions))
    infos, records = [], []
    for c in range(copies):
        offset = c * len(base.sessions)
        for s in base.sessions:
            infos.append(
                dataclasses.replace(s, index=s.index + offset, session_id=f"{s.session_id[:-4]}{c:04d}")
            )
        records.extend(dataclasses.replace(r, session=r.session + offset) for r in base.records)
    records.sort(key=lambda r: (r.at, r.session))
    return Timeline(base.name, base.profile, tuple(infos), tuple(records))


def grpc_config(port: int):
    """Metrics and events over gRPC to 127.0.0.1:`port`, Claude Code's default intervals, delta."""
    from claude_telemetry_cli.options import EmitOptions
    from claude_telemetry_cli.settings import SignalConfig, TelemetryConfig

    endpoint = f"http://127.0.0.1:{port}"
    return TelemetryConfig(
        enabled=True,
        profile="current",
        metrics=SignalConfig("metrics", ("otlp",), "grpc", endpoint),
        logs=SignalConfig("logs", ("otlp",), "grpc", endpoint),
        metric_export_interval_ms=60000,
        logs_export_interval_ms=5000,
        temporality="delta",
        emit=EmitOptions(),
    )


def http_config(port: int):
    """grpc_config, over OTLP/HTTP protobuf to 127.0.0.1:`port` (/v1/metrics, /v1/logs)."""
    import dataclasses

    config = grpc_config(port)
    base = f"http://127.0.0.1:{port}/v1"
    return dataclasses.replace(
        config,
        metrics=dataclasses.replace(config.metrics, protocol="http/protobuf", endpoint=f"{base}/metrics"),
        logs=dataclasses.replace(config.logs, protocol="http/protobuf", endpoint=f"{base}/logs"),
    )


def faithful(timeline, port: int, config=None) -> float:
    """Seconds to replay `timeline` instantly through the SDK pipeline (run --instant) to `port`, or
    as `config` says."""
    from claude_telemetry_cli.clock import InstantClock
    from claude_telemetry_cli.contract import get_profile
    from claude_telemetry_cli.pipeline import PipelineFactory
    from claude_telemetry_cli.replay import replay

    factory = PipelineFactory(config or grpc_config(port), get_profile("current"))
    started = time.perf_counter()
    result = replay(timeline, factory, InstantClock(), metric_interval_s=60, logs_interval_s=5)
    elapsed = time.perf_counter() - started
    factory.close()
    assert result.aborted is None, result.aborted
    return elapsed


def _naive_providers(endpoint: str, resource):
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint, insecure=True))
    meters = MeterProvider(resource=Resource(resource), metric_readers=[reader])
    logs = LoggerProvider(resource=Resource(resource))
    logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True)))
    return meters, logs, meters.get_meter("com.anthropic.claude_code"), logs.get_logger("claude_code.events")


def naive_sdk(timeline, port: int, *, per_session: bool) -> float:
    """SDK defaults, every record written with counter.add / logger.emit, as a user would by hand.

    per_session=False: one provider pair for everything (fewest requests: the SDK floor).
    per_session=True: one provider pair per session, shut down when its session ends.
    """
    endpoint = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    open_: dict = {}
    counters: dict = {}
    ends = {s.index: s.end_at for s in timeline.sessions}
    last_record = {}
    for r in timeline.records:
        last_record[r.session] = r
    for r in timeline.records:
        key = r.session if per_session else 0
        if key not in open_:
            open_[key] = _naive_providers(endpoint, dict(timeline.sessions[r.session].resource))
        meters, logs, meter, logger = open_[key]
        if r.signal == "metric":
            ck = (key, r.name)
            counter = counters.get(ck) or counters.setdefault(ck, meter.create_counter(r.name))
            counter.add(r.value, dict(r.attributes))
        else:
            logger.emit(body=f"claude_code.{r.name}", attributes=dict(r.attributes))
        if per_session and last_record[r.session] is r and ends[r.session] >= r.at:
            logs.shutdown()
            meters.shutdown()
            del open_[key]
    for meters, logs, _, _ in open_.values():
        logs.shutdown()
        meters.shutdown()
    return time.perf_counter() - started


def startup(args: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=200)
    args = parser.parse_args()

    timeline = build_timeline(args.sessions)
    n, sessions = len(timeline.records), len(timeline.sessions)
    proc, port = start_rotel()
    try:
        ours = min(faithful(timeline, port) for _ in range(args.repeat))
        per_session = min(naive_sdk(timeline, port, per_session=True) for _ in range(args.repeat))
        single = min(naive_sdk(timeline, port, per_session=False) for _ in range(args.repeat))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"replay of {sessions} sessions, {n} records (points and events), into rotel over gRPC:")
    print(
        f"  naive SDK, one provider for all      : {n / single:9,.0f} records/s (all sessions in one batch)"
    )
    print(f"  naive SDK, one provider per session  : {n / per_session:9,.0f} records/s")
    print(f"  claude-telemetry run --instant       : {n / ours:9,.0f} records/s")
    print(f"  ratio run / naive per session        : {per_session / ours:9.2f}x time-per-record better")
    print(f"  ratio run / naive one provider       : {single / ours:9.2f}x")

    bare = startup([sys.executable, "-c", "pass"], args.repeat * 3)
    helped = startup([sys.executable, "-m", "claude_telemetry_cli", "--help"], args.repeat * 3)
    print("start-up:")
    print(f"  python -c pass               : {bare * 1000:8.0f} ms")
    print(f"  claude-telemetry --help      : {helped * 1000:8.0f} ms  ({helped / bare:.1f}x bare python)")


if __name__ == "__main__":
    main()
