"""The plain HTTP connections of an OtlpServer, served by one thread while they send the usual requests.

A thread per connection costs more than the request: every receive and send lets go of the interpreter
lock and another connection's thread takes it, several hand-overs a request. Here one thread serves
every connection, and a request is read, decoded, tallied and answered without one.

The usual request is what OTLP exporters send: `POST /v1/<signal> HTTP/1.1`, plain `Name: value` headers,
one Content-Length of at most 64 KiB, a protobuf or JSON body, gzipped or not, with the required headers.
A connection that sends anything else (a malformed or unusual head, a large body, one that does not
fit the in-flight limit), or does not send its request whole by its deadline, is handed with the bytes
read so far to a thread of its own that serves it as before (server._HttpHandler): the same answers, the
same counts, as if it had had its thread from the start."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from claude_telemetry_cli.receiver import server as _server

_RECV = 256 * 1024
_SCAN_S = 0.25  # how often deadlines and idle connections are looked at
_END = b"\r\n\r\n"
_ENCODINGS = ("", "identity", "gzip", "x-gzip")


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    address: tuple
    buffer: bytearray = field(default_factory=bytearray)
    started: float | None = None  # when the first byte of the request in progress came
    last: float = 0.0  # when the connection last sent or was answered
    out: bytes = b""  # what is left to write of an answer
    request: tuple | None = None  # the head read: (signal, protocol, encoding, where the body starts, length)
    held: int = 0  # bytes counted in the in-flight limit


class PlainLoop:
    def __init__(self, http_server) -> None:
        self.http_server = http_server
        self.owner = http_server.owner
        self._selector = selectors.DefaultSelector()
        self._connections: dict[socket.socket, _Conn] = {}
        self._stopping = False
        self._stopped = threading.Event()

    def stop(self) -> None:
        """Stop accepting and close the connections this loop serves; returns once it has (called only
        once run() has been started, on its own thread)."""
        self._stopping = True
        self._stopped.wait(10)

    def run(self, poll_interval: float) -> None:
        listener = self.http_server.socket
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ, None)
        next_scan = time.monotonic() + _SCAN_S
        try:
            while not self._stopping:
                for key, mask in self._selector.select(min(poll_interval, _SCAN_S)):
                    if key.data is None:
                        self._accept(listener)
                        continue
                    conn = key.data
                    try:
                        if mask & selectors.EVENT_WRITE:
                            self._writable(conn)
                        if mask & selectors.EVENT_READ and conn.sock in self._connections:
                            self._read(conn)
                    except Exception:
                        self._close(conn)  # never a traceback; the sender sees its connection closed
                now = time.monotonic()
                if now >= next_scan:
                    next_scan = now + _SCAN_S
                    self._scan(now)
        finally:
            for conn in list(self._connections.values()):
                self._close(conn)
            self._selector.close()
            self._stopped.set()

    # ------------------------------------------------------------------ connections

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # out of descriptors, or the client already gone: the next select tries again
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock, address, last=time.monotonic())
            self._connections[sock] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _close(self, conn: _Conn) -> None:
        if self._connections.pop(conn.sock, None) is None:
            return
        self._let_go(conn)
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        try:
            conn.sock.close()
        except OSError:
            pass

    def _hand_over(self, conn: _Conn) -> None:
        """The connection goes to a thread of its own, which reads first what was read of it here."""
        self._connections.pop(conn.sock)
        self._let_go(conn)
        self._selector.unregister(conn.sock)
        conn.sock.setblocking(True)
        self.http_server.handed[conn.sock] = (bytes(conn.buffer), conn.started)
        try:
            self.http_server.process_request(conn.sock, conn.address)
        except Exception:  # no thread to be had: the sender sees its connection closed
            self.http_server.handed.pop(conn.sock, None)
            conn.sock.close()

    def _let_go(self, conn: _Conn) -> None:
        if conn.held:
            self.owner._in_flight_bytes.give(conn.held)
            conn.held = 0

    def _scan(self, now: float) -> None:
        request_s, idle_s = self.owner.message_timeout_s, _server._HTTP_IDLE_TIMEOUT_S
        for conn in list(self._connections.values()):
            if conn.out:
                if now - conn.last >= idle_s:
                    self._close(conn)  # the sender does not read its answers
            elif conn.started is not None:
                if now - conn.started >= request_s:
                    self._hand_over(conn)  # its thread answers as for any request late past its deadline
            elif now - conn.last >= idle_s:
                self._close(conn)

    # ------------------------------------------------------------------ requests

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            if conn.buffer and not conn.out:
                self._hand_over(conn)  # a request cut short: counted as its thread counts one
            else:
                self._close(conn)
            return
        now = time.monotonic()
        if conn.started is None:
            conn.started = now
        conn.last = now
        conn.buffer += data
        self._serve(conn)

    def _serve(self, conn: _Conn) -> None:
        """Answer every whole request in the buffer, in order; hand over at the first unusual one."""
        buffer = conn.buffer
        while buffer and not conn.out:
            if conn.request is None:
                end = buffer.find(_END)
                if end < 0:
                    if len(buffer) > _server._MAX_HEADER_LINE or b"\n\n" in buffer or b"\n\r\n" in buffer:
                        self._hand_over(conn)  # too long, or ended with bare line feeds: not ours
                    return
                request = self._usual(bytes(buffer[:end]))
                if request is None or not self.owner._in_flight_bytes.take(request[-1]):
                    self._hand_over(conn)
                    return
                conn.held = request[-1]
                conn.request = (*request[:-1], end + len(_END), request[-1])
            signal, protocol, encoding, at, length = conn.request
            if len(buffer) - at < length:
                return
            body = bytes(buffer[at : at + length])
            del buffer[: at + length]
            conn.request = None
            conn.started = time.monotonic() if buffer else None
            answer = self._answer(conn, signal, protocol, encoding, body)
            self._let_go(conn)
            self._write(conn, answer)

    def _usual(self, head: bytes):
        """(signal, protocol, encoding, body length) of a usual request's head, or None."""
        lines = head.split(b"\r\n")
        if len(lines) > _server._MAX_HEADERS or max(map(len, lines)) > _server._MAX_HEADER_LINE - 2:
            return None
        words = lines[0].split()
        if len(words) != 3 or words[0] != b"POST" or words[2] != b"HTTP/1.1":
            return None
        signal = _server._BY_PATH.get(words[1].decode("latin-1"))
        if signal is None:
            return None
        items, first = [], {}
        match = _server._PLAIN_HEADER.match
        for line in lines[1:]:
            if match(line + b"\r\n") is None:
                return None
            name, _, value = line.decode("iso-8859-1").partition(":")
            value = value.lstrip(" \t")
            items.append((name, value))
            key = name.lower()
            if key in first:
                if key in ("content-length", "content-type", "content-encoding", "connection"):
                    return None
                continue
            first[key] = value
        if "transfer-encoding" in first or "expect" in first:
            return None
        if first.get("connection", "keep-alive").lower() != "keep-alive":
            return None
        protocol = _server._MEDIA.get(first.get("content-type", "").split(";", 1)[0].strip().lower())
        encoding = first.get("content-encoding", "").strip().lower()
        if protocol is None or encoding not in _ENCODINGS:
            return None
        declared = first.get("content-length", "").strip()
        if not (declared.isascii() and declared.isdigit()):
            return None
        length = int(declared)
        if length > min(self.owner.max_request_bytes, _server._SMALL_BODY_BYTES):
            return None
        sent = ((k, v.encode("latin-1", "replace")) for k, v in items)
        if not _server._authorized(self.owner._required, sent):
            return None
        return signal, protocol, encoding, length

    def _answer(self, conn: _Conn, signal, protocol: str, encoding: str, body: bytes) -> bytes:
        owner = self.owner
        try:
            if encoding in ("gzip", "x-gzip"):
                body = _server._gunzip(body, owner.max_request_bytes, lambda n: self._hold(conn, n))
            reply, content_type = _server._take(owner, signal, protocol, body)
            return _server._response(200, reply, content_type)
        except _server._Refused as refused:
            return _server._response(*_server._refusal(owner, protocol, refused))
        except Exception as e:
            refused = _server._Refused(500, "internal error", f"internal error: {type(e).__name__}")
            return _server._response(*_server._refusal(owner, protocol, refused))

    def _hold(self, conn: _Conn, n: int) -> None:
        if not self.owner._in_flight_bytes.take(n):
            raise _server._busy(self.owner)
        conn.held += n

    def _write(self, conn: _Conn, answer: bytes) -> None:
        conn.out = answer
        if self._send(conn) and conn.out:
            # The sender is not reading its answers as fast: the rest goes when it can take it, and
            # its next requests wait until then.
            self._selector.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    def _writable(self, conn: _Conn) -> None:
        if self._send(conn) and not conn.out:
            self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
            self._serve(conn)  # requests that came while the answer waited

    def _send(self, conn: _Conn) -> bool:
        """Write what the socket takes of the answer; False if the connection is gone (and closed)."""
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            self._close(conn)
            return False
        conn.out = conn.out[sent:]
        conn.last = time.monotonic()
        return True
