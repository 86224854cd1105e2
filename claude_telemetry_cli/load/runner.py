"""`claude-telemetry load`: worker processes, each with its engine and its senders; the parent adds up
their counts for the live view and the final report, and stops them on time.

Every worker ships a snapshot of its counts twice a second and a last one when it is done, with the
totals of what the collector acknowledged. The parent stops the workers at --duration, at the first
failed export (unless failures are allowed), or on Ctrl-C; a worker finishes the requests in flight
within the export timeout, so a run never outlives --duration by more than that and a second.
"""

from __future__ import annotations

import asyncio
import gc
import math
import multiprocessing
import os
import queue as queue_module
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from claude_telemetry_cli.clock import Clock, RealClock
from claude_telemetry_cli.errors import (
    ExportError,
    Interrupted,
    TelemetryError,
    UsageError,
    VerificationFailed,
)
from claude_telemetry_cli.load.options import BATCH, LoadOptions
from claude_telemetry_cli.load.stats import LoadStats
from claude_telemetry_cli.records import Totals
from claude_telemetry_cli.settings import TelemetryConfig

__all__ = ["LoadResult", "LoadSpec", "run_load"]

_SNAPSHOT_EVERY_S = 0.5
# The shortest pause the event loop takes before the next due request. uvloop's timers count whole
# milliseconds: a shorter sleep wakes at once, and the loop spun until the request was due (at 100,000
# sessions that was most of a core). Requests due within the same millisecond go out together.
_MIN_PAUSE_S = 0.001
_DEFAULT = LoadOptions()


@dataclass(frozen=True)
class LoadSpec:
    """Everything a worker needs; sent to each worker process."""

    mode: str  # fleet | throughput
    config: TelemetryConfig
    preset: str = _DEFAULT.preset
    seed: int = _DEFAULT.seed
    sessions: int = _DEFAULT.sessions
    ramp_up_s: float = 0.0
    metric_interval_s: float = 60.0
    logs_interval_s: float = 5.0
    traces_interval_s: float = 5.0
    batch: int = BATCH
    rate: float | None = None
    duration_s: float | None = _DEFAULT.duration_s
    workers: int = 1
    concurrency: int = _DEFAULT.concurrency  # requests in flight per worker
    export_timeout_s: float = _DEFAULT.export_timeout_s
    track_totals: bool = False
    stop_on_failure: bool = True
    max_error_rate: float | None = None
    template_developers: int = 40
    # The activity, built once by the parent (activity.build_templates) and shipped to every worker.
    templates: tuple = ()

    @classmethod
    def from_options(cls, options: LoadOptions, config: TelemetryConfig, templates) -> LoadSpec:
        """The run `options` ask for under `config`: its export intervals unless the options say
        otherwise; the sessions started over one metric interval unless told, so their exports do not
        come in waves; one worker per core."""
        options.validate()
        interval_s = options.interval_s or config.metric_export_interval_ms / 1000
        ramp_up_s = options.ramp_up_s
        return cls(
            templates=tuple(templates),
            mode="throughput" if options.throughput else "fleet",
            config=config,
            preset=options.preset,
            seed=options.seed,
            sessions=options.sessions,
            ramp_up_s=ramp_up_s if ramp_up_s is not None else interval_s,
            metric_interval_s=interval_s,
            logs_interval_s=config.logs_export_interval_ms / 1000,
            traces_interval_s=config.traces_export_interval_ms / 1000,
            batch=options.batch or BATCH,
            rate=options.rate,
            duration_s=options.duration_s,
            workers=options.workers or os.cpu_count() or 1,
            concurrency=options.concurrency,
            export_timeout_s=options.export_timeout_s,
            track_totals=options.track_totals,
            stop_on_failure=not (options.allow_export_failures or options.max_error_rate is not None),
            max_error_rate=options.max_error_rate,
        )

    @property
    def warnings(self) -> list[str]:
        """What the user should know before the run: a --duration that ends before the ramp-up."""
        if self.mode != "fleet" or self.duration_s is None or self.ramp_up_s <= self.duration_s:
            return []
        from claude_telemetry_cli.durations import format_duration

        starting = min(self.sessions, math.ceil(self.sessions * self.duration_s / self.ramp_up_s))
        return [
            f"--duration {format_duration(self.duration_s)} ends before the ramp-up"
            f" ({format_duration(self.ramp_up_s)}): about {starting:,} of the {self.sessions:,} sessions"
            f" start, each sending what it holds when the run ends; --ramp-up"
            f" {format_duration(self.duration_s)} or less starts them all"
        ]


