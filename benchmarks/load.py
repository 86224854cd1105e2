"""Load generation: data points per second into rotel's blackhole, against a raw floor and a naive SDK loop.

    python benchmarks/load.py [--seconds S] [--batch N] [--concurrency C] [--fleet N,N,...] [--interval S]

All in one run, against the same rotel (a Rust OpenTelemetry collector, blackhole exporter), over gRPC:

  - raw floor: one realistic pre-encoded request (a --batch-point request of `load --throughput`),
    sent in a loop by a minimal grpc client, --concurrency requests in flight with the synchronous
    API's futures and with grpc.aio, and one blocking call at a time: the fastest of the three is about
    the most a Python sender can do;
  - naive SDK loop: what a user would write by hand, an OpenTelemetry MeterProvider with the official
    OTLP exporter, adding --batch points of the same series and flushing, in a loop;
  - `claude-telemetry load --throughput --workers 1`: one worker process, so the figure is per core.

It prints points per second for each and the ratios (targets: load >= 0.8 x floor, >= 4 x naive).
With --fleet it then runs fleet mode in one worker for each protocol (--fleet-protocols) and session
count at --interval, ramping the sessions up over one interval, with load's default requests in flight
(or --fleet-concurrency), and reports how far the schedule fell behind, the worker's CPU and the memory
per session: the largest count whose lag stays under a second is what one process sustains.

On two cores or more, rotel runs on the last core and everything else on the others, so what is
measured is the sender, not how it shares a core with the collector.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.rotel_blackhole import start_rotel_ports  # noqa: E402
from benchmarks.sender_env import sender_env  # noqa: E402

GRPC_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


def realistic_request(batch: int) -> tuple[bytes, list]:
    """The first full metrics request of load's throughput pool, and its points."""
    from claude_telemetry_cli.contract import get_profile
    from claude_telemetry_cli.load.activity import build_templates
    from claude_telemetry_cli.load.engine import ThroughputEngine
    from claude_telemetry_cli.otlp.encode import OtlpEncoder

    templates = build_templates("enterprise")
    engine = ThroughputEngine(
        templates, OtlpEncoder(get_profile("current")), batch=batch, logs_on=False, track_totals=True
    )
    request = next(r for r in engine.build_pool() if r.points == batch)
    return request.body, request.metric_items


def raw_floor(port: int, body: bytes, points: int, seconds: float, in_flight: int) -> float:
    """One pre-encoded request in a loop, `in_flight` at a time with gRPC's asynchronous calls (the
    fastest a Python gRPC client goes), or one blocking call after another when `in_flight` is 1."""
    import grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    export = channel.unary_unary(GRPC_METHOD)
    stop = time.monotonic() + seconds
    started = time.monotonic()
    sent = 0
    if in_flight == 1:
        while time.monotonic() < stop:
            export(body, timeout=10)
            sent += 1
    else:
        slots = threading.BoundedSemaphore(in_flight)
        while time.monotonic() < stop:
            slots.acquire()
            export.future(body, timeout=10).add_done_callback(lambda _f: slots.release())
            sent += 1
        for _ in range(in_flight):
            slots.acquire()
    elapsed = time.monotonic() - started
    channel.close()
    return sent * points / elapsed


async def loop_calls(call, seconds: float, in_flight: int) -> float:
    """Calls per second of `call()` (a coroutine function) for `seconds`, `in_flight` at a time, in the
    running event loop: the bare loop every floor here measures."""
    import asyncio

    slots = asyncio.Semaphore(in_flight)
    calls: set = set()

    async def one() -> None:
        try:
            await call()
        finally:
            slots.release()

    loop = asyncio.get_running_loop()
    started = time.monotonic()
    stop = started + seconds
    sent = 0
    while time.monotonic() < stop:
        await slots.acquire()
        task = loop.create_task(one())
        calls.add(task)
        task.add_done_callback(calls.discard)
        sent += 1
    await asyncio.gather(*calls)
    return sent / (time.monotonic() - started)


def raw_floor_aio(port: int, body: bytes, points: int, seconds: float, in_flight: int) -> float:
    """The same with grpc.aio in one event loop, `in_flight` calls at a time: what `load` itself uses."""
    import asyncio

    import grpc

    async def main() -> float:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        await channel.channel_ready()
        export = channel.unary_unary(GRPC_METHOD)
        rate = await loop_calls(lambda: export(body, timeout=10), seconds, in_flight)
        await channel.close()
        return rate * points

    return asyncio.run(main())


def naive_sdk(port: int, items: list, seconds: float) -> float:
    """A MeterProvider and the official exporter; add the request's points, flush, repeat."""
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import Counter, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource

    exporter = OTLPMetricExporter(
        endpoint=f"http://127.0.0.1:{port}",
        insecure=True,
        preferred_temporality={Counter: AggregationTemporality.DELTA},
    )
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
    provider = MeterProvider(resource=Resource({"service.name": "claude-code"}), metric_readers=[reader])
    meter = provider.get_meter("com.anthropic.claude_code")
    counters = {name: meter.create_counter(name) for name in {n for n, _, _ in items}}
    exported = 0
    stop = time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < stop:
        for name, attributes, value in items:
            counters[name].add(value, dict(attributes))
        exporter.export(reader.get_metrics_data())
        exported += 1
    elapsed = time.monotonic() - started
    exporter.shutdown()
    provider.shutdown()
    return exported * len(items) / elapsed


