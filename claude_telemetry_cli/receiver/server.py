"""OtlpServer: an OTLP receiver for metrics, logs and traces over gRPC and HTTP, feeding a Reception."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.parser
import email.utils
import hmac
import http.client
import io
import json
import re
import socket
import socketserver
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import grpc.aio
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.otlp.json_lines import json_objects
from claude_telemetry_cli.receiver.admission import DecodeTurns, InFlight
from claude_telemetry_cli.receiver.dump import DumpFailed
from claude_telemetry_cli.receiver.otlp_json import NotPlain, fill
from claude_telemetry_cli.receiver.reception import Reception

# Decoding and tallying gRPC requests: CPU work under one GIL, so a few threads are as fast as many.
GRPC_WORKERS = 4
# A gRPC call that has not delivered its message by then is ended (DEADLINE_EXCEEDED), as is an HTTP
# request whose headers and body are not in by then, from its first byte (408): counted "too slow".
MESSAGE_TIMEOUT_S = 30.0
# A gRPC message up to this many times max_request_bytes still reaches our handler, which answers
# RESOURCE_EXHAUSTED and counts "too large". grpc core refuses bigger ones (after decompression too)
# before we see them, so all we learn is that the call ended without a message: "too large or cancelled".
_GRPC_CORE_LIMIT_FACTOR = 2
_GRPC_END_WAIT_S = 0.5
_HTTP_IDLE_TIMEOUT_S = 30.0  # an idle keep-alive connection is closed after this
# A read whose request deadline is at most this much nearer than the idle timeout waits the idle timeout
# (the deadline is checked again before the next read): a request may overrun its deadline by this much.
_DEADLINE_SLACK_S = 0.5
_READ_BUFFER = 32 * 1024
_HANDSHAKE_TIMEOUT_S = 10.0
_LINGER_S = 2.0  # how long an unread request body is drained before the connection is closed
# A body is read (and a gzip body inflated) this much at a time, each piece counted as it arrives.
_BODY_CHUNK = 256 * 1024
_GZIP_INPUT_CHUNK = 1024  # inflates to at most about 1 MiB: a bomb is stopped a piece past the limit
# Request bodies held at once, unless told otherwise: four of the largest requests.
_IN_FLIGHT_REQUESTS = 4
_RETRY_AFTER_S = 1
# A request this small is decoded without waiting for a turn (over gRPC, on the event loop itself): its
# decoded form is small, and the turn would cost more than decoding it.
_SMALL_BODY_BYTES = 64 * 1024
_NO_TURN = contextlib.nullcontext()
_MESSAGE_MAX = 300


@dataclass(frozen=True)
class _Signal:
    name: str
    path: str
    service: str
    request: type
    response: bytes  # an empty Export*ServiceResponse, serialized
    accept: str  # the Reception method that takes it


def _service(module, name: str) -> str:
    return module.DESCRIPTOR.services_by_name[name].full_name


_SIGNALS = (
    _Signal(
        "metrics",
        "/v1/metrics",
        _service(metrics_service_pb2, "MetricsService"),
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString(),
        "accept_metrics",
    ),
    _Signal(
        "logs",
        "/v1/logs",
        _service(logs_service_pb2, "LogsService"),
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse().SerializeToString(),
        "accept_logs",
    ),
    _Signal(
        "traces",
        "/v1/traces",
        _service(trace_service_pb2, "TraceService"),
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
        "accept_traces",
    ),
)
_BY_PATH = {s.path: s for s in _SIGNALS}
_MEDIA = {"application/x-protobuf": "http/protobuf", "application/json": "http/json"}
# OTLP/JSON writes these bytes fields as hex; protobuf's JSON parser expects base64.
_HEX_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
# google.rpc.Status codes for the HTTP answers (the OTLP/HTTP spec asks for a Status body); others: 3.
_RPC_CODE = {401: 16, 404: 5, 405: 12, 408: 4, 413: 8, 429: 8, 500: 13, 503: 14, 505: 12}
# What http.server answers by itself (malformed requests), counted like our own refusals.
_HTTP_SERVER_REASONS = {
    400: "malformed request",
    414: "request line too long",
    417: "expectation failed",
    431: "headers too large",
    505: "unsupported http version",
}


class _ClientGone(Exception):
    """The client closed or stalled before its whole body arrived: there is nobody to answer."""


class _Refused(Exception):
    """A request answered with an error: HTTP status, reason counted in the Reception, one-line message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, _one_line(message)


def _busy(owner: OtlpServer) -> _Refused:
    limit = owner.max_in_flight_bytes
    return _Refused(429, "busy", f"busy: more than {limit} bytes of requests in flight; retry shortly")


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 3] + "..."


def _decode_protobuf(reception: Reception, signal: _Signal, body: bytes):
    try:
        return reception.decode(signal.request, body)
    except Exception as e:  # DecodeError and its relatives: the body is at fault, whatever the exception
        raise _Refused(400, "invalid protobuf", f"invalid protobuf {signal.name} request: {e}") from None


