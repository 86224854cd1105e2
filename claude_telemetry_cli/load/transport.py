"""Sending encoded OTLP requests: gRPC and HTTP/protobuf, retried as the OTLP specification says.

Each signal's sender is built from the same resolved configuration `run` uses (endpoint, headers,
TLS and mTLS files). A send returns an Outcome: accepted, rejected (the collector refused it and a retry
would not help: HTTP 400, gRPC INVALID_ARGUMENT, ...) or failed (retries exhausted, connection refused,
timeout). Throttling (HTTP 429/502/503/504, gRPC UNAVAILABLE and RESOURCE_EXHAUSTED) is retried with
exponential backoff and jitter, waiting at least what the server asked (Retry-After,
grpc-retry-pushback-ms), within the export timeout.
"""

from __future__ import annotations

import asyncio
import http.client
import random
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from urllib.parse import urlsplit

from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.settings import SignalConfig

__all__ = ["Outcome", "Sender", "build_sender"]

_GRPC_METHODS = {
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_RETRYABLE_GRPC = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "ABORTED"})
_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 8.0


@dataclass(slots=True)
class Outcome:
    ok: bool
    code: str  # "200", "UNAVAILABLE", "connection refused", ...
    latency_s: float  # the whole send, retries included
    retries: int = 0
    rejected: bool = False  # the collector answered and refused (not worth retrying)


class Sender:
    """Sends one signal's encoded requests; thread-safe, one connection per thread for HTTP."""

    signal: str
    destination: str

    def __init__(self, timeout_s: float, *, stop: threading.Event | None = None) -> None:
        self.timeout_s = timeout_s
        self._stop = stop or threading.Event()

    def send(self, body: bytes) -> Outcome:
        """Send, retrying throttling within the export timeout; blocks until the outcome."""
        return self._send_from(body, time.perf_counter(), None)

    def submit(self, body: bytes, done: Callable[[Outcome], None], pool: Executor) -> None:
        """Send without waiting; `done(outcome)` is called once, on another thread."""
        pool.submit(lambda: done(self.send(body)))

    def _send_from(self, body: bytes, start: float, first: tuple | None) -> Outcome:
        """The retry loop, started at `start`, given the first attempt's result if it was made already."""
        deadline = start + self.timeout_s
        retries = 0
        backoff = _BACKOFF_START_S
        while True:
            if first is not None:
                (ok, code, retryable, wait_s), first = first, None
            else:
                ok, code, retryable, wait_s = self._attempt(body, max(0.05, deadline - time.perf_counter()))
            now = time.perf_counter()
            if ok or not retryable:
                return Outcome(ok, code, now - start, retries, rejected=not ok and not retryable)
            pause = _pause(wait_s, backoff)
            if now + pause >= deadline or self._stop.is_set():
                return Outcome(False, code, now - start, retries)
            if self._stop.wait(pause):
                return Outcome(False, code, time.perf_counter() - start, retries)
            retries += 1
            backoff = min(backoff * 2, _BACKOFF_MAX_S)

    def _attempt(self, body: bytes, timeout_s: float) -> tuple[bool, str, bool, float | None]:
        """(accepted, code, worth retrying, seconds the server asked to wait)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class GrpcSender(Sender):
    """gRPC, bytes in and bytes out: the request is encoded already and the reply is not needed.

    `send` (blocking, as Locust's users call it) uses a synchronous channel; `exchange` (load's workers,
    which run their engine in an asyncio loop) uses grpc.aio. The synchronous API's asynchronous calls
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
        self._channel = self._call = None  # synchronous, made on first use
        self._opening = threading.Lock()
        self._achannel = self._acall = None  # asyncio: open_async, exchange, close_async

    def _attempt(self, body: bytes, timeout_s: float):
        if self._call is None:
            self._open()
        try:
            self._call(body, timeout=timeout_s, metadata=self._metadata)
            return True, "OK", False, None
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
        return False, code, code in _RETRYABLE_GRPC, wait

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

    async def exchange(self, body: bytes) -> Outcome:
        """Send on the running event loop, retrying as `send` does. Cancelled, it raises CancelledError."""
        start = time.perf_counter()
        deadline = start + self.timeout_s
        retries = 0
        backoff = _BACKOFF_START_S
        while True:
            try:
                await self._acall(
                    body, timeout=max(0.05, deadline - time.perf_counter()), metadata=self._metadata
                )
                return Outcome(True, "OK", time.perf_counter() - start, retries)
            except self._grpc.RpcError as exc:
                _, code, retryable, wait_s = self._failure(exc)
            now = time.perf_counter()
            if not retryable:
                return Outcome(False, code, now - start, retries, rejected=True)
            pause = _pause(wait_s, backoff)
            if now + pause >= deadline or self._stop.is_set():
                return Outcome(False, code, now - start, retries)
            # Asleep in short steps, so that a stop ends the retry at once.
            wake = now + pause
            while not self._stop.is_set() and time.perf_counter() < wake:
                await asyncio.sleep(min(0.05, wake - time.perf_counter()))
            if self._stop.is_set():
                return Outcome(False, code, time.perf_counter() - start, retries)
            retries += 1
            backoff = min(backoff * 2, _BACKOFF_MAX_S)

    async def close_async(self) -> None:
        if self._achannel is not None:
            await self._achannel.close()
            self._achannel = self._acall = None

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = self._call = None


class HttpSender(Sender):
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
        self._headers = {"Content-Type": "application/x-protobuf", **dict(sig.headers)}
        self._context = None
        if self._https:
            self._context = ssl.create_default_context(cafile=sig.http_ca_certs)
            if sig.http_client_cert and sig.http_client_key:
                self._context.load_cert_chain(
                    sig.http_client_cert, sig.http_client_key, password=sig.http_client_key_passphrase
                )
        self._local = threading.local()

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
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            self._local.conn = None
            return False, _describe(exc), True, None
        status = response.status
        if 200 <= status < 300:
            return True, str(status), False, None
        wait = _retry_after(response.getheader("Retry-After"))
        return False, str(status), status in _RETRYABLE_HTTP, wait


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


def build_sender(sig: SignalConfig, timeout_s: float, *, stop: threading.Event | None = None) -> Sender:
    if sig.protocol == "grpc":
        return GrpcSender(sig, timeout_s, stop=stop)
    if sig.protocol == "http/protobuf":
        return HttpSender(sig, timeout_s, stop=stop)
    raise ConfigError(
        f"load sends OTLP over grpc or http/protobuf; the {sig.signal} protocol is {sig.protocol}"
        " (set OTEL_EXPORTER_OTLP_PROTOCOL)"
    )
