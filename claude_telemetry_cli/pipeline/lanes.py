"""Exports on per-process lanes: each simulated process exports in order, all of them at once, and
every request's outcome is counted where the official exporter's result and log lines land."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import Counter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from claude_telemetry_cli.pipeline.accounting import (
    CUT_OFF,
    ExportRequest,
    ExportStats,
    capture,
    failure_cause,
)

__all__ = ["ExportLane", "ExportPool", "TrackedLogExporter", "TrackedMetricExporter", "TrackedSpanExporter"]

_LOGGER = logging.getLogger(__name__)


def _count_points(metrics_data: MetricsData) -> int:
    return sum(
        len(m.data.data_points)
        for rm in metrics_data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    )


class ExportPool:
    """The threads every lane's exports run on, started as they are needed.

    Daemon threads: a request the replay has given up on (counted as failed) must not hold the
    program's exit until its exporter's own timeout runs out. A replay that ends normally waits for
    every export (shutdown(wait=True)) before anything exits.
    """

    def __init__(self, workers: int, name: str = "otlp-export") -> None:
        self._workers, self._name = workers, name
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], None]) -> None:
        self._queue.put(fn)
        if self._idle.acquire(blocking=False):
            return
        with self._lock:
            if len(self._threads) < self._workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while (fn := self._queue.get()) is not None:
            try:
                fn()
            except Exception:  # a lane records its own failures; the thread must stay for the others
                _LOGGER.debug("export pool job failed", exc_info=True)
            self._idle.release()

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()


class ExportLane:
    """Runs one process's exports in order, on a pool shared by all processes.

    Real Claude Code processes export independently: one slow request must not hold up the others,
    nor the replay's schedule. Within a process, order is kept (events are flushed before metrics
    at exit). Without a pool every job runs at once, on the caller's thread.

    `backlog`, shared by all lanes, bounds the jobs queued or running: when the collector is slower
    than the replay (always, with --instant), `run` waits for a free place instead of queueing every
    export of the rest of the scenario in memory. `failure`, shared as well, is set when a request
    fails on its own (not dropped or cut off because the replay stopped).
    """

    def __init__(
        self,
        pool: ExportPool | None,
        backlog: threading.Semaphore | None = None,
        failure: threading.Event | None = None,
    ) -> None:
        self._pool = pool
        self._backlog = backlog
        self._failure = failure
        # Each job with what to do if it is dropped unstarted (a dropped request counts as failed).
        self._jobs: deque[tuple[Callable[[], None], Callable[[], None] | None]] = deque()
        self._lock = threading.Lock()
        self._running = False
        self._idle = threading.Event()
        self._idle.set()
        self._local = threading.local()
        self._sending = None  # the official exporter whose request is under way
        self._request: ExportRequest | None = None  # and that request
        self.aborted = False

    def _inside(self) -> bool:
        return getattr(self._local, "inside", False)

    def run(self, job: Callable[[], None], on_discard: Callable[[], None] | None = None) -> None:
        """Run `job` after the process's earlier exports. Once the lane has stopped (abort()) nothing
        more is sent: `on_discard` counts what the job would have sent, at once."""
        if self.aborted:
            if on_discard is not None:
                on_discard()
            return
        if self._pool is None or self._inside():
            job()
            return
        if self._backlog is not None:
            self._backlog.acquire()
        with self._lock:
            self._jobs.append((job, on_discard))
            self._idle.clear()
            if not self._running:
                self._running = True
                self._pool.submit(self._drain)

    def _drain(self) -> None:
        self._local.inside = True
        try:
            while True:
                with self._lock:
                    if not self._jobs:
                        self._running = False
                        self._idle.set()
                        return
                    job, _ = self._jobs.popleft()
                try:
                    job()
                except Exception:  # a job records its own failure; the lane must keep draining
                    _LOGGER.debug("export job failed", exc_info=True)
                finally:
                    if self._backlog is not None:
                        self._backlog.release()
        finally:
            self._local.inside = False

    def discard(self) -> int:
        """Drop jobs not yet started, each counted by its `on_discard`."""
        with self._lock:
            dropped = list(self._jobs)
            self._jobs.clear()
        for _, on_discard in dropped:
            if on_discard is not None:
                on_discard()
        if self._backlog is not None:
            for _ in dropped:
                self._backlog.release()
        return len(dropped)

    @contextlib.contextmanager
    def sending(self, exporter, request: ExportRequest | None = None) -> Iterator[None]:
        """Marks `exporter`'s request as under way, so abort() can cut its retries short."""
        with self._lock:
            self._sending, self._request = exporter, request
        try:
            yield
        finally:
            with self._lock:
                self._sending = self._request = None

    def failed(self) -> None:
        """A request of this lane failed on its own."""
        if self._failure is not None:
            self._failure.set()

    def abort(self) -> int:
        """Stop exporting: drop the jobs not yet started and end the request under way: its exporter is
        shut down, which stops the SDK's retries and their backoff at once rather than at the export
        timeout. Whatever is given to the lane from now on is counted, not sent."""
        if self.aborted:
            return 0
        self.aborted = True
        dropped = self.discard()
        with self._lock:
            sending = self._sending
        if sending is not None:
            with contextlib.suppress(Exception):
                sending.shutdown()
        return dropped

    def cut_off(self, why: str = CUT_OFF) -> None:
        """Count the request still under way as failed: nobody waits for its answer any more."""
        with self._lock:
            request = self._request
        if request is not None:
            request.settle(False, unanswered=why)

    def wait(self, timeout: float | None = None) -> bool:
        if self._inside():
            return True
        return self._idle.wait(timeout)


