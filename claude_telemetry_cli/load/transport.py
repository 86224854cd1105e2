"""Sending encoded OTLP requests: gRPC, HTTP/protobuf and HTTP/JSON, retried as the OTLP specification says.

Each signal's sender is built from the same resolved configuration `run` uses (endpoint, headers,
TLS and mTLS files). It sends two ways: `send` blocks (Locust's users call it) and `exchange` runs on an
asyncio event loop (load's workers play their whole fleet in one loop; over HTTP each request in flight
has a keep-alive connection of its own). A send returns an Outcome: accepted, rejected (the collector
refused it and a retry would not help: HTTP 400, gRPC INVALID_ARGUMENT, ...) or failed (retries
exhausted, connection refused, timeout). Throttling (HTTP 429/502/503/504, gRPC UNAVAILABLE and
RESOURCE_EXHAUSTED) is retried with exponential backoff and jitter, waiting at least what the server
asked (Retry-After, grpc-retry-pushback-ms), within the export timeout.
"""

from __future__ import annotations

import asyncio
import http.client
import random
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from claude_telemetry_cli.clock import Clock, RealClock
from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.settings import SignalConfig, redact, secret_values

__all__ = ["Outcome", "Sender", "build_sender"]

_GRPC_METHODS = {
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
}
_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_RETRYABLE_GRPC = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "ABORTED"})
_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 8.0
# An attempt's result: (accepted, code, worth retrying, seconds the server asked to wait, its message).
_Attempt = tuple[bool, str, bool, float | None, str]
_ACCEPTED = (True, "OK", False, None, "")


@dataclass(slots=True)
class Outcome:
    ok: bool
    code: str  # "200", "UNAVAILABLE", "connection refused", ...
    latency_s: float  # the whole send, retries included
    retries: int = 0
    rejected: bool = False  # the collector answered and refused (not worth retrying)
    message: str = ""  # what the collector said with a refusal (gRPC details, the HTTP body's message)


class Sender:
    """Sends one signal's encoded requests. `send` is thread-safe (one HTTP connection per thread);
    `exchange` runs on the event loop `open_async` was called on."""

    signal: str
    destination: str

    # What a collector's reply must not be shown with: it may quote the header it refused.
    _secrets: tuple[str, ...] = ()

    def __init__(
        self, timeout_s: float, *, stop: threading.Event | None = None, clock: Clock | None = None
    ) -> None:
        self.timeout_s = timeout_s
        self._stop = stop or threading.Event()
        self._clock = clock if clock is not None else RealClock()

    def send(self, body: bytes) -> Outcome:
        """Send, retrying throttling within the export timeout; blocks until the outcome."""
        clock = self._clock
        start = clock.now()
        retries, backoff = 0, _BACKOFF_START_S
        while True:
            result = self._attempt(body, max(0.05, start + self.timeout_s - clock.now()))
            verdict = self._verdict(result, start, retries, backoff)
            if isinstance(verdict, Outcome):
                return verdict
            if clock.wait(self._stop, verdict):
                return Outcome(False, result[1], clock.now() - start, retries)
            retries, backoff = retries + 1, min(backoff * 2, _BACKOFF_MAX_S)

    async def exchange(self, body: bytes) -> Outcome:
        """Send on the running event loop, retrying as `send` does. Cancelled, it raises CancelledError."""
        clock = self._clock
        start = clock.now()
        retries, backoff = 0, _BACKOFF_START_S
        while True:
            result = await self._attempt_async(body, max(0.05, start + self.timeout_s - clock.now()))
            verdict = self._verdict(result, start, retries, backoff)
            if isinstance(verdict, Outcome):
                return verdict
            if await clock.wait_async(self._stop, verdict):  # a stop ends the retry at once
                return Outcome(False, result[1], clock.now() - start, retries)
            retries, backoff = retries + 1, min(backoff * 2, _BACKOFF_MAX_S)

    def _verdict(self, result: tuple, start: float, retries: int, backoff: float) -> Outcome | float:
        """After an attempt: the Outcome if it is the last one, else the pause before the next."""
        ok, code, retryable, wait_s, message = result
        message = redact(message, self._secrets)
        now = self._clock.now()
        if ok or not retryable:
            return Outcome(ok, code, now - start, retries, rejected=not ok, message=message)
        pause = _pause(wait_s, backoff)
        if now + pause >= start + self.timeout_s or self._stop.is_set():
            return Outcome(False, code, now - start, retries, message=message)
        return pause

    def _attempt(self, body: bytes, timeout_s: float) -> _Attempt:
        """(accepted, code, worth retrying, seconds the server asked to wait, what the server said)."""
        raise NotImplementedError

    async def _attempt_async(self, body: bytes, timeout_s: float) -> _Attempt:
        raise NotImplementedError

    async def open_async(self) -> None:
        """Get ready to `exchange` on the running event loop."""

    async def close_async(self) -> None:
        pass

    def close(self) -> None:
        pass