@dataclass
class LoadResult:
    stats: LoadStats
    elapsed_s: float
    totals: Totals | None = None
    interrupted: bool = False
    failure: str | None = None  # the first failed export, when it stopped the run
    errors: list[str] = field(default_factory=list)  # workers that could not run

    def ending(self, max_error_rate: float | None = None) -> TelemetryError | None:
        """Why the run counts as failed, or None. The workers' own errors are reported with the
        run's results, so the error they end it with says nothing more."""
        sent = self.stats.count()
        if self.errors and not sent:
            return UsageError()
        if self.interrupted:
            return Interrupted("interrupted: the report covers what was done until then")
        if self.failure:
            return ExportError(f"{self.failure} (--allow-export-failures to go on through failures)")
        if self.errors:
            return ExportError()
        if not sent:
            # A load test that sent nothing measured nothing: a pipeline must not take it for a pass.
            return VerificationFailed(
                "nothing was sent: no session had anything to export; lengthen --duration"
            )
        if max_error_rate is not None and self.stats.error_rate > max_error_rate:
            return VerificationFailed(
                f"error rate {self.stats.error_rate:.2%} is above --max-error-rate {max_error_rate:.2%}"
            )
        return None


def _rss_bytes() -> int:
    """This process's resident memory now (sampled with each snapshot, so the peak is within 0.5 s)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _settle_collector() -> None:
    """Keep Python's cyclic garbage collector from walking the whole fleet over and over.

    A fleet worker holds hundreds of thousands of long-lived objects (templates, then each session's
    state) and allocates a few short-lived ones per request. With the default thresholds the young
    objects are collected every 700 allocations and the older generations, the whole fleet, often:
    at 100,000 sessions on one core the schedule fell 1.4 s behind, 0.35 s with these settings. What
    was built before the run is frozen (never examined again); young collections run every 20,000
    allocations and full ones rarely; cyclic garbage is still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 1000)


def _share(total: int, workers: int, index: int) -> int:
    return total // workers + (1 if index < total % workers else 0)


