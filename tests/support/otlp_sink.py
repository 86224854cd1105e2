"""A minimal in-process OTLP/gRPC server that keeps every request it receives, for tests."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from claude_telemetry_cli.otlp.decode import decode_logs, decode_metrics, decode_traces
from claude_telemetry_cli.receiver.tally import Tally
from tests.support.certs import TlsFiles


class OtlpSink(
    metrics_service_pb2_grpc.MetricsServiceServicer,
    logs_service_pb2_grpc.LogsServiceServicer,
    trace_service_pb2_grpc.TraceServiceServicer,
):
    def __init__(self, tls: TlsFiles | None = None) -> None:
        self.metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.log_requests: list[logs_service_pb2.ExportLogsServiceRequest] = []
        self.trace_requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metadata: list[dict] = []
        self._cond = threading.Condition()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self._server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(self, self._server)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.tls = tls
        if tls is None:
            self.port = self._server.add_insecure_port("127.0.0.1:0")
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.server_key.read_bytes(), tls.server_cert.read_bytes())],
                root_certificates=tls.ca_cert.read_bytes(),
                require_client_auth=True,
            )
            self.port = self._server.add_secure_port("127.0.0.1:0", credentials)

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> OtlpSink:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def Export(self, request, context):  # noqa: N802 - the gRPC method name
        with self._cond:
            self.metadata.append(dict(context.invocation_metadata()))
            if isinstance(request, metrics_service_pb2.ExportMetricsServiceRequest):
                self.metric_requests.append(request)
                reply = metrics_service_pb2.ExportMetricsServiceResponse()
            elif isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
                self.trace_requests.append(request)
                reply = trace_service_pb2.ExportTraceServiceResponse()
            else:
                self.log_requests.append(request)
                reply = logs_service_pb2.ExportLogsServiceResponse()
            self._cond.notify_all()
        return reply

    def points(self):
        with self._cond:
            return [p for r in self.metric_requests for p in decode_metrics(r)]

    def events(self):
        with self._cond:
            return [e for r in self.log_requests for e in decode_logs(r)]

    def spans(self):
        with self._cond:
            return [s for r in self.trace_requests for s in decode_traces(r)]

    def tally(self) -> Tally:
        t = Tally()
        t.add_points(self.points())
        t.add_events(self.events())
        t.add_spans(self.spans())
        return t

    def wait_for(self, predicate, timeout: float = 30.0) -> bool:
        """Wait until predicate(self) holds, re-checked on each request (and every 0.2 s)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if predicate(self):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.2))
