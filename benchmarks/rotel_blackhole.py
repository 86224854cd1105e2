"""rotel (a Rust OpenTelemetry collector, from PyPI) with its blackhole exporter, on a free port: the
collector the benchmarks send to."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_rotel() -> tuple[subprocess.Popen, int]:
    """rotel on a free gRPC port: (process, gRPC port)."""
    proc, grpc_port, _ = start_rotel_ports()
    return proc, grpc_port


def start_rotel_ports(
    cores: set[int] | None = None, forward_to: str | None = None, options: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, int, int]:
    """rotel on free ports, on `cores` only if given: (process, gRPC port, HTTP port). It drops what it
    receives, or with `forward_to` (a URL) sends it on over OTLP/gRPC; `options`: more of its flags."""
    import rotel

    binary = pathlib.Path(rotel.__file__).parent / "rotel-agent"
    grpc_port, http_port = free_port(), free_port()
    if forward_to:
        exporter = ["--exporter", "otlp", "--otlp-exporter-endpoint", forward_to]
    else:
        exporter = ["--exporter", "blackhole"]
    proc = subprocess.Popen(
        [
            str(binary),
            "start",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{grpc_port}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{http_port}",
            *exporter,
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s, socket.socket() as h:
            if s.connect_ex(("127.0.0.1", grpc_port)) == 0 and h.connect_ex(("127.0.0.1", http_port)) == 0:
                return proc, grpc_port, http_port
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("rotel did not start")
