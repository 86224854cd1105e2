"""load's asyncio HTTP/1.1 sender against small servers that answer the way real ones can: kept-alive,
chunked, closing, interim 100, silent, garbled, refusing. Each request is counted once, with the outcome
a user would read in the report."""

from __future__ import annotations

import asyncio
import time

import pytest

from claude_telemetry_cli.clock import VirtualClock
from claude_telemetry_cli.load.transport import HttpSender
from claude_telemetry_cli.settings import SignalConfig

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 2\r\n\r\n\x0a\x00"


class Scripted:
    """A server on a free port: reads each request whole, answers with `answers(n)` (the n-th request
    on any connection): a list of byte strings written with a short pause between them, or None to say
    nothing; `close_after` closes the connection after the answer."""

    def __init__(self, answers, *, close_after=lambda n: False) -> None:
        self.answers, self.close_after = answers, close_after
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.connections = 0

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                body = await reader.readexactly(length)
                n = len(self.requests)
                self.requests.append((head, body))
                answer = self.answers(n)
                if answer is None:
                    await asyncio.sleep(30)
                for piece in answer:
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.005)
                if self.close_after(n):
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()


def _sender(port: int, timeout_s: float = 2.0, clock=None) -> HttpSender:
    sig = SignalConfig(
        "metrics",
        ("otlp",),
        "http/protobuf",
        f"http://127.0.0.1:{port}/v1/metrics",
        headers=(("Authorization", "Bearer s3cret"),),
    )
    return HttpSender(sig, timeout_s, clock=clock)


async def _until(predicate, timeout_s: float = 10.0) -> bool:
    """Let the event loop run until `predicate()` holds; False if it does not within `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.001)
    return True


async def _exchange(sender: HttpSender, bodies) -> list:
    await sender.open_async()
    try:
        return [await sender.exchange(body) for body in bodies]
    finally:
        await sender.close_async()


def run(coro):
    return asyncio.run(coro)


def test_requests_go_whole_over_one_kept_alive_connection():
    async def main():
        async with Scripted(lambda n: [OK]) as server:
            bodies = [bytes([n]) * (n * 997) for n in range(1, 21)]
            outcomes = await _exchange(_sender(server.port), bodies)
            return server, bodies, outcomes

    server, bodies, outcomes = run(main())
    assert [o.ok for o in outcomes] == [True] * 20 and {o.code for o in outcomes} == {"200"}
    assert server.connections == 1
    assert [body for _, body in server.requests] == bodies
    head = server.requests[0][0].decode()
    assert head.startswith("POST /v1/metrics HTTP/1.1\r\n")
    assert "Authorization: Bearer s3cret\r\n" in head and "Content-Type: application/x-protobuf\r\n" in head


def test_a_chunked_answer_in_pieces_with_trailers_is_read_to_its_end():
    chunked = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n",
        b"\r\n3\r\nabc\r\n",
        b"1;ext=1\r\nd",
        b"\r\n0\r\nX-Trailer: 1\r\n",
        b"\r\n",
    ]

    async def main():
        async with Scripted(lambda n: chunked) as server:
            return server, await _exchange(_sender(server.port), [b"x", b"y", b"z"])

    server, outcomes = run(main())
    assert [o.ok for o in outcomes] == [True] * 3
    assert server.connections == 1  # the connection was left at a clean boundary each time


def test_an_interim_100_is_skipped_and_connection_close_is_honoured():
    answer = [b"HTTP/1.1 100 Continue\r\n\r\n", OK.replace(b"OK\r\n", b"OK\r\nConnection: close\r\n", 1)]

    async def main():
        async with Scripted(lambda n: answer, close_after=lambda n: True) as server:
            return server, await _exchange(_sender(server.port), [b"a", b"b", b"c"])

    server, outcomes = run(main())
    assert [o.ok for o in outcomes] == [True] * 3 and all(o.retries == 0 for o in outcomes)
    assert server.connections == 3


def test_a_connection_the_collector_closed_while_idle_is_not_used_again():
    async def main():
        async with Scripted(lambda n: [OK], close_after=lambda n: n == 0) as server:
            sender = _sender(server.port)
            await sender.open_async()
            first = await sender.exchange(b"1")
            # The close reaches the client while the connection is idle.
            assert await _until(lambda: all(conn.closed for conn in sender._idle))
            second = await sender.exchange(b"2")
            await sender.close_async()
            return server, first, second

    server, first, second = run(main())
    assert first.ok and second.ok and second.retries == 0
    assert server.connections == 2


def test_a_refusal_is_rejected_at_once_and_throttling_waits_what_was_asked():
    answers = {
        0: [
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 46\r\n\r\n"
            b'{"code":3,"message":"sample too old, 1 of 1"}\n'
        ],
        1: [b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 3\r\n\r\nbusy"[:-1]],
    }

    async def main():
        async with Scripted(lambda n: answers.get(n, [OK])) as server:
            sender = _sender(server.port, timeout_s=5.0, clock=VirtualClock())
            return server, await _exchange(sender, [b"bad", b"later"])

    server, (bad, later) = run(main())
    assert (bad.ok, bad.rejected, bad.code, bad.retries) == (False, True, "400", 0)
    assert bad.message == "sample too old, 1 of 1"
    # The pause is what the collector asked, longer than the first backoff (0.25 to 0.5 s).
    assert later.ok and later.retries == 1 and later.latency_s == 1.0
    assert len(server.requests) == 3


def test_a_silent_collector_fails_the_request_within_the_export_timeout():
    async def main():
        async with Scripted(lambda n: None) as server:
            began = time.monotonic()
            outcomes = await _exchange(_sender(server.port, timeout_s=0.6), [b"x"])
            return outcomes, time.monotonic() - began

    (outcome,), took = run(main())
    assert (outcome.ok, outcome.rejected, outcome.code) == (False, False, "timeout")
    assert took < 1.5


@pytest.mark.parametrize(
    "answer, code",
    [
        ([b"SSH-2.0-OpenSSH_9.6\r\n\r\n"], "bad HTTP response"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"], "connection reset"),
    ],
)
def test_a_garbled_or_cut_answer_is_a_failed_request(answer, code):
    async def main():
        async with Scripted(lambda n: answer, close_after=lambda n: True) as server:
            return await _exchange(_sender(server.port, timeout_s=0.8, clock=VirtualClock()), [b"x"])

    (outcome,) = run(main())
    assert (outcome.ok, outcome.code) == (False, code)


def test_a_collector_that_is_not_there_is_connection_refused():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (outcome,) = run(_exchange(_sender(port, timeout_s=0.5, clock=VirtualClock()), [b"x"]))
    assert (outcome.ok, outcome.code) == (False, "connection refused")


def test_headers_that_http_cannot_carry_are_a_configuration_error():
    from claude_telemetry_cli.errors import ConfigError

    sig = SignalConfig(
        "logs",
        ("otlp",),
        "http/protobuf",
        "http://127.0.0.1:4318/v1/logs",
        headers=(("X-Team", "équipe→ops"),),
    )
    with pytest.raises(ConfigError) as error:
        HttpSender(sig, 1.0)
    assert error.value.message == (
        "the logs export header 'X-Team' (OTEL_EXPORTER_OTLP_HEADERS) must be Latin-1 text for HTTP"
    )  # named, never shown: a header value is usually a credential