def _decode_json(signal: _Signal, body):
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise _Refused(400, "invalid json", f"invalid json: {e}") from None
    if not isinstance(data, dict):
        raise _Refused(400, "invalid json", f"invalid json: a {signal.name} request must be a JSON object")
    message = signal.request()
    try:
        fill(data, message)
        return message
    except NotPlain:
        pass  # something only protobuf's own parser judges (and words) right
    _hex_ids_to_base64(data)
    message = signal.request()
    try:
        ParseDict(data, message, ignore_unknown_fields=True)
    except Exception as e:  # ParseError mostly; any failure here is the body's shape
        raise _Refused(400, "invalid json", f"invalid json {signal.name} request: {e}") from None
    return message


def _hex_ids_to_base64(data: dict) -> None:
    for node in json_objects(data):
        for key, value in node.items():
            if key in _HEX_FIELDS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                except ValueError:
                    raise _Refused(400, "invalid json", f"invalid json: {key} is not a hex string") from None


def _gunzip(data, limit: int, hold: Callable[[int], None]) -> bytearray:
    """Decompress every gzip member, refusing as soon as the output passes `limit` (gzip bombs); `hold`
    is told of every piece of output before it is kept.

    The input is fed a small slice at a time: the output of each call stays small, and a body of many
    tiny members costs no more than one (zlib's unused_data would copy the rest of it once a member)."""
    view = memoryview(data)
    out = bytearray()
    at = 0
    while at < len(view):  # like gzip(1): an empty body is empty, and zero padding between members is skipped
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while not d.eof:
            piece_in = view[at : at + _GZIP_INPUT_CHUNK]
            if not piece_in:
                raise _Refused(400, "invalid gzip", "invalid gzip body: truncated")
            try:
                piece = d.decompress(piece_in)
            except zlib.error as e:
                raise _Refused(400, "invalid gzip", f"invalid gzip body: {e}") from None
            at += len(piece_in) - len(d.unused_data)
            if len(out) + len(piece) > limit:
                raise _Refused(
                    413, "too large", f"request too large: more than {limit} bytes once decompressed"
                )
            hold(len(piece))
            out += piece
        while at < len(view) and view[at] == 0:
            padding = bytes(view[at : at + 4096])
            at += len(padding) - len(padding.lstrip(b"\0"))
    return out


def _authorized(required: Sequence[tuple[str, bytes]], sent: Iterable[tuple[str, bytes]]) -> bool:
    if not required:
        return True
    by_name: dict[str, list[bytes]] = {}
    for name, value in sent:
        by_name.setdefault(name.lower(), []).append(value)
    # compare_digest: the time taken must not tell a client how much of a secret it guessed.
    return all(
        any(hmac.compare_digest(value, got) for got in by_name.get(name, ())) for name, value in required
    )


def _status_body(status: int, message: str, protobuf: bool) -> tuple[bytes, str]:
    code = _RPC_CODE.get(status, 3)  # INVALID_ARGUMENT
    if protobuf:
        from google.rpc import status_pb2

        return status_pb2.Status(code=code, message=message).SerializeToString(), "application/x-protobuf"
    return json.dumps({"code": code, "message": message}).encode(), "application/json"


