"""How much of the senders' requests the receiver holds at once: the bytes of bodies in flight, and the
bodies being decoded, whose decoded form is many times their size."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    """Bytes of request bodies held at once, over every connection and call, up to `limit`.

    A body counts from the moment its bytes arrive until its request is tallied or refused; what does
    not fit is refused at once (the sender retries), never waited for, so that bodies held by slow or
    stalled senders cannot block the others."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.held + n > self.limit:
                return False
            self.held += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.held -= n


class DecodeTurns:
    """Decoding in turns, first come first served, as many bodies at once as add up to `allowance` bytes.

    Decoding is CPU work under one interpreter lock: bodies decoded side by side finish no sooner than
    in turn, but each holds its decoded form (JSON's is ten times its size or more) all the while, and
    every sender waits for the slowest. A body larger than the allowance is decoded alone."""

    def __init__(self, allowance: int) -> None:
        self.allowance = allowance
        self._decoding = 0
        self._queue: deque[object] = deque()
        self._turn = threading.Condition()

    @contextmanager
    def turn(self, size: int) -> Iterator[None]:
        ticket = object()
        with self._turn:
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket or (
                    self._decoding and self._decoding + size > self.allowance
                ):
                    self._turn.wait()
            except BaseException:
                self._queue.remove(ticket)
                self._turn.notify_all()
                raise
            self._queue.popleft()
            self._decoding += size
            self._turn.notify_all()  # the next in line may fit beside this one
        try:
            yield
        finally:
            with self._turn:
                self._decoding -= size
                self._turn.notify_all()
