"""rotel (a Rust OpenTelemetry collector, from PyPI) with its blackhole exporter, on a free port: the
collector the benchmarks send to."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_rotel() -> tuple[subprocess.Popen, int]:
    import rotel

    binary = pathlib.Path(rotel.__file__).parent / "rotel-agent"
    grpc_port, http_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "start",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{grpc_port}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{http_port}",
            "--exporter",
            "blackhole",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", grpc_port)) == 0:
                return proc, grpc_port
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("rotel did not start")
