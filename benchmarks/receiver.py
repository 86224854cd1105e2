"""Receiver throughput: data points per second accepted by our OtlpServer + Reception, as a ratio to rotel.

    python benchmarks/receiver.py [--requests N] [--threads N] [--repeat N] [--workers N]

A fixed stream of realistic Claude Code metric requests (20 sessions, each request one session's export:
claude_code.token.usage and cost.usage per model and query source, plus the other counters, ~40 points
with Claude Code's attribute sets) is sent by --threads client threads over keep-alive connections, to:

  - our OtlpServer feeding a Reception (decode, tally per series), in its own process, as
    `claude-telemetry receive` runs it; with --workers N, in N worker processes sharing the ports,
    as `receive --workers N` runs it (a run ends once every point is tallied by the parent);
  - rotel (a Rust OpenTelemetry collector) with its blackhole exporter: receive, decode and drop.

Both are measured in the same run, over gRPC and HTTP/protobuf, each figure the best of --repeat.
The clients are the same Python threads for both, so their cost is in both figures: the ratio
understates how much faster rotel's receiving is, and only the ratio is meant to be compared.
"""

from __future__ import annotations

import argparse
import http.client
import pathlib
import socket
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GRPC_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
SESSIONS = 20
MODELS = ("claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listening on 127.0.0.1:{port}")


# ---------------------------------------------------------------------------------------------- requests


