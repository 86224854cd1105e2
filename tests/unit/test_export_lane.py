"""Export lanes: one process's exports in order, and a backlog shared by all processes that holds the
replay back when the collector is slower, rather than queueing the rest of the scenario in memory."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry.sdk._logs.export import LogRecordExportResult

from claude_telemetry_cli.pipeline import CUT_OFF, ExportLane, ExportPool, ExportStats, TrackedLogExporter


class _WatchedBacklog(threading.Semaphore):
    """A backlog that tells when someone has to wait for a place."""

    def __init__(self, places: int) -> None:
        super().__init__(places)
        self.waiting = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if super().acquire(blocking=False):
            return True
        self.waiting.set()
        return super().acquire(blocking, timeout)


def test_a_full_backlog_holds_the_producer_until_an_export_is_done():
    pool = ThreadPoolExecutor(2)
    backlog = _WatchedBacklog(3)
    lanes = [ExportLane(pool, backlog) for _ in range(3)]
    release = threading.Event()
    done: list[int] = []

    def export(n: int):
        def job() -> None:
            release.wait(10)
            done.append(n)

        return job

    for n, lane in enumerate(lanes):
        lane.run(export(n))  # three places: none of these waits
    fourth_queued = threading.Event()

    def producer() -> None:
        lanes[0].run(export(3))
        fourth_queued.set()

    threading.Thread(target=producer, daemon=True).start()
    assert backlog.waiting.wait(10)  # held back: three exports are queued or running
    assert not fourth_queued.is_set()
    release.set()
    assert fourth_queued.wait(10)
    for lane in lanes:
        assert lane.wait(10)
    assert sorted(done) == [0, 1, 2, 3]
    assert done.index(0) < done.index(3)  # one process's exports stay in order
    pool.shutdown()


def test_discarded_exports_give_their_places_back():
    pool = ThreadPoolExecutor(1)
    backlog = threading.Semaphore(2)
    lane = ExportLane(pool, backlog)
    started, release = threading.Event(), threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(10)

    lane.run(blocking)
    assert started.wait(10)
    lane.run(lambda: None)  # queued behind the running one: the backlog is full
    assert lane.discard() == 1
    assert backlog.acquire(timeout=1)  # the discarded export's place is free again
    release.set()
    assert lane.wait(10)
    pool.shutdown()


class _Batch(list):
    """What a log processor hands its exporter."""


class _Answering:
    """An official exporter whose request waits for `answer` to be given."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.started = threading.Event()
        self.sent = 0

    def export(self, batch):
        self.sent += 1
        self.started.set()
        self.answer.wait(10)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def test_an_export_interrupted_while_it_waits_for_a_place_counts_as_failed():
    class _Interrupted(threading.Semaphore):
        def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
            raise KeyboardInterrupt

    stats = ExportStats("logs", "otlp grpc")
    exporter = TrackedLogExporter(_Answering(), stats, ExportLane(ThreadPoolExecutor(1), _Interrupted()))
    with pytest.raises(KeyboardInterrupt):
        exporter.export(_Batch(["a", "b"]))
    assert (stats.requests, stats.sent_requests, stats.failed_requests, stats.failed_items) == (1, 0, 1, 2)


def test_after_an_abort_every_request_is_counted_once_as_sent_or_failed():
    pool = ThreadPoolExecutor(1)
    lane = ExportLane(pool, threading.Semaphore(8))
    inner = _Answering()
    stats = ExportStats("logs", "otlp grpc")
    exporter = TrackedLogExporter(inner, stats, lane)
    exporter.export(_Batch(["under way"]))
    assert inner.started.wait(10)
    exporter.export(_Batch(["queued", "behind it"]))

    lane.abort()
    assert (stats.requests, stats.failed_requests, stats.failed_items) == (2, 1, 2)  # the queued one
    exporter.export(_Batch(["after the abort"]))  # counted at once, never sent
    assert (stats.requests, stats.failed_requests) == (3, 2) and inner.sent == 1
    lane.cut_off()  # nobody waits for the request under way any more
    assert (stats.requests, stats.sent_requests, stats.failed_requests) == (3, 0, 3)
    assert stats.last_error == CUT_OFF

    inner.answer.set()  # its answer, too late, changes nothing
    assert lane.wait(10)
    assert (stats.requests, stats.sent_requests, stats.failed_requests, stats.items) == (3, 0, 3, 0)
    pool.shutdown()


def test_the_export_pool_runs_jobs_on_daemon_threads_it_starts_as_needed():
    pool = ExportPool(2)
    ran, threads = threading.Event(), []

    def job() -> None:
        threads.append(threading.current_thread())
        ran.set()

    pool.submit(job)
    assert ran.wait(10)
    assert threads[0].daemon  # a request given up on never holds the program's exit
    pool.shutdown(wait=True)
    assert not threads[0].is_alive()