def run_load(endpoint: str, args: list[str], *, events: bool, protocol: str = "grpc") -> dict:
    env = sender_env(endpoint, protocol, logs=events)
    proc = subprocess.run(
        [sys.executable, "-m", "claude_telemetry_cli", "load", "--json", "--workers", "1", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise SystemExit(f"load failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def fleet(endpoint: str, protocol: str, n: int, opts) -> None:
    """One worker, `n` sessions ramped up over one interval, for 2.2 intervals: did it keep up?"""
    data = run_load(
        endpoint,
        [
            "--sessions",
            str(n),
            "--interval",
            f"{opts.interval:g}s",
            "--ramp-up",
            f"{opts.interval:g}s",
            "--duration",
            f"{opts.interval * 2.2:g}s",
            "--allow-export-failures",
            *([] if opts.fleet_concurrency is None else ["--concurrency", str(opts.fleet_concurrency)]),
        ],
        events=True,
        protocol=protocol,
    )
    memory, cpu, lag = data["memory"], data["cpu"], data["schedule_lag_max_s"]
    verdict = "keeps up" if lag < 1.0 else "falls behind"
    print(
        f"fleet {protocol:<13} {n:>7,} sessions @ {opts.interval:g}s: lag max {lag:6.2f}s ({verdict}),"
        f" {data['throughput']['requests_per_s']:,.0f} req/s, CPU {cpu['cores']:.2f} of a core"
        f" ({cpu['per_request_us'] or 0:,.0f} µs/req), peak {memory['peak_rss_bytes'] / 2**20:,.0f} MiB,"
        f" {memory['per_session_bytes'] or 0:,} B/session, failed {data['requests']['failed']}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput measurement")
    parser.add_argument("--batch", type=int, default=100, help="points per request")
    parser.add_argument(
        "--concurrency", type=int, default=256, help="requests in flight (floor and load; load's default)"
    )
    parser.add_argument(
        "--fleet-concurrency",
        type=int,
        default=None,
        help="requests in flight in fleet mode (default: load's)",
    )
    parser.add_argument("--fleet", default="", help="session counts for fleet mode, e.g. 2000,5000,10000")
    parser.add_argument("--interval", type=float, default=60.0, help="fleet mode's metric export interval")
    parser.add_argument(
        "--fleet-protocols", default="grpc,http/protobuf", help="protocols of the fleet runs, comma-separated"
    )
    opts = parser.parse_args()

    # The collector gets a core of its own (the last) when there are two or more, and the senders the
    # others: what one sending process sustains is measured, not how it shares a core with the collector.
    cores = sorted(os.sched_getaffinity(0))
    collector_cores = {cores[-1]} if len(cores) > 1 else None
    if collector_cores:
        os.sched_setaffinity(0, set(cores[:-1]))  # this process and the load processes it starts
    rotel, port, http_port = start_rotel_ports(collector_cores)
    endpoints = {"grpc": f"http://127.0.0.1:{port}", "http/protobuf": f"http://127.0.0.1:{http_port}"}
    where = f"rotel on core {cores[-1]}, senders on {cores[:-1]}" if collector_cores else "one core for all"
    try:
        body, items = realistic_request(opts.batch)
        print(f"request: {len(items)} points, {len(body):,} bytes; {opts.seconds:g}s each; {where}")
        floor_futures = raw_floor(port, body, len(items), opts.seconds, opts.concurrency)
        floor_aio = raw_floor_aio(port, body, len(items), opts.seconds, opts.concurrency)
        floor_1 = raw_floor(port, body, len(items), opts.seconds, 1)
        floor = max(floor_futures, floor_aio, floor_1)  # the fastest of the three ways to send
        naive = naive_sdk(port, items, opts.seconds)
        data = run_load(
            endpoints["grpc"],
            [
                "--throughput",
                "--batch",
                str(opts.batch),
                "--concurrency",
                str(opts.concurrency),
                "--duration",
                f"{opts.seconds:g}s",
            ],
            events=False,  # metric points only, like the floor and the SDK loop
        )
        load = data["throughput"]["points_per_s"]
        in_flight = f"{opts.concurrency} in flight"
        print(f"{'raw floor, futures, ' + in_flight:<34} {floor_futures:>12,.0f} points/s")
        print(f"{'raw floor, grpc.aio, ' + in_flight:<34} {floor_aio:>12,.0f} points/s")
        print(f"{'raw floor, one call at a time':<34} {floor_1:>12,.0f} points/s")
        print(f"{'naive SDK loop':<34} {naive:>12,.0f} points/s")
        print(f"{'load --throughput (1 worker)':<34} {load:>12,.0f} points/s")
        print(f"load / raw floor   = {load / floor:.2f}  (target >= 0.80, against the fastest floor)")
        print(f"load / naive SDK   = {load / naive:.2f}  (target >= 4)")
        for protocol in opts.fleet_protocols.split(","):
            for n in [int(x) for x in opts.fleet.split(",") if x.strip()]:
                fleet(endpoints[protocol], protocol, n, opts)
    finally:
        rotel.kill()
        rotel.wait()


if __name__ == "__main__":
    main()