def build_requests(n: int) -> tuple[list[bytes], int]:
    """n serialized ExportMetricsServiceRequests, one session's delta export each; and the point total."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.metrics.v1.metrics_pb2 import (
        AggregationTemporality,
        Metric,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    def kv(key, value) -> KeyValue:
        if isinstance(value, bool):
            return KeyValue(key=key, value=AnyValue(bool_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=str(value)))

    resource = Resource(
        attributes=[
            kv("host.arch", "amd64"),
            kv("os.type", "linux"),
            kv("os.version", "6.8.0"),
            kv("service.name", "claude-code"),
            kv("service.version", "2.1.331"),
        ]
    )
    scope = InstrumentationScope(name="com.anthropic.claude_code", version="2.1.331")
    descriptions = {
        "claude_code.token.usage": ("Number of tokens used", "tokens"),
        "claude_code.cost.usage": ("Cost of the Claude Code session", "USD"),
        "claude_code.lines_of_code.count": ("Count of lines of code modified", ""),
        "claude_code.active_time.total": ("Total active time in seconds", "s"),
        "claude_code.code_edit_tool.decision": ("Count of code editing tool permission decisions", ""),
        "claude_code.commit.count": ("Number of git commits created", ""),
        "claude_code.pull_request.count": ("Number of pull requests created", ""),
    }

    def one(i: int) -> tuple[bytes, int]:
        session = i % SESSIONS
        base = [
            kv("user.id", f"{session * 7919:064x}"),
            kv("session.id", f"341c4ffb-b630-4199-bbaf-{session:012d}"),
            kv("organization.id", "5c3b2e4f-0a1d-4e6f-9b8a-7c6d5e4f3a2b"),
            kv("user.email", f"dev{session}@example.com"),
            kv("user.account_uuid", f"0f9e8d7c-6b5a-4938-2716-{session:012d}"),
            kv("anthropic.provider", "firstParty"),
            kv("terminal.type", "vscode"),
        ]
        series: dict[str, list[tuple[list[KeyValue], float]]] = {name: [] for name in descriptions}
        for model in MODELS:
            for source in ("main", "subagent"):
                attrs = [*base, kv("model", model), kv("query_source", source), kv("effort", "medium")]
                for kind, tokens in (
                    ("input", 1200),
                    ("output", 450),
                    ("cacheRead", 9000),
                    ("cacheCreation", 800),
                ):
                    series["claude_code.token.usage"].append(([*attrs, kv("type", kind)], tokens + i % 97))
                series["claude_code.cost.usage"].append((attrs, 0.0125 + (i % 13) / 1000))
        series["claude_code.lines_of_code.count"] += [
            ([*base, kv("type", t)], 10 + i % 7) for t in ("added", "removed")
        ]
        series["claude_code.active_time.total"] += [([*base, kv("type", t)], 3.5) for t in ("user", "cli")]
        series["claude_code.code_edit_tool.decision"] += [
            ([*base, kv("tool_name", tool), kv("decision", d), kv("source", "config")], 1)
            for tool in ("Edit", "Write")
            for d in ("accept", "reject")
        ]
        series["claude_code.commit.count"].append((base, 1))
        series["claude_code.pull_request.count"].append((base, 1))
        metrics, count = [], 0
        for name, points in series.items():
            description, unit = descriptions[name]
            data_points = [
                NumberDataPoint(
                    attributes=attrs,
                    start_time_unix_nano=1_795_557_130_700_000_000 + i * 60_000_000_000,
                    time_unix_nano=1_795_557_190_700_000_000 + i * 60_000_000_000,
                    as_double=float(value),
                )
                for attrs, value in points
            ]
            count += len(data_points)
            temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
            metrics.append(
                Metric(
                    name=name,
                    description=description,
                    unit=unit,
                    sum=Sum(data_points=data_points, aggregation_temporality=temporality, is_monotonic=True),
                )
            )
        request = ExportMetricsServiceRequest(
            resource_metrics=[
                ResourceMetrics(resource=resource, scope_metrics=[ScopeMetrics(scope=scope, metrics=metrics)])
            ]
        )
        return request.SerializeToString(), count

    built = [one(i) for i in range(n)]
    return [b for b, _ in built], sum(c for _, c in built)


# ---------------------------------------------------------------------------------------------- clients


def send_all(protocol: str, port: int, bodies: list[bytes], threads: int) -> float:
    """Seconds for `threads` clients to send every body once (connections opened before the clock starts)."""
    import grpc

    ready = threading.Barrier(threads + 1)
    done = threading.Barrier(threads + 1)
    failures: list[str] = []

    def client(chunk: list[bytes]) -> None:
        channel = conn = None
        try:
            if protocol == "grpc":
                channel = grpc.insecure_channel(f"127.0.0.1:{port}")
                grpc.channel_ready_future(channel).result(timeout=10)
                export = channel.unary_unary(GRPC_METHOD)
            else:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.connect()
            ready.wait()
            for body in chunk:
                if protocol == "grpc":
                    export(body, timeout=30)
                else:
                    conn.request("POST", "/v1/metrics", body, {"Content-Type": "application/x-protobuf"})
                    response = conn.getresponse()
                    response.read()
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}")
        except Exception as e:  # reported by the main thread
            failures.append(f"{protocol}: {e}")
            ready.abort()
        finally:
            try:
                done.wait()
            except threading.BrokenBarrierError:
                pass
            if channel is not None:
                channel.close()
            if conn is not None:
                conn.close()

    workers = [
        threading.Thread(target=client, args=(bodies[t::threads],), daemon=True) for t in range(threads)
    ]
    for w in workers:
        w.start()
    try:
        ready.wait()
        started = time.perf_counter()
        done.wait()
        elapsed = time.perf_counter() - started
    except threading.BrokenBarrierError:
        done.abort()
        elapsed = float("nan")
    for w in workers:
        w.join()
    if failures:
        raise SystemExit(f"a client failed: {failures[0]}")
    return elapsed


# ---------------------------------------------------------------------------------------------- servers


def serve(workers: int) -> None:
    """--serve: our receiver in this process (and its workers), ports on the first line; stdin:
    `points N` (the points tallied, once they are N or 30 s passed), `reset`, EOF."""
    from claude_telemetry_cli.receiver.reception import Reception
    from claude_telemetry_cli.receiver.server import OtlpServer
    from claude_telemetry_cli.receiver.workers import WorkerPool

    reception = Reception()
    if workers > 1:
        server = WorkerPool(reception, workers=workers, grpc_port=0, http_port=0).start()
    else:
        server = OtlpServer(reception, grpc_port=0, http_port=0).start()
    print(server.grpc_port, server.http_port, flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "points":
            # Workers report what they tallied within a fraction of a second.
            deadline, generation = time.monotonic() + 30, -1
            while reception.snapshot()["points"] < int(args[0]) and time.monotonic() < deadline:
                generation = reception.wait_for_change(generation, 0.1)
            print(reception.snapshot()["points"], flush=True)
        elif command == "reset":
            reception.reset()
            print("ok", flush=True)
    server.stop()


class Ours:
    name = "OtlpServer + Reception"

    def __init__(self, workers: int) -> None:
        if workers > 1:
            self.name = f"receive --workers {workers}"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--workers", str(workers)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        grpc_port, http_port = self.proc.stdout.readline().split()
        self.ports = {"grpc": int(grpc_port), "http/protobuf": int(http_port)}

    def ask(self, command: str) -> str:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


class Rotel:
    name = "rotel --exporter blackhole"

    def __init__(self) -> None:
        import rotel

        binary = pathlib.Path(rotel.__file__).parent / "rotel-agent"
        self.ports = {"grpc": free_port(), "http/protobuf": free_port()}
        self.proc = subprocess.Popen(
            [
                str(binary),
                "start",
                "--otlp-grpc-endpoint",
                f"127.0.0.1:{self.ports['grpc']}",
                "--otlp-http-endpoint",
                f"127.0.0.1:{self.ports['http/protobuf']}",
                "--exporter",
                "blackhole",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in self.ports.values():
            wait_for_port(port, self.proc)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=1, help="receiver processes, as `receive --workers` (default 1)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.workers)
        return

    bodies, points = build_requests(args.requests)
    size = sum(map(len, bodies)) / len(bodies)
    print(
        f"receiver throughput: {args.requests} metric requests ({points / args.requests:.0f} points, "
        f"{size / 1024:.1f} KiB each; {SESSIONS} sessions) sent by {args.threads} client threads, "
        f"best of {args.repeat}; receiver workers: {args.workers}"
    )
    ours, rotel = Ours(args.workers), Rotel()
    best: dict[tuple[str, str], float] = {}
    try:
        for protocol in ("grpc", "http/protobuf"):
            for server in (rotel, ours):
                for _ in range(args.repeat):
                    if server is ours:
                        ours.ask("reset")
                    elapsed = send_all(protocol, server.ports[protocol], bodies, args.threads)
                    if server is ours and int(ours.ask(f"points {points}")) != points:
                        raise SystemExit("OtlpServer did not tally every point sent")
                    key = (protocol, server.name)
                    best[key] = min(best.get(key, float("inf")), elapsed)
    finally:
        ours.stop()
        rotel.stop()

    for protocol in ("grpc", "http/protobuf"):
        rotel_rate = points / best[protocol, rotel.name]
        ours_rate = points / best[protocol, ours.name]
        print(f"  {protocol}:")
        print(f"    {rotel.name:<28}: {rotel_rate:11,.0f} points/s")
        print(f"    {ours.name:<28}: {ours_rate:11,.0f} points/s")
        print(f"    ratio ours / rotel          : {ours_rate / rotel_rate:11.2f}")


if __name__ == "__main__":
    main()
