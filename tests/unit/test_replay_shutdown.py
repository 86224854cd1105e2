"""How a replay ends when exports fail or hang: at once, never waiting on a collector beyond the export
timeout, and with every request it made counted as sent or failed."""

from __future__ import annotations

import threading

from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExportResult

from claude_telemetry_cli.clock import InstantClock, VirtualClock
from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.pipeline import PipelineFactory
from claude_telemetry_cli.records import EVENT
from claude_telemetry_cli.replay import replay
from claude_telemetry_cli.scenario import compile_scenario, load_scenario_text
from claude_telemetry_cli.settings import load_config

# Events at 0-0.1 s, a retention sweep at 5 s, then nothing until a prompt ten minutes later.
QUIET_HOUR = """\
version: 1
name: quiet-hour
seed: 1
sessions:
  - steps:
      - prompt: {length: 10}
      - wait: 10m
      - prompt: {length: 10}
"""


class _Collector:
    """Stands for the official exporters of every process: each request waits for `answer` (True, False,
    or None: never), as a request waits for a collector's response."""

    def __init__(self) -> None:
        self.answer: bool | None = True
        self.answered = threading.Event()
        self.answered.set()
        self.requests = 0

    def respond(self, ok: bool | None) -> None:
        self.answer = ok
        if ok is None:
            self.answered.clear()
        else:
            self.answered.set()

    def exporter(self, success, failure):
        collector = self

        class _Exporter:
            def export(self, *args, **kwargs):
                collector.requests += 1
                collector.answered.wait(30)
                return success if collector.answer else failure

            def shutdown(self, *args, **kwargs) -> None:
                pass  # a collector that never answers is not hurried by this

        return _Exporter()


class _Factory(PipelineFactory):
    collector: _Collector

    def _otlp_exporter(self, signal: str):
        if signal == "metrics":
            return self.collector.exporter(MetricExportResult.SUCCESS, MetricExportResult.FAILURE)
        return self.collector.exporter(LogRecordExportResult.SUCCESS, LogRecordExportResult.FAILURE)


def _factory(tmp_path, collector: _Collector, export_timeout_s: float = 10.0) -> _Factory:
    config = load_config(
        environ={
            "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
            "OTEL_LOGS_EXPORT_INTERVAL": "1000",
        },
        home=tmp_path,
        cwd=tmp_path,
        managed_path=tmp_path / "managed.json",
    )
    factory = _Factory(config, get_profile(config.profile), export_timeout_s=export_timeout_s)
    factory.collector = collector
    return factory


def _timeline(config):
    return compile_scenario(load_scenario_text(QUIET_HOUR), config.emit)


def _assert_counts_add_up(factory) -> None:
    for s in factory.stats:
        assert s.requests == s.sent_requests + s.failed_requests, s


def test_an_export_failing_while_the_replay_waits_stops_it_then_not_at_its_next_step(tmp_path):
    collector = _Collector()
    factory = _factory(tmp_path, collector)
    timeline = _timeline(factory.config)
    clock = VirtualClock()
    collector.respond(None)  # the start-up events' request (at 1 s) waits for an answer

    def refuse() -> None:  # at 30 s, while the replay waits for the prompt ten minutes later
        collector.respond(False)
        assert factory.failure.wait(10)

    clock.call_at(30.0, refuse)
    try:
        result = replay(timeline, factory, clock, metric_interval_s=3600, logs_interval_s=1)
    finally:
        factory.close()

    assert result.aborted is not None and "logs export" in result.aborted
    assert clock.now() == 30.0 and result.simulated_seconds < 30.0
    late = [r for r in timeline.records if r.signal == EVENT and r.at > 30]
    assert late and result.event_records == sum(r.signal == EVENT for r in timeline.records) - len(late)
    _assert_counts_add_up(factory)
    logs = next(s for s in factory.stats if s.signal == "logs")
    # Every event replayed is in a request counted: the one refused, and what the exit never sent.
    assert logs.items + logs.failed_items == result.event_records
    metrics = next(s for s in factory.stats if s.signal == "metrics")
    assert metrics.failed_requests == metrics.requests == 1 and metrics.sent_requests == 0


def test_the_final_delivery_waits_on_an_unanswered_request_no_longer_than_the_export_timeout(tmp_path):
    collector = _Collector()
    factory = _factory(tmp_path, collector, export_timeout_s=0.2)
    timeline = compile_scenario(
        load_scenario_text(QUIET_HOUR.replace("wait: 10m", "wait: 1s")), factory.config.emit
    )
    collector.respond(None)  # a collector that takes requests and never answers, past any timeout
    results = []
    replaying = threading.Thread(
        target=lambda: results.append(
            replay(timeline, factory, InstantClock(), metric_interval_s=60, logs_interval_s=1)
        ),
        daemon=True,
    )
    try:
        replaying.start()
        replaying.join(timeout=20)
        assert not replaying.is_alive(), "the replay waits on a request that is never answered"
    finally:
        collector.respond(True)
        factory.close()

    (result,) = results
    _assert_counts_add_up(factory)
    assert all(s.failed_requests == s.requests > 0 for s in factory.stats), factory.stats
    assert "no answer within the export timeout (0.2s)" in result.aborted


def test_signals_during_the_final_delivery_end_it_with_what_was_not_answered_counted_as_failed(tmp_path):
    collector = _Collector()
    factory = _factory(tmp_path, collector)
    timeline = _timeline(factory.config)
    collector.respond(None)  # the start-up events' request is never answered
    clock = VirtualClock()

    def interrupt() -> None:
        raise KeyboardInterrupt

    # A first signal stops the replay at 30 s; two more come at once while the exits' exports wait (as
    # `timeout` signals the process, then its group).
    clock.call_at(30.0, interrupt)
    signals = iter([True, True])
    original_drain = factory.drain

    def drain(**kwargs) -> None:
        if next(signals, False):
            raise KeyboardInterrupt
        original_drain(**kwargs)

    factory.drain = drain
    try:
        result = replay(timeline, factory, clock, metric_interval_s=3600, logs_interval_s=1)
    finally:
        collector.respond(True)
        factory.close()

    assert result.interrupted and result.abandoned
    _assert_counts_add_up(factory)
    logs = next(s for s in factory.stats if s.signal == "logs")
    assert logs.sent_requests == 0 and logs.failed_items == result.event_records


def test_the_replay_ends_when_its_last_process_exits_not_at_a_flush_it_no_longer_needs(tmp_path):
    # The last prompt's events are due to leave 1 s after they happen, but the session exits at once
    # and its exit sends them: the replay is over then, and a signal from now on meets the delivery.
    collector = _Collector()
    factory = _factory(tmp_path, collector)
    timeline = compile_scenario(
        load_scenario_text(QUIET_HOUR.replace("wait: 10m", "wait: 3s")), factory.config.emit
    )
    clock = VirtualClock()
    try:
        result = replay(timeline, factory, clock, metric_interval_s=60, logs_interval_s=1)
    finally:
        factory.close()
    (session,) = [p.info for p in timeline.plays()]
    last_event = max(r.at for r in timeline.records if r.signal == EVENT)
    assert session.end_at < last_event + 1  # a flush would have been due after the exit
    assert clock.now() == session.end_at and result.simulated_seconds == session.end_at
    assert all(s.failed_requests == 0 and s.sent_requests == s.requests > 0 for s in factory.stats)