def _worker(spec: LoadSpec, index: int, out, stop) -> None:
    """One worker process: build the activity, then produce and send until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    try:
        _work(spec, index, out, stop)
    except Exception as exc:  # reported by the parent as one line
        from claude_telemetry_cli.errors import TelemetryError

        message = exc.message if isinstance(exc, TelemetryError) else f"{type(exc).__name__}: {exc}"
        out.put(("error", index, message))


def _work(spec: LoadSpec, index: int, out, stop) -> None:
    from claude_telemetry_cli.contract import get_profile
    from claude_telemetry_cli.load.acknowledged import AcknowledgedTotals
    from claude_telemetry_cli.load.activity import build_templates
    from claude_telemetry_cli.load.engine import FleetEngine, ThroughputEngine
    from claude_telemetry_cli.load.transport import build_sender
    from claude_telemetry_cli.otlp.encode import OtlpEncoder

    config = spec.config
    profile = get_profile(config.profile)
    clock = RealClock()
    abort = threading.Event()  # stops retries in flight at shutdown
    senders = {}
    if config.metrics.otlp_enabled:
        senders["metrics"] = build_sender(config.metrics, spec.export_timeout_s, stop=abort, clock=clock)
    if config.logs.otlp_enabled and profile.emits_events:
        senders["logs"] = build_sender(config.logs, spec.export_timeout_s, stop=abort, clock=clock)
    if config.traces.otlp_enabled:
        senders["traces"] = build_sender(config.traces, spec.export_timeout_s, stop=abort, clock=clock)
    templates = spec.templates or build_templates(
        spec.preset,
        seed=spec.seed,
        options=config.emit,
        developers=spec.template_developers,
        tracing="traces" in senders,
    )
    encoder = OtlpEncoder(profile, config.temporality)
    common = {
        "templates": templates,
        "encoder": encoder,
        "seed": spec.seed,
        "first_number": index,
        "stride": spec.workers,
        "track_totals": spec.track_totals,
        "metrics_on": "metrics" in senders,
        "logs_on": "logs" in senders,
        "traces_on": "traces" in senders,
        "clock": clock,
    }
    if spec.mode == "fleet":
        engine = FleetEngine(
            sessions=_share(spec.sessions, spec.workers, index),
            metric_interval_s=spec.metric_interval_s,
            logs_interval_s=spec.logs_interval_s,
            ramp_up_s=spec.ramp_up_s,
            temporality=config.temporality,
            traces_interval_s=spec.traces_interval_s,
            **common,
        )
    else:
        rate = spec.rate / spec.workers if spec.rate else None
        engine = ThroughputEngine(batch=spec.batch, rate=rate, **common)

    stats = LoadStats()
    # Counts and sums of what was acknowledged, and what its events and spans carry.
    totals = AcknowledgedTotals() if spec.track_totals else None
    lock = threading.Lock()
    failure: list[str] = []

    def record(request, sender, outcome) -> None:
        with lock:
            stats.record(
                request.signal, outcome, request.points, request.events, len(request.body), request.spans
            )
            if outcome.ok:
                if totals is not None:
                    totals.add(request)
            elif not failure:
                failure.append(f"{request.signal} export to {sender.destination} failed: {outcome.code}")

    def snapshot() -> dict:
        with lock:
            stats.sessions_started = engine.started
            stats.sessions_active = engine.active
            stats.lag_max_s = engine.lag_max_s
            stats.peak_rss_bytes = max(stats.peak_rss_bytes, _rss_bytes())
            stats.cpu_s = time.process_time() - cpu_at_ready
            return stats.to_json()

    done = threading.Event()

    def report() -> None:
        while not clock.wait(done, _SNAPSHOT_EVERY_S):
            out.put(("stats", index, snapshot(), failure[0] if failure else None))

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    # What the process holds before its sessions: the memory they cost is what comes on top.
    stats.baseline_rss_bytes = _rss_bytes()
    cpu_at_ready = time.process_time()
    out.put(("ready", index, len(templates)))
    deadline = clock.now() + spec.duration_s if spec.duration_s is not None else None
    should_stop = (lambda: stop.is_set() or bool(failure)) if spec.stop_on_failure else stop.is_set
    steps = engine.steps(should_stop, deadline)
    _settle_collector()
    try:
        _run_loop(_play(steps, senders, record, should_stop, stop, abort, spec, clock))
    finally:
        done.set()
        reporter.join()
    final = snapshot()
    with lock:
        totals_json = totals.totals().to_json() if totals is not None else None
    out.put(("done", index, final, failure[0] if failure else None, totals_json))


def _run_loop(main) -> None:
    """Run `main` in a new event loop: uvloop's where it is installed (a tenth less CPU per gRPC call
    than asyncio's own loop, and cheaper timers and tasks), asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _play(steps, senders, record, should_stop, stop, abort, spec: LoadSpec, clock: Clock) -> None:
    """Play the engine in this thread's event loop, up to `concurrency` exchanges in flight (gRPC or
    HTTP): one thread does everything, with no hand-over between threads per request. The engine's
    pauses pass on `clock`, the one its schedule is read from."""
    from claude_telemetry_cli.load.engine import Request
    from claude_telemetry_cli.load.transport import Outcome

    loop = asyncio.get_running_loop()
    for sender in senders.values():
        await sender.open_async()
    slots = asyncio.Semaphore(spec.concurrency)
    in_flight: set[asyncio.Task] = set()

    async def exchange(request, sender) -> None:
        start = time.perf_counter()
        try:
            outcome = await sender.exchange(request.body)
        except asyncio.CancelledError:  # still in flight at the shutdown timeout: counted as failed
            record(request, sender, Outcome(False, "CANCELLED", time.perf_counter() - start))
            raise
        except Exception as exc:  # noqa: BLE001 - counted as failed, never lost
            outcome = Outcome(False, type(exc).__name__, time.perf_counter() - start)
        finally:
            slots.release()
        record(request, sender, outcome)

    async def free_slot() -> bool:
        if not slots.locked():
            await slots.acquire()  # at once
            return True
        while True:
            try:
                await asyncio.wait_for(slots.acquire(), 0.1)
                return True
            except TimeoutError:
                if should_stop():
                    return False

    for item in steps:
        if isinstance(item, Request):
            if not await free_slot():
                break
            task = loop.create_task(exchange(item, senders[item.signal]))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        else:
            await clock.sleep_async(max(item, _MIN_PAUSE_S))
    # Requests in flight finish (or give up) within the export timeout; retries stop at once if told.
    limit = clock.now() + spec.export_timeout_s + 1.0
    while in_flight and clock.now() < limit:
        if stop.is_set():
            abort.set()
        await clock.wait_tasks(in_flight, min(0.1, max(0.0, limit - clock.now())))
    abort.set()
    for task in in_flight:
        task.cancel()
    await asyncio.gather(*in_flight, return_exceptions=True)
    for sender in senders.values():
        await sender.close_async()


