"""Send a scenario's export stream over OTLP as fast as the collector accepts it, in the order it was due.

One event loop sends every signal (gRPC with grpc.aio, HTTP with keep-alive connections, load's
senders), up to `concurrency` requests in flight: a collector that cannot keep up slows the stream
down, it never queues the period in memory. The first request the collector refuses or that fails
after its retries ends the run, as an export failure ends `run`: what was refused, and why, is reported
per signal. Ctrl-C or SIGTERM stop taking new requests; those in flight finish within the export timeout.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from claude_telemetry_cli.clock import Clock, RealClock
from claude_telemetry_cli.errors import ExportError, Interrupted, TelemetryError
from claude_telemetry_cli.history.stream import Export
from claude_telemetry_cli.history.when import HistoryWindow, format_instant
from claude_telemetry_cli.load.transport import Outcome, Sender

__all__ = ["HistoryResult", "SignalTally", "send_history"]

Progress = Callable[[float, int], None]  # (scenario seconds reached, requests sent)


@dataclass
class SignalTally:
    """What one signal's sender did."""

    signal: str
    destination: str
    requests: int = 0
    accepted: int = 0
    failed: int = 0  # refused, failed after retries, or cut off at the end
    items_sent: int = 0  # points, events or spans in the requests sent
    items_accepted: int = 0
    codes: Counter = field(default_factory=Counter)
    first_failure: str | None = None  # "400: sample too old"

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_json(self) -> dict:
        return {
            "signal": self.signal,
            "destination": self.destination,
            "requests": self.requests,
            "accepted": self.accepted,
            "failed": self.failed,
            "items_sent": self.items_sent,
            "items_accepted": self.items_accepted,
            "codes": dict(sorted(self.codes.items())),
            "first_failure": self.first_failure,
        }


@dataclass
class HistoryResult:
    signals: dict[str, SignalTally]
    reached_s: float = 0.0  # scenario time of the last request taken
    elapsed_s: float = 0.0
    aborted: str | None = None
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.aborted is None and all(t.ok for t in self.signals.values())

    @property
    def requests(self) -> int:
        return sum(t.requests for t in self.signals.values())

    def summary(self, playable, window: HistoryWindow) -> dict:
        """What `run --start-at/--end-at` reports of sending `playable` into `window`."""
        return {
            "scenario": playable.name,
            "sessions": playable.session_count,
            "window": window.to_json(),
            "reached": format_instant(window.ns(self.reached_s)),
            "seconds": round(self.elapsed_s, 3),
            "ok": self.ok,
            "aborted": self.aborted,
            "interrupted": self.interrupted,
            "signals": [t.to_json() for t in self.signals.values()],
        }

    def ending(self) -> TelemetryError | None:
        """A refused or failed export, an interrupt, or None when everything was sent."""
        if not self.ok:
            return ExportError(self.aborted or "an export failed")
        if self.interrupted:
            return Interrupted("interrupted: what was sent until then is listed above")
        return None


def _items(export: Export) -> int:
    r = export.request
    return r.points + r.events + r.spans


def send_history(
    exports: Iterator[Export],
    senders: dict[str, Sender],
    *,
    concurrency: int,
    export_timeout_s: float,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    clock: Clock | None = None,
) -> HistoryResult:
    """Send every export to its signal's sender; stop at the first failure. `clock` paces the progress
    reports and bounds the wait for what is in flight at the end."""
    result = HistoryResult({name: SignalTally(name, s.destination) for name, s in senders.items()})
    stop = stop or threading.Event()
    clock = clock if clock is not None else RealClock()
    began = time.perf_counter()

    def record(export: Export, outcome: Outcome) -> None:
        tally = result.signals[export.request.signal]
        tally.codes[outcome.code] += 1
        if outcome.ok:
            tally.accepted += 1
            tally.items_accepted += _items(export)
            return
        tally.failed += 1
        if tally.first_failure is None:
            why = f"{outcome.code}: {outcome.message}" if outcome.message else outcome.code
            tally.first_failure = why
        if result.aborted is None:
            verb = "refused" if outcome.rejected else "failed"
            result.aborted = f"{tally.signal} export to {tally.destination} {verb}: {tally.first_failure}"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        interrupted = asyncio.Event()
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread:

            def interrupt() -> None:
                interrupted.set()
                stop.set()  # senders waiting to retry give up at once

            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, interrupt)
        for sender in senders.values():
            await sender.open_async()
        slots = asyncio.Semaphore(concurrency)
        in_flight: set[asyncio.Task] = set()

        async def exchange(export: Export, sender: Sender) -> None:
            start = time.perf_counter()
            try:
                outcome = await sender.exchange(export.request.body)
            except asyncio.CancelledError:
                record(export, Outcome(False, "cut off at the end", time.perf_counter() - start))
                raise
            except Exception as exc:  # noqa: BLE001 - counted as failed, never lost
                outcome = Outcome(False, type(exc).__name__, time.perf_counter() - start)
            finally:
                slots.release()
            record(export, outcome)

        last_progress = float("-inf")
        try:
            for export in exports:
                if result.aborted is not None or interrupted.is_set() or stop.is_set():
                    break
                await slots.acquire()
                if result.aborted is not None or interrupted.is_set():
                    slots.release()
                    break
                sender = senders[export.request.signal]
                tally = result.signals[export.request.signal]
                tally.requests += 1
                tally.items_sent += _items(export)
                result.reached_s = export.at
                task = loop.create_task(exchange(export, sender))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                now = clock.now()
                if progress is not None and now - last_progress >= 0.1:
                    last_progress = now
                    progress(export.at, result.requests)
                    await asyncio.sleep(0)  # let a signal handler run between encodings
            result.interrupted = interrupted.is_set() or stop.is_set()
            # What is in flight finishes or gives up within the export timeout.
            limit = clock.now() + export_timeout_s + 1.0
            while in_flight and clock.now() < limit:
                await clock.wait_tasks(in_flight, min(0.1, max(0.0, limit - clock.now())))
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            for sender in senders.values():
                await sender.close_async()
            if in_main_thread:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)
        if progress is not None:
            progress(result.reached_s, result.requests)

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
    result.elapsed_s = time.perf_counter() - began
    return result
