"""Plain HTTP connections: the usual requests served by the receiver's loop, the others by a thread of
their own, and a connection moving from one to the other mid-stream without losing or reordering a byte."""

from __future__ import annotations

import socket
import time

from claude_telemetry_cli.receiver.reception import Reception
from claude_telemetry_cli.receiver.server import OtlpServer
from tests.unit.test_receiver_server import metrics_request


def _request(body: bytes, *, extra: str = "") -> bytes:
    return (
        f"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _answers(sock: socket.socket, n: int) -> list[tuple[int, dict[str, str], bytes]]:
    """The next n answers on the connection: status, headers (names lowercased), body."""
    data, out = b"", []
    while len(out) < n:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
            length = int(headers["content-length"])
            if len(data) >= end + 4 + length:
                out.append((int(head[0].split()[1]), headers, data[end + 4 : end + 4 + length]))
                data = data[end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(out)} of {n} answers"
        data += chunk
    assert data == b""
    return out


def _server():
    reception = Reception()
    return reception, OtlpServer(reception, grpc=False, grpc_port=0, http_port=0).start()


def test_pipelined_requests_are_answered_in_order_on_one_connection():
    reception, server = _server()
    try:
        with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
            good = metrics_request([("a", (), 1)]).SerializeToString()
            sock.sendall(_request(good) + _request(b"\xff\xff") + _request(good))
            statuses = [status for status, _, _ in _answers(sock, 3)]
        assert statuses == [200, 400, 200]
        assert reception.totals().metrics == {("a", ()): 2.0}
        assert dict(reception.errors) == {("http/protobuf", "invalid protobuf"): 1}
    finally:
        server.stop()


def test_a_request_that_comes_in_pieces_is_answered():
    reception, server = _server()
    try:
        with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
            data = _request(metrics_request([("a", (), 3)]).SerializeToString())
            for piece in (data[:10], data[10:60], data[60:-5], data[-5:]):
                sock.sendall(piece)
                time.sleep(0.05)
            assert [status for status, _, _ in _answers(sock, 1)] == [200]
        assert reception.totals().metrics == {("a", ()): 3.0}
    finally:
        server.stop()


def test_a_connection_handed_to_a_thread_mid_stream_keeps_its_order_and_its_answers():
    """A usual request, an unusual one (a body over 64 KiB, a folded header) and a usual one again, all
    sent at once: the loop answers the first, and the thread that takes over the connection the rest
    from the bytes the loop had read. Their answers are alike, whichever served them."""
    reception, server = _server()
    try:
        small = metrics_request([("a", (), 1)]).SerializeToString()
        large = metrics_request([(f"big{i}", (("k", "v" * 100),), 1) for i in range(600)]).SerializeToString()
        assert len(large) > 64 * 1024
        folded = _request(small, extra="X-Note: one\r\n two\r\n")
        with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
            sock.sendall(_request(small) + _request(large) + folded + _request(small))
            answers = _answers(sock, 4)
        assert [status for status, _, _ in answers] == [200] * 4
        for _, headers, body in answers:
            headers.pop("date")
            assert (headers, body) == (answers[0][1], answers[0][2])
        assert answers[0][1] == {
            "server": "claude-telemetry",
            "content-type": "application/x-protobuf",
            "content-length": "0",
        }
        totals = reception.totals().metrics
        assert totals[("a", ())] == 3.0 and len(totals) == 601
    finally:
        server.stop()


def test_a_client_that_stops_mid_request_does_not_hold_up_the_others():
    reception, server = _server()
    try:
        stalled = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
        stalled.sendall(_request(b"x" * 1000)[:-500])
        with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as sock:
            for _ in range(3):
                sock.sendall(_request(metrics_request([("a", (), 1)]).SerializeToString()))
                assert [status for status, _, _ in _answers(sock, 1)] == [200]
        assert reception.totals().metrics == {("a", ()): 3.0}
        stalled.close()
    finally:
        server.stop()