def run_load(
    spec: LoadSpec,
    on_update: Callable[[LoadStats, float], None] | None = None,
    *,
    clock: Clock | None = None,
) -> LoadResult:
    """Run the workers; `on_update(added-up counts, seconds elapsed)` about twice a second. The
    workers keep their own time; `clock` decides when the parent stops them."""
    clock = clock if clock is not None else RealClock()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    stop = ctx.Event()
    procs = [ctx.Process(target=_worker, args=(spec, i, out, stop), daemon=True) for i in range(spec.workers)]
    for p in procs:
        p.start()
    latest: dict[int, LoadStats] = {}
    finished: set[int] = set()
    totals_parts: list[dict] = []
    result = LoadResult(LoadStats(), 0.0)
    started = clock.now()
    ready_at: float | None = None
    hard_stop: float | None = None
    ready = 0

    def merged() -> LoadStats:
        total = LoadStats()
        for s in latest.values():
            total.merge(s)
        return total

    def stop_all(grace_s: float) -> None:
        nonlocal hard_stop
        stop.set()
        if hard_stop is None:
            hard_stop = clock.now() + grace_s

    grace = spec.export_timeout_s + 5.0
    next_update = 0.0
    while len(finished) < spec.workers:
        try:
            try:
                message = out.get(timeout=0.25)
            except queue_module.Empty:
                message = None
            now = clock.now()
            if message is not None:
                kind, index = message[0], message[1]
                if kind == "ready":
                    ready += 1
                    if ready == spec.workers:
                        ready_at = now
                elif kind == "stats":
                    latest[index] = LoadStats.from_json(message[2])
                    if message[3] and spec.stop_on_failure and result.failure is None:
                        result.failure = message[3]
                        stop_all(grace)
                elif kind == "done":
                    latest[index] = LoadStats.from_json(message[2])
                    if message[3] and spec.stop_on_failure and result.failure is None:
                        result.failure = message[3]
                        stop_all(grace)
                    if message[4] is not None:
                        totals_parts.append(message[4])
                    finished.add(index)
                elif kind == "error":
                    result.errors.append(message[2])
                    finished.add(index)
                    stop_all(grace)
            for i, p in enumerate(procs):
                if i not in finished and not p.is_alive() and p.exitcode not in (None, 0):
                    result.errors.append(f"worker {i} exited with code {p.exitcode}")
                    finished.add(i)
            # At --duration the workers stop producing and give requests in flight the export timeout;
            # one not done by then and a few seconds more is stopped, then terminated.
            overdue = ready_at is not None and spec.duration_s is not None
            if overdue and now > ready_at + spec.duration_s + grace:
                stop_all(2.0)
            if hard_stop is not None and now > hard_stop:
                break
            if on_update is not None and now >= next_update:
                next_update = now + 0.25
                on_update(merged(), now - (ready_at or now))
        except KeyboardInterrupt:
            result.interrupted = True
            stop_all(grace)
    limit = hard_stop if hard_stop is not None else clock.now() + grace
    for p in procs:
        p.join(timeout=max(0.1, limit - clock.now()))
        if p.is_alive():
            p.terminate()
            result.errors.append("a worker did not stop within the shutdown timeout and was terminated")
    result.stats = merged()
    result.elapsed_s = clock.now() - (ready_at or started)
    if spec.track_totals:
        result.totals = Totals.sum_of(Totals.from_json(part) for part in totals_parts)
    return result