def _read_file(option: str, path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{option}: file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{option}: is a directory: {path}") from None
    except PermissionError:
        raise ConfigError(f"{option}: permission denied: {path}") from None
    except OSError as e:
        raise ConfigError(f"{option}: cannot read {path}: {(e.strerror or str(e)).lower()}") from None


def _bind_reason(exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return _one_line(reason[:1].lower() + reason[1:])


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def endpoint_url(host: str, port: int | None, *, tls: bool) -> str | None:
    """The URL a client on this machine sends to, for a server listening on `host`:`port`."""
    if port is None:
        return None
    return f"{'https' if tls else 'http'}://{_hostport(_client_host(host), port)}"


def _client_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host` (wildcards are not addresses)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


# ---------------------------------------------------------------------------------------------- gRPC


class _GrpcExport:
    """One Export method, registered as stream-unary so that a message grpc core refuses still reaches us.

    It runs on the gRPC event loop: a call waiting for its message holds no thread, so calls that never
    send one cannot keep others from being served; each is ended once `message_timeout_s` has passed.
    Decoding and tallying run on a small thread pool, off the loop."""

    def __init__(self, owner: OtlpServer, signal: _Signal) -> None:
        self.owner, self.signal = owner, signal

    async def export(self, request_iterator, context):
        refused = await self._handle(context)
        if refused is None:
            return self.signal.response
        code, reason, message = refused
        if reason:
            self.owner.reception.reject("grpc", reason)
        if code is not None:
            await context.abort(code, message)
        return self.signal.response  # the call is already over; nothing is sent

    async def _handle(self, context):
        owner = self.owner
        try:
            metadata = (
                (key, value.encode() if isinstance(value, str) else value)
                for key, value in context.invocation_metadata() or ()
            )
            if not _authorized(owner._required, metadata):
                return grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", "missing or wrong required header"
            raw = await _read_within(context, owner.message_timeout_s)
            if raw is None:
                message = f"no request message within {owner.message_timeout_s:g}s"
                return grpc.StatusCode.DEADLINE_EXCEEDED, "too slow", message
            if raw is grpc.aio.EOF:
                # grpc core ended the call (a message over its limit, answered RESOURCE_EXHAUSTED) or the
                # client cancelled: this task is cancelled a moment after the read gave up. A client that
                # really half-closes without a message (none of the OTLP exporters) waits that moment.
                await asyncio.sleep(_GRPC_END_WAIT_S)
                return grpc.StatusCode.INVALID_ARGUMENT, "no request message", "no request message"
        except asyncio.CancelledError:
            # A server shutting down cancels calls itself: not the client's fault.
            if not owner._stopping:
                owner.reception.reject("grpc", "too large or cancelled")
            raise
        except Exception as e:  # never let grpc print a traceback; the sender gets a one-line answer
            return _internal_error(e)
        size = len(raw)
        if size > owner.max_request_bytes:
            message = f"request too large: {size} bytes, the limit is {owner.max_request_bytes}"
            return grpc.StatusCode.RESOURCE_EXHAUSTED, "too large", message
        if not owner._in_flight_bytes.take(size):
            # With RetryInfo, which tells senders that this RESOURCE_EXHAUSTED is worth retrying.
            context.set_trailing_metadata(_RETRY_INFO)
            return grpc.StatusCode.RESOURCE_EXHAUSTED, "busy", _busy(owner).message
        if size <= _SMALL_BODY_BYTES:
            # Decoded here, on the loop: for a small request the hand-over to a worker costs more.
            try:
                return self._accept(raw)
            finally:
                owner._in_flight_bytes.give(size)
        gone = threading.Event()
        try:
            work = owner._grpc_workers.submit(self._accept, raw, gone)
        except (AttributeError, RuntimeError):  # the server is stopping: its workers are gone
            owner._in_flight_bytes.give(size)
            return grpc.StatusCode.UNAVAILABLE, None, "the receiver is stopping"
        del raw
        work.add_done_callback(lambda _: owner._in_flight_bytes.give(size))
        try:
            # Shielded: once decoding began, the request is tallied or refused whole.
            return await asyncio.shield(asyncio.wrap_future(work))
        except asyncio.CancelledError:
            gone.set()
            raise

    def _accept(self, raw: bytes, gone: threading.Event | None = None):
        """The request tallied, or why not (already counted: the call may be gone). A request whose call
        ended while it waited for its turn (the sender gave up, and will send it again) is dropped."""
        try:
            with self.owner._decode_turns.turn(len(raw)) if gone is not None else contextlib.nullcontext():
                if gone is not None and gone.is_set():
                    if not self.owner._stopping:
                        self.owner.reception.reject("grpc", "too large or cancelled")
                    return None
                try:
                    request = self.owner.reception.decode(self.signal.request, raw)
                except Exception as e:  # DecodeError and relatives: the message is at fault
                    message = _one_line(f"invalid protobuf {self.signal.name} request: {e}")
                    refused = grpc.StatusCode.INVALID_ARGUMENT, "invalid protobuf", message
                else:
                    getattr(self.owner.reception, self.signal.accept)(request, "grpc")
                    return None
        except DumpFailed as e:
            refused = grpc.StatusCode.UNAVAILABLE, "dump not written", _one_line(e.message)
        except Exception as e:
            refused = _internal_error(e)
        code, reason, message = refused
        self.owner.reception.reject("grpc", reason)
        return code, "", message


async def _read_within(context, timeout_s: float):
    """The call's message (or grpc.aio.EOF), or None if it has not arrived within `timeout_s`.

    Not asyncio.wait_for: before Python 3.12 it swallows a cancellation that arrives as the read ends,
    and grpc cancels the handler exactly then when it ends a call itself."""
    read = asyncio.ensure_future(context.read())
    try:
        done, _ = await asyncio.wait((read,), timeout=timeout_s)
    except asyncio.CancelledError:
        read.cancel()
        raise
    if not done:
        read.cancel()
        return None
    return read.result()


def _retry_info() -> tuple[tuple[str, bytes], ...]:
    from google.protobuf.duration_pb2 import Duration
    from google.rpc.error_details_pb2 import RetryInfo

    delay = RetryInfo(retry_delay=Duration(seconds=_RETRY_AFTER_S))
    return (("google.rpc.retryinfo-bin", delay.SerializeToString()),)


_RETRY_INFO = _retry_info()


def _internal_error(e: Exception):
    return grpc.StatusCode.INTERNAL, "internal error", _one_line(f"internal error: {type(e).__name__}")


# ---------------------------------------------------------------------------------------------- HTTP


_REASONS = {s.value: s.phrase for s in HTTPStatus}
_MAX_HEADER_LINE = 65536  # http.client's limits, which http.server answers 431 past
_MAX_HEADERS = 100
# What the email package reads as a "Name: value" header line (its headerRE), with a name.
_PLAIN_HEADER = re.compile(rb"[\x21-\x39\x3b-\x7e]+:[^\r\n]*\r?\n\Z")


class _Headers:
    """A request's headers, read as http.server's email.message.Message reads them: names compared
    without case, get() the first value."""

    __slots__ = ("_items", "_first")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        self._first: dict[str, str] = {}
        for name, value in items:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default=None):
        return self._first.get(name.lower(), default)

    def get_all(self, name: str, default=None):
        name = name.lower()
        found = [v for k, v in self._items if k.lower() == name]
        return found or default

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._first


def _read_headers(rfile):
    """http.client.parse_headers, with its limits, for headers of the plain form; the others (folded
    lines, lines that are not headers) are parsed as it parses them."""
    lines = []
    while True:
        line = rfile.readline(_MAX_HEADER_LINE + 1)
        if len(line) > _MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    items = []
    for line in lines[:-1]:
        if _PLAIN_HEADER.match(line) is None:
            return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(
                b"".join(lines).decode("iso-8859-1")
            )
        name, _, value = line.decode("iso-8859-1").partition(":")
        items.append((name, value.lstrip(" \t").rstrip("\r\n")))
    return _Headers(items)


_date = [0, ""]


def _http_date() -> str:
    now = int(time.time())
    if _date[0] != now:
        _date[:] = [now, email.utils.formatdate(now, usegmt=True)]
    return _date[1]


def _response(
    status: int, body: bytes, content_type: str, extra=(), *, close: bool = False, head_only: bool = False
) -> bytes:
    """An answer's bytes: written at once, one system call and no delayed-ACK stall between head and body."""
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nServer: claude-telemetry\r\n"
        f"Date: {_http_date()}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    ]
    for name, value in extra:
        head.append(f"{name}: {value}\r\n")
    if close:
        head.append("Connection: close\r\n")
    head.append("\r\n")
    response = "".join(head).encode("latin-1")
    return response if head_only else response + body


def _refusal(owner: OtlpServer, protocol: str, refused: _Refused) -> tuple[int, bytes, str, tuple]:
    """A refused HTTP request counted; its answer's status, body, content type and extra headers."""
    owner.reception.reject(protocol, refused.reason)
    body, content_type = _status_body(refused.status, refused.message, protocol == "http/protobuf")
    extra = {405: (("Allow", "POST"),), 429: (("Retry-After", str(_RETRY_AFTER_S)),)}.get(refused.status, ())
    return refused.status, body, content_type, extra


def _take(owner: OtlpServer, signal: _Signal, protocol: str, body) -> tuple[bytes, str]:
    """A whole (inflated) HTTP body decoded and tallied: the success answer's body and content type.
    Raises _Refused for a body that does not decode, or a dump that cannot be written."""
    size = len(body)
    with owner._decode_turns.turn(size) if size > _SMALL_BODY_BYTES else _NO_TURN:
        if protocol == "http/json":
            request = _decode_json(signal, body)
            reply, content_type = b"{}", "application/json"
        else:
            request = _decode_protobuf(owner.reception, signal, body)
            reply, content_type = signal.response, "application/x-protobuf"
        try:
            getattr(owner.reception, signal.accept)(request, protocol)
        except DumpFailed as e:
            raise _Refused(503, "dump not written", e.message) from None
    return reply, content_type


class _HttpServer(ThreadingHTTPServer):
    """Plain HTTP connections are served by one loop (http_loop) while their requests are the usual kind,
    and handed to a thread of their own (_HttpHandler) once one is not; TLS connections each have a
    thread from the start."""

    daemon_threads = True
    # Many senders connecting at once (a load test, Locust workers) would overflow the default backlog
    # of 5 and wait for the kernel's SYN retry, a second each.
    request_queue_size = 128

    def __init__(self, owner: OtlpServer, address: tuple[str, int], context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.ssl_context = context
        self.address_family = _family(address[0])
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # Connections the loop hands to a thread: the bytes it read of them, and when the first came.
        self.handed: dict[socket.socket, tuple[bytes, float | None]] = {}
        super().__init__(address, _HttpHandler)
        self._loop = None
        if context is None:
            from claude_telemetry_cli.receiver.http_loop import PlainLoop

            self._loop = PlainLoop(self)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        if self._loop is None:
            super().serve_forever(poll_interval)
        else:
            self._loop.run(poll_interval)

    def shutdown(self) -> None:
        if self._loop is None:
            super().shutdown()
        else:
            self._loop.stop()

    def server_bind(self) -> None:
        if self.owner.share_ports:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup we have no use for.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request_thread(self, request, client_address) -> None:
        conn = request
        self._track(None, conn)
        try:
            if self.ssl_context is not None:
                # The handshake runs here, in the connection's thread, so a slow client blocks only itself.
                request.settimeout(_HANDSHAKE_TIMEOUT_S)
                conn = self.ssl_context.wrap_socket(request, server_side=True)
                self._track(request, conn)
            self.finish_request(conn, client_address)
        except Exception:
            pass  # a failed handshake or a vanished client: there is no one left to answer
        finally:
            self._track(conn, None)
            self.shutdown_request(conn)

    def handle_error(self, request, client_address) -> None:
        pass  # socketserver would print a traceback

    def _track(self, old, new) -> None:
        with self._connections_lock:
            self._connections.discard(old)
            if new is not None:
                self._connections.add(new)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                # socket.socket's shutdown, not SSLSocket's: wake the reader without touching its TLS state.
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
            except OSError:
                pass


class _RequestReader(io.RawIOBase):
    """A connection's bytes, as http.server reads them, held to a deadline per request.

    The socket timeout alone bounds each read, not the request: a client trickling a byte at a time
    would hold its connection forever. A request's first byte starts its clock; its headers and body
    must be in within `request_s`. Between requests only the idle timeout applies."""

    def __init__(self, sock: socket.socket, idle_s: float, request_s: float, handed=(b"", None)) -> None:
        """`handed`: bytes the connection's loop already read, and when the first of them came."""
        self.sock, self.idle_s, self.request_s = sock, idle_s, request_s
        self.deadline: float | None = None
        self.expired = False
        self._prefix, self._prefix_started = memoryview(handed[0]), handed[1]
        self._timeout = sock.gettimeout()

    def readable(self) -> bool:
        return True

    def set_timeout(self, timeout: float) -> None:
        # Each change is a system call: most reads of a request keep the idle timeout.
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            if self.deadline is None:
                started, self._prefix_started = self._prefix_started, None
                self.deadline = (started if started is not None else time.monotonic()) + self.request_s
            return n
        timeout = self.idle_s
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.expired = True
                raise TimeoutError("request not complete in time")
            if left < self.idle_s - _DEADLINE_SLACK_S:
                timeout = left
        self.set_timeout(timeout)
        try:
            n = self.sock.recv_into(buffer)
        except TimeoutError:
            self.expired = self.deadline is not None and time.monotonic() >= self.deadline
            raise
        if n and self.deadline is None:
            self.deadline = time.monotonic() + self.request_s
        return n


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    default_request_version = "HTTP/1.1"  # no HTTP/0.9: even a garbled request line gets a status line
    server_version = "claude-telemetry"
    sys_version = ""
    timeout = _HTTP_IDLE_TIMEOUT_S
    disable_nagle_algorithm = True
    server: _HttpServer

    def log_message(self, format, *args) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self._reader = _RequestReader(
            self.connection,
            self.timeout,
            self.server.owner.message_timeout_s,
            self.server.handed.pop(self.connection, (b"", None)),
        )
        # Large enough for a usual request's head and body to come in one read.
        self.rfile = io.BufferedReader(self._reader, buffer_size=_READ_BUFFER)

    def handle_one_request(self) -> None:
        self._reader.deadline, self._reader.expired = None, False
        self._counted = False
        super().handle_one_request()
        if self._reader.expired:
            # Its headers never came whole (http.server gave up quietly), or its body (answered 408).
            self.close_connection = True
            if not self._counted:
                self.server.owner.reception.reject("http", "too slow")

    def parse_request(self) -> bool:
        """http.server's parse_request, answering alike, but for its header parser (the email package's,
        the larger part of a request's cost): headers of the plain "Name: value" form are read here, any
        other form is left to it."""
        self.command = None
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if not words:
            return False
        if len(words) >= 3:
            version = words[-1]
            try:
                if not version.startswith("HTTP/"):
                    raise ValueError
                base_version_number = version.split("/", 1)[1]
                numbers = base_version_number.split(".")
                if len(numbers) != 2 or not all(n.isdigit() and len(n) <= 10 for n in numbers):
                    raise ValueError
                version_number = int(numbers[0]), int(numbers[1])
            except (ValueError, IndexError):
                self.send_error(400, f"Bad request version ({version!r})")
                return False
            if version_number >= (1, 1):
                self.close_connection = False
            if version_number >= (2, 0):
                self.send_error(505, f"Invalid HTTP version ({base_version_number})")
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(400, f"Bad request syntax ({requestline!r})")
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(400, f"Bad HTTP/0.9 request type ({command!r})")
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")
        try:
            self.headers = _read_headers(self.rfile)
        except http.client.LineTooLong as err:
            self.send_error(431, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(431, "Too many headers", str(err))
            return False
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if (
            self.headers.get("Expect", "").lower() == "100-continue"
            and self.request_version >= "HTTP/1.1"
            and not self.handle_expect_100()
        ):
            return False
        return True

    def __getattr__(self, name: str):
        # Every method, known or invented, gets an OTLP answer (405), not http.server's 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code, message=None, explain=None) -> None:
        """http.server's own refusals (malformed request line, headers too large, ...)."""
        status = int(code)
        self.server.owner.reception.reject("http", _HTTP_SERVER_REASONS.get(status, "malformed request"))
        body, content_type = _status_body(
            status, _one_line(message or self.responses.get(code, ("",))[0]), False
        )
        self.close_connection = True
        try:
            self._write(status, body, content_type, close=True)
        except OSError:
            pass

    def _serve(self) -> None:
        owner = self.server.owner
        owner._begin_request()
        try:
            self._protocol = "http"
            self._length: int | None = None
            self._body_read = False
            self._held = 0  # bytes of this request counted in the in-flight limit
            try:
                self._handle()
                return
            except _Refused as r:
                refused = r
            except _ClientGone:
                if not self._reader.expired:
                    owner.reception.reject(self._protocol, "incomplete body")
                    self._counted = True
                    self.close_connection = True
                    return
                self._body_read = False  # the rest of it may still be on its way: answer, then close
                refused = _Refused(
                    408, "too slow", f"request not complete within {owner.message_timeout_s:g}s"
                )
            except Exception as e:
                refused = _Refused(500, "internal error", f"internal error: {type(e).__name__}")
            self._counted = True
            close = not self._body_read
            try:
                self._write(*_refusal(owner, self._protocol, refused), close=close)
            except OSError:
                self.close_connection = True
                return
            if close:
                self.close_connection = True
                self._linger()
        finally:
            owner._in_flight_bytes.give(self._held)
            owner._end_request()

    def _handle(self) -> None:
        owner = self.server.owner
        headers = self.headers
        media = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        self._protocol = _MEDIA.get(media, "http")
        path = urlsplit(self.path).path
        signal = _BY_PATH.get(path)
        if signal is None:
            raise _Refused(
                404, "not found", f"not found: {path[:100]} (OTLP paths: /v1/metrics, /v1/logs, /v1/traces)"
            )
        if self.command != "POST":
            raise _Refused(405, "method not allowed", f"method not allowed: {self.command[:20]} (use POST)")
        sent = ((k, v.encode("latin-1", "replace")) for k, v in headers.items())
        if not _authorized(owner._required, sent):
            raise _Refused(401, "unauthenticated", "unauthenticated: missing or wrong required header")
        declared = headers.get("Content-Length")
        if declared is None or "Transfer-Encoding" in headers:
            raise _Refused(411, "length required", "length required: send the body with a Content-Length")
        declared = declared.strip()
        # isascii: str.isdigit also accepts digits like "²" that int() does not.
        if not (declared.isascii() and declared.isdigit()) or len(set(headers.get_all("Content-Length"))) > 1:
            raise _Refused(400, "invalid content-length", "invalid Content-Length")
        self._length = length = int(declared)
        if length > owner.max_request_bytes:
            raise _Refused(
                413, "too large", f"request too large: {length} bytes, the limit is {owner.max_request_bytes}"
            )
        if self._protocol == "http":
            raise _Refused(
                415,
                "unsupported media type",
                f"unsupported Content-Type {media[:60]!r}: use application/x-protobuf or application/json",
            )
        encoding = headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip"):
            raise _Refused(
                415, "unsupported encoding", f"unsupported Content-Encoding {encoding[:30]!r}: use gzip"
            )

        body = self._read_body(length)
        if encoding in ("gzip", "x-gzip"):
            compressed, body = len(body), _gunzip(body, owner.max_request_bytes, self._hold)
            self._let_go(compressed)
        reply, content_type = _take(owner, signal, self._protocol, body)
        del body
        try:
            self._write(200, reply, content_type)
        except OSError:
            self.close_connection = True

    def _read_body(self, length: int) -> bytearray:
        """The body, read as it arrives and held within the receiver's in-flight limit. One that does
        not fit is read to its end and dropped, then refused (429): the sender retries a request it
        sees answered, where a connection closed under it would only be an error."""
        owner = self.server.owner
        body: bytearray | None = bytearray()
        received = 0
        try:
            while received < length:
                chunk = self.rfile.read1(min(length - received, _BODY_CHUNK))
                if not chunk:
                    break
                received += len(chunk)
                if body is not None:
                    if owner._in_flight_bytes.take(len(chunk)):
                        self._held += len(chunk)
                        body += chunk
                    else:
                        body = None
                        self._let_go(self._held)
        except OSError:
            pass  # gone, or too slow: told apart by the caller
        self._body_read = received == length
        if received < length:
            raise _ClientGone()
        if body is None:
            raise _busy(owner)
        return body

    def _hold(self, n: int) -> None:
        if not self.server.owner._in_flight_bytes.take(n):
            raise _busy(self.server.owner)
        self._held += n

    def _let_go(self, n: int) -> None:
        self.server.owner._in_flight_bytes.give(n)
        self._held -= n

    def _write(self, status: int, body: bytes, content_type: str, extra=(), *, close: bool = False) -> None:
        if close:
            self.close_connection = True
        self._reader.set_timeout(self._reader.idle_s)  # what answers are written with
        head_only = self.command == "HEAD"
        self.wfile.write(_response(status, body, content_type, extra, close=close, head_only=head_only))

    def _linger(self) -> None:
        """Drain what the client is still sending, briefly: closing a socket with unread data resets the
        connection, and the client would see that reset instead of our answer."""
        deadline = time.monotonic() + _LINGER_S
        remaining = self._length if self._length is not None else float("inf")
        self._reader.idle_s = 0.25
        try:
            while remaining > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(int(min(remaining, 65536)))
                if not chunk:
                    break
                remaining -= len(chunk)
        except (OSError, ValueError):
            pass


# ---------------------------------------------------------------------------------------------- server


class OtlpServer:
    """Receives OTLP over gRPC and HTTP (protobuf and JSON) and hands every request to a Reception."""

    def __init__(
        self,
        reception: Reception,
        *,
        host: str = "127.0.0.1",
        grpc_port: int = 4317,
        http_port: int = 4318,
        require_headers: Sequence[tuple[str, str]] = (),
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        client_ca: Path | None = None,
        max_request_bytes: int = 16 * 1024 * 1024,
        max_in_flight_bytes: int | None = None,
        message_timeout_s: float = MESSAGE_TIMEOUT_S,
        grpc: bool = True,
        http: bool = True,
        share_ports: bool = False,
    ) -> None:
        """`share_ports`: listen beside other processes on the same ports (SO_REUSEPORT), as each of a
        WorkerPool's workers does; the pool has made sure the ports are its own."""
        if (tls_cert is None) != (tls_key is None):
            missing = "--tls-key" if tls_key is None else "--tls-cert"
            raise ConfigError(f"{missing}: required with {'--tls-cert' if tls_key is None else '--tls-key'}")
        if client_ca is not None and tls_cert is None:
            raise ConfigError("--client-ca: requires --tls-cert and --tls-key")
        if max_request_bytes <= 0:
            raise ConfigError(f"max request size must be positive, not {max_request_bytes}")
        if message_timeout_s <= 0:
            raise ConfigError(f"message timeout must be positive, not {message_timeout_s}")
        if max_in_flight_bytes is None:
            max_in_flight_bytes = _IN_FLIGHT_REQUESTS * max_request_bytes
        if max_in_flight_bytes < max_request_bytes:
            raise ConfigError(
                f"in-flight limit {max_in_flight_bytes} is smaller than one request ({max_request_bytes})"
            )
        self.reception = reception
        self.host = host
        self.tls_cert, self.tls_key, self.client_ca = tls_cert, tls_key, client_ca
        self.max_request_bytes = max_request_bytes
        self._want_grpc, self._want_http = grpc, http
        self.share_ports = share_ports
        self._requested_ports = (grpc_port, http_port)
        # Header names are case-insensitive (and gRPC metadata keys lowercase); values compare exactly.
        self._required = tuple((name.strip().lower(), value.encode()) for name, value in require_headers)
        self.message_timeout_s = message_timeout_s
        self.max_in_flight_bytes = max_in_flight_bytes
        self._in_flight_bytes = InFlight(max_in_flight_bytes)
        self._decode_turns = DecodeTurns(max_request_bytes)
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self._grpc_server: grpc.aio.Server | None = None
        self._grpc_loop: asyncio.AbstractEventLoop | None = None
        self._grpc_thread: threading.Thread | None = None
        self._grpc_workers: futures.ThreadPoolExecutor | None = None
        self._http_server: _HttpServer | None = None
        self._http_thread: threading.Thread | None = None
        self._stopping = False
        self._in_flight = 0
        self._idle = threading.Condition()

    # ------------------------------------------------------------------ endpoints

    @property
    def grpc_endpoint(self) -> str | None:
        return endpoint_url(self.host, self.grpc_port, tls=self.tls_cert is not None)

    @property
    def http_endpoint(self) -> str | None:
        return endpoint_url(self.host, self.http_port, tls=self.tls_cert is not None)

    # ------------------------------------------------------------------ life cycle

    def check(self) -> None:
        """Raise ConfigError if the TLS files cannot be used, as start() would."""
        self._tls()

    def start(self) -> OtlpServer:
        if self._grpc_loop is not None or self._http_server is not None:
            raise RuntimeError("OtlpServer already started")
        grpc_credentials, http_context = self._tls()
        self._stopping = False
        try:
            if self._want_grpc:
                self._start_grpc(grpc_credentials)
            if self._want_http:
                self._start_http(http_context)
        except BaseException:
            self.stop(grace=0)
            self.grpc_port = self.http_port = None
            raise
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stop accepting, let requests in progress finish for up to `grace` seconds, then close."""
        self._stopping = True
        http_server, self._http_server = self._http_server, None
        http_thread, self._http_thread = self._http_thread, None
        grpc_stopping = threading.Thread(target=self._stop_grpc, args=(grace,), name="otlp-grpc-stop")
        grpc_stopping.start()
        if http_server is not None:
            if http_thread is not None:
                http_server.shutdown()
            deadline = time.monotonic() + max(grace, 0)
            with self._idle:
                while self._in_flight and time.monotonic() < deadline:
                    self._idle.wait(deadline - time.monotonic())
            http_server.close_connections()
            http_server.server_close()
            if http_thread is not None:
                http_thread.join(timeout=5)
        grpc_stopping.join()

    def __enter__(self) -> OtlpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _tls(self) -> tuple[grpc.ServerCredentials | None, ssl.SSLContext | None]:
        if self.tls_cert is None or self.tls_key is None:
            return None, None
        cert = _read_file("--tls-cert", self.tls_cert)
        key = _read_file("--tls-key", self.tls_key)
        ca = _read_file("--client-ca", self.client_ca) if self.client_ca is not None else None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (ssl.SSLError, ValueError) as e:
            raise ConfigError(
                f"--tls-cert: {self.tls_cert} and --tls-key {self.tls_key} are not a PEM certificate "
                f"and its key: {_one_line(getattr(e, 'reason', None) or e)}"
            ) from None
        if ca is not None:
            try:
                context.load_verify_locations(cafile=str(self.client_ca))
            except (ssl.SSLError, ValueError) as e:
                raise ConfigError(
                    f"--client-ca: not a PEM CA certificate: {self.client_ca}: "
                    f"{_one_line(getattr(e, 'reason', None) or e)}"
                ) from None
            context.verify_mode = ssl.CERT_REQUIRED
        context.set_alpn_protocols(["http/1.1"])
        credentials = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )
        return credentials, context

    def _start_grpc(self, credentials) -> None:
        port = self._requested_ports[0]
        address = _hostport(self.host, port)
        if port and not self.share_ports:
            # grpc would log its bind failure to stderr and tell us nothing about the cause: ask the OS.
            self._probe_bind(port)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="otlp-grpc", daemon=True)
        thread.start()
        self._grpc_loop, self._grpc_thread = loop, thread
        self._grpc_workers = futures.ThreadPoolExecutor(GRPC_WORKERS, thread_name_prefix="otlp-grpc-decode")
        self._grpc_server, self.grpc_port = asyncio.run_coroutine_threadsafe(
            self._serve_grpc(address, credentials), loop
        ).result()

    async def _serve_grpc(self, address: str, credentials) -> tuple[grpc.aio.Server, int]:
        core_limit = min(self.max_request_bytes * _GRPC_CORE_LIMIT_FACTOR, 2**31 - 1)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", core_limit),
                # grpc's default SO_REUSEPORT would let a second receiver share a taken port silently.
                ("grpc.so_reuseport", 1 if self.share_ports else 0),
            ],
        )
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    s.service, {"Export": grpc.stream_unary_rpc_method_handler(_GrpcExport(self, s).export)}
                )
                for s in _SIGNALS
            ]
        )
        try:
            if credentials is None:
                bound = server.add_insecure_port(address)
            else:
                bound = server.add_secure_port(address, credentials)
        except RuntimeError:
            bound = 0
        if not bound:
            await server.stop(None)
            raise ConfigError(f"cannot listen on {address}: cannot bind")
        await server.start()
        return server, bound

    def _stop_grpc(self, grace: float) -> None:
        loop, self._grpc_loop = self._grpc_loop, None
        thread, self._grpc_thread = self._grpc_thread, None
        server, self._grpc_server = self._grpc_server, None
        workers, self._grpc_workers = self._grpc_workers, None
        if loop is None:
            return
        if server is not None:
            stopped = asyncio.run_coroutine_threadsafe(server.stop(grace), loop)
            try:
                stopped.result(timeout=max(grace, 0) + 5)
            except Exception:
                pass  # stopping anyway: the loop goes next
        if workers is not None:
            # Requests being decoded finish; those still queued belong to calls the stop has cancelled.
            workers.shutdown(wait=True, cancel_futures=True)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=5)
        if not loop.is_running():
            loop.close()

    def _probe_bind(self, port: int) -> None:
        try:
            infos = socket.getaddrinfo(
                self.host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, kind, proto, _, sockaddr = infos[0]
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(sockaddr)
        except OSError as e:
            raise ConfigError(f"cannot listen on {_hostport(self.host, port)}: {_bind_reason(e)}") from None

    def _start_http(self, context: ssl.SSLContext | None) -> None:
        port = self._requested_ports[1]
        try:
            server = _HttpServer(self, (self.host, port), context)
        except OSError as e:
            raise ConfigError(f"cannot listen on {_hostport(self.host, port)}: {_bind_reason(e)}") from None
        self._http_server, self.http_port = server, server.server_address[1]
        self._http_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-http", daemon=True
        )
        self._http_thread.start()

    # ------------------------------------------------------------------ HTTP requests in progress

    def _begin_request(self) -> None:
        with self._idle:
            self._in_flight += 1

    def _end_request(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._stopping:  # stop() waits for the last
                self._idle.notify_all()
