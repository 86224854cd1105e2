"""The Prometheus pull endpoint: one /metrics for the whole replay, as one Claude Code process serves it."""

from __future__ import annotations

import re
import socket
import threading

from opentelemetry.sdk.metrics import Counter
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader, MetricsData, Sum
from opentelemetry.sdk.resources import Resource

from claude_telemetry_cli.contract import METER_NAME, Profile
from claude_telemetry_cli.contract.prometheus import label_name, label_value, series_labels
from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.pipeline.accounting import ExportStats, stats_lock
from claude_telemetry_cli.pipeline.providers import meter_provider
from claude_telemetry_cli.records import SessionInfo

__all__ = ["PrometheusEndpoint"]

_NOT_NAME = re.compile(r"[^a-zA-Z0-9_:]")


class _CumulativeReader(MetricReader):
    """Hands each collection's cumulative sums to the scrape that asked for them."""

    def __init__(self) -> None:
        super().__init__(preferred_temporality={Counter: AggregationTemporality.CUMULATIVE})
        self.latest: MetricsData | None = None

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs) -> None:
        self.latest = metrics_data

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        pass


class _Collector:
    """A prometheus_client collector writing what Claude Code's exporter (the OpenTelemetry JS one)
    writes: a `target_info` gauge with the resource, and per counter a `<name>_total` family whose
    every series is labelled with exactly its point's attributes and the scope's name and version.
    The Python exporter would add `otel_scope_schema_url=""` to every series and an empty label for
    each attribute some other point of the metric has; the client has neither."""

    def __init__(self, reader: _CumulativeReader, resource: Resource, stats: ExportStats) -> None:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        self._reader, self._stats = reader, stats
        self._counter_family, self._gauge_family = CounterMetricFamily, GaugeMetricFamily
        self._target = {label_name(k): label_value(v) for k, v in resource.attributes.items()}
        self._lock = threading.Lock()

    def collect(self):
        # A scrape is what a request is to a push exporter.
        with stats_lock:
            self._stats.requests += 1
            self._stats.sent_requests += 1
        with self._lock:
            self._reader.collect()
            data, self._reader.latest = self._reader.latest, None
        if data is None:
            return
        target = self._gauge_family("target_info", "Target metadata")
        target.add_sample("target_info", self._target, 1)
        yield target
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if not isinstance(metric.data, Sum) or not metric.data.data_points:
                        continue
                    name = _NOT_NAME.sub("_", metric.name)
                    family = self._counter_family(name, metric.description or "")
                    scope_name, scope_version = sm.scope.name, sm.scope.version or ""
                    for point in metric.data.data_points:
                        labels = series_labels(point.attributes.items(), scope_name, scope_version)
                        family.add_sample(family.name + "_total", labels, point.value)
                    yield family


def _serve(host: str, port: int, registry):
    """prometheus_client's WSGI server for `registry`, but always in the text format (0.0.4): Claude
    Code's exporter (the OpenTelemetry JS one) serves it whatever the scraper accepts, where
    prometheus_client would answer OpenMetrics to a scraper that asks for it, as Prometheus does."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer

    app = make_wsgi_app(registry)

    def text_format(environ, start_response):
        environ.pop("HTTP_ACCEPT", None)
        return app(environ, start_response)

    class Server(ThreadingWSGIServer):
        address_family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format, *args) -> None:
            pass

    httpd = make_server(host, port, text_format, Server, handler_class=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, name="prometheus", daemon=True)
    thread.start()
    return httpd, thread


class PrometheusEndpoint:
    """One /metrics endpoint for the whole replay, as one Claude Code process would serve.

    It has its own MeterProvider with unit-less instruments: Claude Code's Prometheus scrape never
    carries unit suffixes in metric names.
    """

    def __init__(self, host: str, port: int, profile: Profile, session: SessionInfo, stats: ExportStats):
        from prometheus_client import CollectorRegistry

        self.host, self.stats = host, stats
        self.registry = CollectorRegistry()
        resource = Resource(dict(session.resource))
        self._reader = _CumulativeReader()
        self.registry.register(_Collector(self._reader, resource, stats))
        try:
            self._server, self._thread = _serve(host, port, self.registry)
        except OSError as exc:
            raise ConfigError(
                f"OTEL_EXPORTER_PROMETHEUS_PORT: cannot serve Prometheus metrics on {host}:{port}:"
                f" {exc.strerror}"
            ) from None
        self.port = self._server.server_address[1]
        stats.destination = f"http://{host}:{self.port}/metrics"
        self._provider = meter_provider(resource, [self._reader])
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
