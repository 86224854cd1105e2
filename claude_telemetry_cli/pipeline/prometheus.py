"""The Prometheus pull endpoint: one /metrics for the whole replay, as one Claude Code process serves it."""

from __future__ import annotations

import threading

from opentelemetry.sdk.resources import Resource

from claude_telemetry_cli.contract import METER_NAME, Profile
from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.pipeline.accounting import ExportStats, stats_lock
from claude_telemetry_cli.pipeline.providers import meter_provider
from claude_telemetry_cli.records import SessionInfo

__all__ = ["PrometheusEndpoint"]


class PrometheusEndpoint:
    """One /metrics endpoint for the whole replay, as one Claude Code process would serve.

    It has its own MeterProvider with unit-less instruments: Claude Code's Prometheus scrape never
    carries unit suffixes in metric names.
    """

    def __init__(self, host: str, port: int, profile: Profile, session: SessionInfo, stats: ExportStats):
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry, start_http_server

        self.host, self.stats = host, stats
        self.registry = CollectorRegistry()
        self._reader = PrometheusMetricReader(registry=self.registry)
        # Count scrapes: for a pull exporter, a scrape is what a request is to a push exporter.
        collector, collect = self._reader._collector, self._reader._collector.collect

        def counted_collect():
            with stats_lock:
                stats.requests += 1
                stats.sent_requests += 1
            return collect()

        collector.collect = counted_collect
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(
                f"OTEL_EXPORTER_PROMETHEUS_PORT: cannot serve Prometheus metrics on {host}:{port}:"
                f" {exc.strerror}"
            ) from None
        self.port = self._server.server_address[1]
        stats.destination = f"http://{host}:{self.port}/metrics"
        self._provider = meter_provider(Resource(dict(session.resource)), [self._reader])
        meter = self._provider.get_meter(METER_NAME, version=session.app_version)
        self._counters = {
            s.name: meter.create_counter(s.name, unit="", description=s.description)
            for s in profile.metrics.values()
        }
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def add(self, name: str, value: float, attributes: dict) -> None:
        with self._lock:
            self._counters[name].add(value, attributes)
            self.stats.items += 1

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._provider.shutdown()
