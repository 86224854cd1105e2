"""An OTLP/HTTP (protobuf and JSON) server, plain or over TLS with client certificates, for tests."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.certs import TlsFiles


class HttpsSink:
    def __init__(self, tls: TlsFiles | None = None) -> None:
        self.tls = tls
        self.requests: list[tuple[str, str, bytes]] = []  # (path, content type, body)
        self.headers: list[dict[str, str]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.requests.append((self.path, self.headers.get("Content-Type", ""), body))
                sink.headers.append({k.lower(): v for k, v in self.headers.items()})
                is_json = "json" in self.headers.get("Content-Type", "")
                reply = b"{}" if is_json else b""
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if is_json else "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(tls.server_cert, tls.server_key)
            ctx.load_verify_locations(tls.ca_cert)
            ctx.verify_mode = ssl.CERT_REQUIRED
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> HttpsSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def metric_names(self) -> set[str]:
        from claude_telemetry_cli.otlp.decode import decode_metrics

        names = set()
        for path, ctype, body in self.requests:
            if path != "/v1/metrics":
                continue
            if "json" in ctype:
                data = json.loads(body)
                for rm in data.get("resourceMetrics", []):
                    for sm in rm.get("scopeMetrics", []):
                        names.update(m["name"] for m in sm.get("metrics", []))
            else:
                names.update(p.name for p in decode_metrics(body))
        return names