class GrpcSender(Sender):
    """gRPC, bytes in and bytes out: the request is encoded already and the reply is not needed.

    `send` uses a synchronous channel and `exchange` a grpc.aio one. The synchronous API's asynchronous calls
    cost about twice as much CPU per request: each call contends with the channel's polling thread for
    its lock, and a new polling thread starts whenever the calls in flight drop to zero.
    """

    def __init__(self, sig: SignalConfig, timeout_s: float, **kwargs) -> None:
        super().__init__(timeout_s, **kwargs)
        import grpc

        self._grpc = grpc
        self.signal = sig.signal
        endpoint = sig.endpoint or "http://localhost:4317"
        parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        self._target = parts.netloc or parts.path
        self.destination = endpoint
        self._options = [("grpc.max_send_message_length", 64 << 20)]
        self._credentials = None
        if parts.scheme == "https":
            from claude_telemetry_cli.grpc_tls import grpc_credentials

            self._credentials = grpc_credentials(sig)
        self._method = _GRPC_METHODS[sig.signal]
        self._metadata = tuple((k.lower(), v) for k, v in sig.headers)
        self._secrets = secret_values(sig.headers)
        self._channel = self._call = None  # synchronous, made on first use
        self._opening = threading.Lock()
        self._achannel = self._acall = None  # asyncio: open_async, exchange, close_async

    def _attempt(self, body: bytes, timeout_s: float):
        if self._call is None:
            self._open()
        try:
            self._call(body, timeout=timeout_s, metadata=self._metadata)
            return _ACCEPTED
        except self._grpc.RpcError as exc:
            return self._failure(exc)

    def _failure(self, exc) -> tuple:
        code = exc.code().name if exc.code() is not None else "UNKNOWN"
        wait = None
        for key, value in exc.trailing_metadata() or ():
            if key == "grpc-retry-pushback-ms":
                try:
                    wait = int(value) / 1000
                except ValueError:
                    pass
        return False, code, code in _RETRYABLE_GRPC, wait, _one_line(exc.details() or "")

    def _new_channel(self, api):
        """A channel of `api` (grpc or grpc.aio, which build channels alike) and its export call."""
        if self._credentials is not None:
            channel = api.secure_channel(self._target, self._credentials, options=self._options)
        else:
            channel = api.insecure_channel(self._target, options=self._options)
        return channel, channel.unary_unary(self._method, _registered_method=True)

    def _open(self) -> None:
        with self._opening:
            if self._call is None:
                self._channel, self._call = self._new_channel(self._grpc)

    async def open_async(self) -> None:
        """Open the asyncio channel, on the running event loop, before the first `exchange`."""
        self._achannel, self._acall = self._new_channel(self._grpc.aio)

    async def _attempt_async(self, body: bytes, timeout_s: float):
        try:
            await self._acall(body, timeout=timeout_s, metadata=self._metadata)
            return _ACCEPTED
        except self._grpc.RpcError as exc:
            return self._failure(exc)

    async def close_async(self) -> None:
        if self._achannel is not None:
            await self._achannel.close()
            self._achannel = self._acall = None

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = self._call = None