class _OnLane:
    """Sends through an official exporter on the process's lane and keeps score of requests and items.

    The SDK hands over a batch and moves on; the request itself runs on the lane, and its outcome
    (success, or the exporter's own error message after its retries) lands in the shared stats.
    """

    def _track(self, inner, stats: ExportStats, lane: ExportLane) -> None:
        self.inner = inner
        self.stats = stats
        self.lane = lane

    def _submit(self, items: int, call: Callable[[], object], success: object) -> None:
        request = ExportRequest(self.stats, items)
        lane = self.lane

        def send() -> None:
            capture.take()  # lines of an earlier job on this thread are not this request's
            if lane.aborted:
                request.settle(False)
                return
            try:
                with lane.sending(self.inner, request):
                    result = call()
                messages = capture.take()
            except Exception as exc:  # an exporter raising is a failed export, not a crash
                result, messages = None, [*capture.take(), str(exc)]
            ok = result is success
            if ok or lane.aborted:
                # A request cut short by abort() failed for the reason the replay stopped, not its own.
                request.settle(ok, unanswered=CUT_OFF)
            elif request.settle(False, failure_cause(messages, self.stats.destination)):
                lane.failed()

        try:
            lane.run(send, on_discard=lambda: request.settle(False))
        except BaseException:
            # Interrupted while waiting for a place in the backlog: never sent, and counted so.
            request.settle(False)
            raise

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        return self.lane.wait(timeout_millis / 1000)


class TrackedMetricExporter(_OnLane, MetricExporter):
    def __init__(
        self, inner: MetricExporter, stats: ExportStats, temporality: AggregationTemporality, lane: ExportLane
    ) -> None:
        MetricExporter.__init__(self, preferred_temporality={Counter: temporality})
        self._track(inner, stats, lane)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs
    ) -> MetricExportResult:
        points = _count_points(metrics_data)
        if points:
            self._submit(
                points,
                lambda: self.inner.export(metrics_data, timeout_millis=timeout_millis),
                MetricExportResult.SUCCESS,
            )
        return MetricExportResult.SUCCESS

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        self.lane.wait()
        self.inner.shutdown(timeout_millis=timeout_millis)


class TrackedLogExporter(_OnLane, LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, stats: ExportStats, lane: ExportLane) -> None:
        self._track(inner, stats, lane)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if batch:
            self._submit(len(batch), lambda: self.inner.export(batch), LogRecordExportResult.SUCCESS)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        self.lane.wait()
        self.inner.shutdown()


class TrackedSpanExporter(_OnLane, SpanExporter):
    def __init__(self, inner: SpanExporter, stats: ExportStats, lane: ExportLane) -> None:
        self._track(inner, stats, lane)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if spans:
            self._submit(len(spans), lambda: self.inner.export(spans), SpanExportResult.SUCCESS)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.lane.wait()
        self.inner.shutdown()
