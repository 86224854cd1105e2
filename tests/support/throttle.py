"""An OTLP/HTTP endpoint that throttles: HTTP 429 with Retry-After for its first requests, then 200."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ThrottlingCollector:
    def __init__(self, refuse_first: int, retry_after_s: float = 0.2) -> None:
        self.refuse_first = refuse_first
        self.retry_after_s = retry_after_s
        self.refused = 0
        self.accepted = 0
        self.retry_gaps: list[float] = []  # seconds between a refusal and the next request
        self._last_refusal: float | None = None
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server hook name
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with owner._lock:
                    now = time.monotonic()
                    if owner._last_refusal is not None:
                        owner.retry_gaps.append(now - owner._last_refusal)
                        owner._last_refusal = None
                    refuse = owner.refused < owner.refuse_first
                    if refuse:
                        owner.refused += 1
                        owner._last_refusal = now
                    else:
                        owner.accepted += 1
                if refuse:
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