class HttpSender(Sender):
    content_type = "application/x-protobuf"

    def __init__(self, sig: SignalConfig, timeout_s: float, **kwargs) -> None:
        super().__init__(timeout_s, **kwargs)
        self.signal = sig.signal
        self.destination = sig.endpoint or ""
        parts = urlsplit(self.destination)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"the {sig.signal} endpoint {self.destination!r} is not an http(s) URL")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path or "/"
        self._headers = {"Content-Type": self.content_type, **dict(sig.headers)}
        self._secrets = secret_values(sig.headers, sig.http_client_key_passphrase)
        self._context = None
        if self._https:
            self._context = ssl.create_default_context(cafile=sig.http_ca_certs)
            if sig.http_client_cert and sig.http_client_key:
                _load_client_certificate(self._context, sig)
        self._local = threading.local()
        # The asyncio half: the request head up to its length, and the idle keep-alive connections.
        head = [f"POST {self._path} HTTP/1.1", f"Host: {parts.netloc}", "Accept-Encoding: identity"]
        head += [f"{k}: {v}" for k, v in self._headers.items()]
        try:
            self._head = ("\r\n".join(head) + "\r\nContent-Length: ").encode("latin-1")
        except UnicodeEncodeError:
            # The header named, its value never shown: it is usually a credential.
            name = next((k for k, v in self._headers.items() if not _is_latin1(f"{k}: {v}")), None)
            what = f"export header '{name}'" if name is not None else "request head (endpoint and headers)"
            raise ConfigError(
                f"the {sig.signal} {what} (OTEL_EXPORTER_OTLP_HEADERS) must be Latin-1 text for HTTP"
            ) from None
        self._idle: list[_HttpConnection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open_async(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def _attempt_async(self, body: bytes, timeout_s: float):
        loop = self._loop
        conn = None
        while self._idle:  # the most recently used first; one the collector closed meanwhile is dropped
            conn = self._idle.pop()
            if not conn.closed:
                break
            conn = None
        try:
            if conn is None:
                try:
                    _, conn = await asyncio.wait_for(
                        loop.create_connection(
                            _HttpConnection,
                            self._host,
                            self._port,
                            ssl=self._context,
                            server_hostname=self._host if self._https else None,
                        ),
                        timeout_s,
                    )
                except (OSError, TimeoutError) as exc:
                    return False, _describe(exc), True, None, ""
            expiry = loop.call_later(timeout_s, conn.expire)
            try:
                status, retry_after, keep_alive, body = await conn.request(
                    (self._head, str(len(body)).encode(), b"\r\n\r\n", body)
                )
            finally:
                expiry.cancel()
        except (OSError, TimeoutError, _HttpProtocolError) as exc:
            conn.abort()
            return False, _describe(exc), True, None, ""
        except BaseException:  # cancelled in the middle of an exchange: the connection is unusable
            if conn is not None:
                conn.abort()
            raise
        if keep_alive and not conn.closed:
            self._idle.append(conn)
        else:
            conn.abort()
        return _http_result(status, retry_after, body)

    async def close_async(self) -> None:
        while self._idle:
            self._idle.pop().abort()

    def _connection(self, timeout_s: float) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._https:
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout_s, context=self._context
                )
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout_s)
            self._local.conn = conn
        conn.timeout = timeout_s
        if conn.sock is not None:
            conn.sock.settimeout(timeout_s)
        return conn

    def _attempt(self, body: bytes, timeout_s: float):
        conn = self._connection(timeout_s)
        try:
            conn.request("POST", self._path, body, self._headers)
            response = conn.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            self._local.conn = None
            return False, _describe(exc), True, None, ""
        return _http_result(response.status, response.getheader("Retry-After"), answer)


class _HttpProtocolError(Exception):
    """The collector's answer is not HTTP/1.1 this client understands."""


class _HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection to the collector, one request at a time: `request` writes it
    and returns a future of (status, Retry-After header, whether the connection can be used again),
    parsed as the response arrives (Content-Length, chunked, or up to the end of the connection)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._waiter: asyncio.Future | None = None
        self._buffer = bytearray()
        self._head: tuple[int, str | None, bool] | None = None  # the response's, once parsed
        self._body: str | int = 0  # bytes still to come, or "chunked", or "eof"

    def connection_made(self, transport) -> None:
        self.transport = transport

    def request(self, parts: tuple[bytes, ...]) -> asyncio.Future:
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self._buffer.clear()
        self._head = None
        self.transport.writelines(parts)
        return waiter

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.abort()  # nothing was asked: not a connection to use again
            return
        self._buffer += data
        try:
            self._parse()
        except (ValueError, IndexError, _HttpProtocolError) as exc:
            self._fail(_HttpProtocolError(f"unreadable HTTP response: {exc}"))
            self.abort()

    def _parse(self) -> None:
        buffer = self._buffer
        while self._head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > 65536:
                    raise _HttpProtocolError("response headers too long")
                return
            lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
            del buffer[: end + 4]
            version, status = lines[0][:8], int(lines[0][9:12])
            if not version.startswith("HTTP/1."):
                raise _HttpProtocolError(lines[0][:40])
            if 100 <= status < 200:
                continue  # an interim response: the real one follows
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            connection = headers.get("connection", "").lower()
            keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
            self._head = (status, headers.get("retry-after"), keep_alive, b"")
            if status in (204, 304):
                self._body = 0
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                self._body = "chunked"
            elif "content-length" in headers:
                self._body = int(headers["content-length"])
            else:
                self._body = "eof"
        if self._body == "chunked":
            while True:
                line_end = buffer.find(b"\r\n")
                if line_end < 0:
                    return
                size = int(bytes(buffer[:line_end]).split(b";")[0], 16)
                if size == 0:  # the last chunk, then trailers (ignored) up to an empty line
                    no_trailers = buffer[line_end + 2 : line_end + 4] == b"\r\n"
                    if not no_trailers and buffer.find(b"\r\n\r\n", line_end) < 0:
                        return
                    break
                if len(buffer) < line_end + 2 + size + 2:
                    return
                del buffer[: line_end + 2 + size + 2]
        elif self._body == "eof":
            return  # complete when the collector closes the connection
        elif len(buffer) < self._body:
            return
        elif self._head[0] >= 300:  # a refusal says why in its body
            self._head = (*self._head[:3], bytes(buffer[: min(self._body, 4096)]))
        self._waiter.set_result(self._head)

    def expire(self) -> None:
        self._fail(TimeoutError("no response within the export timeout"))
        self.abort()

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._head is not None and self._body == "eof" and self._waiter is not None:
            if not self._waiter.done():
                self._waiter.set_result((*self._head[:2], False, b""))
            return
        self._fail(exc or ConnectionResetError("the collector closed the connection"))


