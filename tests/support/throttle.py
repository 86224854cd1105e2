"""OTLP endpoints that throttle their first requests, then accept: over HTTP (429 with Retry-After) and
over gRPC (RESOURCE_EXHAUSTED with grpc-retry-pushback-ms). Each records the gaps between a refusal
and the request that follows it."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Tally:
    def __init__(self, refuse_first: int, retry_after_s: float) -> None:
        self.refuse_first = refuse_first
        self.retry_after_s = retry_after_s
        self.refused = 0
        self.accepted = 0
        self.retry_gaps: list[float] = []  # seconds between a refusal and the next request
        self._last_refusal: float | None = None
        self._lock = threading.Lock()

    def arrive(self) -> bool:
        """Count one request; whether to refuse it."""
        with self._lock:
            now = time.monotonic()
            if self._last_refusal is not None:
                self.retry_gaps.append(now - self._last_refusal)
                self._last_refusal = None
            refuse = self.refused < self.refuse_first
            if refuse:
                self.refused += 1
                self._last_refusal = now
            else:
                self.accepted += 1
            return refuse


class ThrottlingCollector(_Tally):
    def __init__(self, refuse_first: int, retry_after_s: float = 0.2) -> None:
        super().__init__(refuse_first, retry_after_s)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server hook name
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if owner.arrive():
                    self.send_response(429)
                    self.send_header("Retry-After", f"{owner.retry_after_s:g}")
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThrottlingCollector:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class ThrottlingGrpcCollector(_Tally):
    """OTLP/gRPC metrics and logs services that answer RESOURCE_EXHAUSTED, asking for a pause."""

    def __init__(self, refuse_first: int, retry_after_s: float = 0.2) -> None:
        super().__init__(refuse_first, retry_after_s)
        from concurrent.futures import ThreadPoolExecutor

        import grpc

        def export(request: bytes, context) -> bytes:
            if self.arrive():
                context.set_trailing_metadata(
                    (("grpc-retry-pushback-ms", str(int(self.retry_after_s * 1000))),)
                )
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "throttled")
            return b""  # an empty Export*ServiceResponse

        handler = grpc.unary_unary_rpc_method_handler(export)
        services = [
            grpc.method_handlers_generic_handler(
                f"opentelemetry.proto.collector.{s}.v1.{n}", {"Export": handler}
            )
            for s, n in (("metrics", "MetricsService"), ("logs", "LogsService"))
        ]
        self._server = grpc.server(ThreadPoolExecutor(4), handlers=services)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThrottlingGrpcCollector:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)
