"""History throughput and memory, each as a ratio to a baseline measured in the same run.

    python benchmarks/history.py [--days N] [--seconds S] [--month | --only-month] [--month-protocol P]

1. Records per second into rotel's blackhole exporter, on one generated small team of --days days
   (compiled once, then sent each way), over gRPC and over HTTP/protobuf:
   - `run --start-at` (history: the direct encoder, every process's exports in time order);
   - `run --instant` (the faithful path: one OpenTelemetry SDK pipeline per process);
   - the raw floor: one pre-encoded request of the stream's average size sent in a loop by the
     protocol's client (grpc.aio; the keep-alive HTTP/1.1 connections history uses), as many in flight
     as history keeps, counted as the stream's records per request.
   Each is compiled as `run` compiles it (history: every session encoded for sending as it is
   compiled), outside the timing; the whole command, compile and send, is printed beside it.
   Targets: history >= 10x `run --instant` and >= 0.5x the floor. A small team's exports carry about
   six records each, so over gRPC the floor itself (grpc.aio's cost per call) is near 5x `run --instant`:
   there the ratio to the floor is the one history controls.
2. Memory: the peak RSS of a process that sends --days days as history, against one that sends four
   times as many days: flat in the length of the period means a ratio near 1.
3. With --month: the 500-developer, 30-day enterprise month from `run --preset` to rotel, as a user
   runs it (on every core: its compile workers use them all), timed (target: under 10 minutes on a
   2-core machine) with its peak RSS.

rotel runs on the last core and the sender on the others where there are two or more, so the figures
measure the sender, not how the two share a core. Shared machines are noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load import loop_calls, raw_floor_aio  # noqa: E402
from benchmarks.replay import faithful, grpc_config, http_config  # noqa: E402
from benchmarks.rotel_blackhole import start_rotel_ports  # noqa: E402
from benchmarks.sender_env import sender_env  # noqa: E402

CONCURRENCY = 64  # history's default in flight


def _cores() -> tuple[set[int] | None, set[int] | None]:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return {cores[-1]}, set(cores[:-1])


def generate(days: int, directory: pathlib.Path) -> pathlib.Path:
    path = directory / f"team-{days}d.yaml"
    subprocess.run(
        [sys.executable, "-m", "claude_telemetry_cli", "generate", "--preset", "small-team"]
        + ["--days", str(days), "--seed", "1", "--out", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def history_rate(path: pathlib.Path, config, *, typical: bool = True) -> tuple[float, int, int, bytes, float]:
    """(records/s, records, requests, a metrics request of about the stream's average size: b"" without
    `typical`, which keeps every metrics request to choose it; seconds of compiling, as `run` compiles
    for history: each session encoded for sending as it is compiled)."""
    from claude_telemetry_cli.contract import get_profile
    from claude_telemetry_cli.history import (
        HistorySpooler,
        history_plan,
        history_window,
        scenario_exports,
        send_scenario_history,
    )
    from claude_telemetry_cli.otlp.encode import OtlpEncoder
    from claude_telemetry_cli.scenario.spool import compile_file

    began = time.perf_counter()
    compiled = compile_file(path, config.emit, tracing=False, totals=False, spooler=HistorySpooler("current"))
    compile_s = time.perf_counter() - began
    window = history_window(None, "now", compiled.duration, now_ns=time.time_ns())
    started = time.perf_counter()
    result = send_scenario_history(
        compiled, config, get_profile("current"), window, export_timeout_s=10, concurrency=CONCURRENCY
    )
    elapsed = time.perf_counter() - started
    assert result.ok, result.aborted
    if not typical:
        records = compiled.record_count
        compiled.close()
        return records / elapsed, records, result.requests, b"", compile_s
    plan = history_plan(config, window, signals={"metrics", "logs"})
    metric_bodies = [
        e.request.body
        for e in scenario_exports(compiled, OtlpEncoder(get_profile("current")), plan)
        if e.request.signal == "metrics"
    ]
    average = sum(map(len, metric_bodies)) / len(metric_bodies)
    typical = min(metric_bodies, key=lambda b: abs(len(b) - average))
    records = compiled.record_count
    compiled.close()
    return records / elapsed, records, result.requests, typical, compile_s


def instant_rate(path: pathlib.Path, config) -> tuple[float, float]:
    """(records/s of the replay, seconds of compiling as `run --instant` compiles)."""
    from claude_telemetry_cli.scenario.spool import compile_file

    began = time.perf_counter()
    compiled = compile_file(path, config.emit, tracing=False, totals=False)
    compile_s = time.perf_counter() - began
    try:
        return compiled.record_count / faithful(compiled, 0, config), compile_s
    finally:
        compiled.close()


def raw_floor_http(config, body: bytes, seconds: float, in_flight: int) -> float:
    """Requests per second of one pre-encoded metrics request over history's HTTP client (keep-alive
    HTTP/1.1, `in_flight` connections) in one event loop."""

    import uvloop

    from claude_telemetry_cli.load.transport import HttpSender

    sender = HttpSender(config.metrics, 10)

    async def exchange() -> None:
        outcome = await sender.exchange(body)
        assert outcome.ok, outcome

    async def main() -> float:
        await sender.open_async()
        rate = await loop_calls(exchange, seconds, in_flight)
        await sender.close_async()
        return rate

    return uvloop.run(main())


def _peak_rss_child(path: pathlib.Path, port: int, out) -> None:
    history_rate(path, grpc_config(port), typical=False)
    out.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def peak_rss(path: pathlib.Path, port: int) -> int:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_peak_rss_child, args=(path, port, queue))
    child.start()
    value = queue.get(timeout=3600)
    child.join()
    return value


def month(endpoint: str, protocol: str) -> tuple[float, int]:
    """`run --preset enterprise --developers 500 --days 30 --seed 1 --end-at now` into rotel, on every
    core, as a user runs it (this process is pinned to the sender's cores; the run is not)."""
    env = sender_env(endpoint, protocol)
    command = [sys.executable, "-m", "claude_telemetry_cli", "run", "--preset", "enterprise"]
    command += ["--developers", "500", "--days", "30", "--seed", "1", "--end-at", "now", "--json"]
    every_core = set(range(os.cpu_count() or 1))
    started = time.perf_counter()
    proc = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, every_core),
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"the month failed: {proc.stderr.strip()[-500:]}")
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def throughput(days: int, seconds: float, grpc_port: int, http_port: int, directory: pathlib.Path) -> None:
    small = generate(days, directory)
    for protocol, config in (("grpc", grpc_config(grpc_port)), ("http/protobuf", http_config(http_port))):
        history, records, requests, typical, history_compile = history_rate(small, config)
        history = max(history, history_rate(small, config)[0])  # the better of two
        instant, instant_compile = instant_rate(small, config)
        per_request = records / requests
        if protocol == "grpc":
            client = "grpc.aio"
            floor = raw_floor_aio(grpc_port, typical, 1, seconds, CONCURRENCY) * per_request
        else:
            client = "HTTP/1.1"
            floor = raw_floor_http(config, typical, seconds, CONCURRENCY) * per_request
        print(f"\n{protocol}, small team, {days} days: {records:,} records, {requests:,} requests")
        print(f"{'run --start-at (history)':<34} {history:>12,.0f} records/s")
        print(f"{'run --instant (SDK per process)':<34} {instant:>12,.0f} records/s")
        label = f"raw floor, {client}, {CONCURRENCY} in flight"
        print(f"{label:<34} {floor:>12,.0f} records/s")
        print(f"history / run --instant = {history / instant:.1f}  (target >= 10)")
        print(f"history / floor         = {history / floor:.2f}  (target >= 0.5)")
        print(f"floor / run --instant   = {floor / instant:.1f}")
        # History encodes each session as it compiles it: the whole command, compile and send, too.
        whole_history = history_compile + records / history
        whole_instant = instant_compile + records / instant
        print(
            f"compile + send: history {whole_history:.2f}s ({history_compile:.2f}s compiling),"
            f" --instant {whole_instant:.2f}s ({instant_compile:.2f}s): {whole_instant / whole_history:.1f}x"
        )

    longer = generate(days * 4, directory)
    short_rss, long_rss = peak_rss(small, grpc_port), peak_rss(longer, grpc_port)
    print(
        f"\npeak RSS: {days} days {short_rss / 2**20:,.0f} MiB, {days * 4} days"
        f" {long_rss / 2**20:,.0f} MiB: ratio {long_rss / short_rss:.2f} (flat: near 1)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=7, help="days of the small team (default 7)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of the raw floor loop")
    parser.add_argument("--month", action="store_true", help="also time the 500-developer month")
    parser.add_argument("--only-month", action="store_true", help="time the month alone")
    parser.add_argument(
        "--month-protocol",
        default="http/protobuf",
        choices=["grpc", "http/protobuf"],
        help="the month's protocol (default http/protobuf, the faster for large histories)",
    )
    args = parser.parse_args()

    rotel_cores, own_cores = _cores()
    if own_cores:
        os.sched_setaffinity(0, own_cores)
    rotel, grpc_port, http_port = start_rotel_ports(rotel_cores)
    print(
        f"rotel on cores {sorted(rotel_cores) if rotel_cores else 'shared'},"
        f" sender on {sorted(own_cores or [])}"
    )
    try:
        if not args.only_month:
            with tempfile.TemporaryDirectory() as tmp:
                throughput(args.days, args.seconds, grpc_port, http_port, pathlib.Path(tmp))
        if args.month or args.only_month:
            port = grpc_port if args.month_protocol == "grpc" else http_port
            elapsed, rss = month(f"http://127.0.0.1:{port}", args.month_protocol)
            print(
                f"\nenterprise month, 500 developers, --preset to rotel over {args.month_protocol}:"
                f" {elapsed / 60:.1f} min (target < 10), peak RSS {rss / 2**20:,.0f} MiB"
            )
    finally:
        rotel.terminate()
        rotel.wait()


if __name__ == "__main__":
    main()