def _http_result(status: int, retry_after: str | None, body: bytes = b"") -> _Attempt:
    """An HTTP answer as an attempt's result: 2xx accepted, throttling worth retrying after what the
    server asked, anything else refused, with the message of its body."""
    if 200 <= status < 300:
        return True, str(status), False, None, ""
    return False, str(status), status in _RETRYABLE_HTTP, _retry_after(retry_after), _status_message(body)


def _status_message(body: bytes) -> str:
    """The message of an OTLP/HTTP refusal: a google.rpc.Status as JSON or protobuf (its field 2), or
    plain text."""
    if not body:
        return ""
    text = ""
    if body[:1] in (b"{", b"["):
        try:
            import json

            data = json.loads(body)
            text = str(data.get("message", "")) if isinstance(data, dict) else ""
        except ValueError:
            text = ""
    elif body[:1] == b"\x08" or body[:1] == b"\x12":
        text = _protobuf_status_message(body)
    if not text:
        text = body.decode("utf-8", "replace")
    return _one_line(text)


def _protobuf_status_message(body: bytes) -> str:
    i = 0
    try:
        while i < len(body):
            tag = body[i]
            i += 1
            if tag == 0x08:  # code, a varint
                while body[i] & 0x80:
                    i += 1
                i += 1
            elif tag == 0x12:  # message
                size = shift = 0
                while True:
                    b = body[i]
                    i += 1
                    size |= (b & 0x7F) << shift
                    shift += 7
                    if not b & 0x80:
                        break
                return body[i : i + size].decode("utf-8", "replace")
            else:
                return ""
    except IndexError:
        return ""
    return ""


def _load_client_certificate(context: ssl.SSLContext, sig: SignalConfig) -> None:
    key, cert = sig.http_client_key, sig.http_client_cert
    try:
        context.load_cert_chain(cert, key, password=sig.http_client_key_passphrase)
    except ssl.SSLError:
        # ssl says no more than "PEM lib"; the passphrase is named, never shown.
        if sig.http_client_key_passphrase:
            why = f"CLAUDE_CODE_CLIENT_KEY_PASSPHRASE: cannot decrypt {key}, or it is not the key of {cert}"
        else:
            why = f"CLAUDE_CODE_CLIENT_KEY: {key} is not a PEM key of {cert}"
        raise ConfigError(why) from None


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pause(wait_s: float | None, backoff: float) -> float:
    """Exponential backoff with jitter, and at least what the server asked for."""
    return max(wait_s or 0.0, backoff * random.uniform(0.5, 1.0))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
        return "connection reset"
    if isinstance(exc, _HttpProtocolError):
        return "bad HTTP response"
    if isinstance(exc, OSError) and str(exc).startswith("Multiple exceptions: [Errno 111]"):
        return "connection refused"  # asyncio, every address of the host refused
    return type(exc).__name__


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class JsonHttpSender(HttpSender):
    """OTLP/HTTP with JSON bodies: each request is encoded as protobuf, then turned into OTLP/JSON. It
    costs several times the CPU of protobuf; history and replays use it, load does not."""

    content_type = "application/json"

    def send(self, body: bytes) -> Outcome:
        from claude_telemetry_cli.otlp.json_lines import otlp_json

        return super().send(otlp_json(self.signal, body))

    async def exchange(self, body: bytes) -> Outcome:
        from claude_telemetry_cli.otlp.json_lines import otlp_json

        return await super().exchange(otlp_json(self.signal, body))


def build_sender(
    sig: SignalConfig, timeout_s: float, *, stop: threading.Event | None = None, clock: Clock | None = None
) -> Sender:
    """The sender of `sig`'s protocol; its retries wait on `clock` and give up when `stop` is set."""
    if sig.protocol == "grpc":
        return GrpcSender(sig, timeout_s, stop=stop, clock=clock)
    if sig.protocol == "http/protobuf":
        return HttpSender(sig, timeout_s, stop=stop, clock=clock)
    if sig.protocol == "http/json":
        return JsonHttpSender(sig, timeout_s, stop=stop, clock=clock)
    raise ConfigError(
        f"OTLP goes over grpc, http/protobuf or http/json; the {sig.signal} protocol is {sig.protocol}"
        " (set OTEL_EXPORTER_OTLP_PROTOCOL)"
    )
