"""Clients that open a request and never finish it: gRPC calls that send their headers and no message
(raw HTTP/2 on a plain socket), and HTTP requests whose headers or body trickle in a byte at a time."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEADERS, _SETTINGS = 0x1, 0x4
_END_HEADERS, _ACK = 0x4, 0x1


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _literal(name: str, value: str) -> bytes:
    """An HPACK literal header field without indexing, a new name, no Huffman coding (RFC 7541 6.2.2)."""
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def _grpc_headers(port: int, path: str) -> bytes:
    fields = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", f"127.0.0.1:{port}"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    return b"".join(_literal(k, v) for k, v in fields)


@contextlib.contextmanager
def stalled_grpc_calls(port: int, calls: int, *, per_connection: int = 10, path: str | None = None):
    """`calls` gRPC calls, `per_connection` to a connection, each sending its HEADERS and then nothing:
    neither a message nor the end of its stream. They stay open until the block ends."""
    path = path or "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
    sockets: list[socket.socket] = []
    try:
        left = calls
        while left > 0:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            sockets.append(s)
            # Our SETTINGS, and the acknowledgement of the server's that every connection must send.
            frames = [_PREFACE, _frame(_SETTINGS, 0, 0), _frame(_SETTINGS, _ACK, 0)]
            for i in range(min(left, per_connection)):
                frames.append(_frame(_HEADERS, _END_HEADERS, 1 + 2 * i, _grpc_headers(port, path)))
            s.sendall(b"".join(frames))
            left -= per_connection
        yield sockets
    finally:
        for s in sockets:
            s.close()


class Slowloris:
    """HTTP requests sent a byte every `gap_s` seconds, on `connections` connections each: half trickle
    their headers, half send whole headers declaring a `declared`-byte body and trickle that."""

    def __init__(self, port: int, connections: int = 10, *, gap_s: float = 0.2, declared: int = 16 << 20):
        self.port, self.connections, self.gap_s, self.declared = port, connections, gap_s, declared
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sent = 0  # bytes trickled, over every connection
        self._lock = threading.Lock()

    def __enter__(self) -> Slowloris:
        for i in range(self.connections):
            t = threading.Thread(target=self._trickle, args=(i % 2 == 0,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    def _trickle(self, headers_too: bool) -> None:
        head = (
            f"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/x-protobuf\r\nContent-Length: {self.declared}\r\n\r\n"
        ).encode()
        while not self._stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                    if not headers_too:
                        s.sendall(head)
                        head_left = b""
                    else:
                        head_left = head
                    while not self._stop.wait(self.gap_s):
                        s.sendall(head_left[:1] or b"\n")
                        head_left = head_left[1:]
                        with self._lock:
                            self.sent += 1
            except OSError:
                pass  # the server closed it: open another
