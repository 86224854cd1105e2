"""A deliberately faulty pipeline stage for tests: forwards OTLP/gRPC but strips one point attribute,
as a misconfigured collector processor would."""

from __future__ import annotations

from concurrent import futures

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc


class AttributeDroppingStage(
    metrics_service_pb2_grpc.MetricsServiceServicer, logs_service_pb2_grpc.LogsServiceServicer
):
    def __init__(self, forward_to: str, drop_key: str) -> None:
        self.drop_key = drop_key
        self._channel = grpc.insecure_channel(forward_to.removeprefix("http://"))
        self._metrics = metrics_service_pb2_grpc.MetricsServiceStub(self._channel)
        self._logs = logs_service_pb2_grpc.LogsServiceStub(self._channel)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self._server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AttributeDroppingStage:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)
        self._channel.close()

    def Export(self, request, context):  # noqa: N802 - the gRPC method name
        if isinstance(request, metrics_service_pb2.ExportMetricsServiceRequest):
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        for p in m.sum.data_points:
                            kept = [kv for kv in p.attributes if kv.key != self.drop_key]
                            del p.attributes[:]
                            p.attributes.extend(kept)
            return self._metrics.Export(request, timeout=10)
        return self._logs.Export(request, timeout=10) or logs_service_pb2.ExportLogsServiceResponse()
