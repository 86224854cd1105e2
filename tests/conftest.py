"""Shared fixtures: real servers on free loopback ports, stopped by the test that started them."""

from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
import time

import pytest

from tests.support.otlp_sink import OtlpSink


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}"
            )
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def rotel_binary() -> str:
    found = shutil.which("rotel-agent")
    if found:
        return found
    import rotel

    path = pathlib.Path(rotel.__file__).parent / "rotel-agent"
    if not path.exists():
        pytest.fail("rotel-agent not found: run `make install-dev` (rotel is a test dependency from PyPI)")
    return str(path)


class Rotel:
    """A real OpenTelemetry collector (rotel), forwarding everything it receives over OTLP/gRPC.

    `exporters` replaces the forwarding setup, to build a misconfigured collector; `env` adds
    ROTEL_* variables. Its log goes to a file: an unread pipe could fill up and stall it.
    """

    def __init__(self, forward_to: str | None, *, exporters: list[str] | None = None, env=None) -> None:
        import os
        import tempfile

        self.grpc_port, self.http_port = free_port(), free_port()
        self._log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [
                rotel_binary(),
                "start",
                "--otlp-grpc-endpoint",
                f"127.0.0.1:{self.grpc_port}",
                "--otlp-http-endpoint",
                f"127.0.0.1:{self.http_port}",
                *(exporters or ["--exporter", "otlp", "--otlp-exporter-endpoint", forward_to]),
                "--batch-timeout",
                "50ms",
            ],
            env={**os.environ, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_for_port(self.grpc_port, self.proc)
        wait_for_port(self.http_port, self.proc)

    def endpoint(self, protocol: str) -> str:
        port = self.grpc_port if protocol == "grpc" else self.http_port
        return f"http://127.0.0.1:{port}"

    def stop(self) -> str:
        """Stop it and return its log."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.seek(0)
        log = self._log.read()
        self._log.close()
        return log


@pytest.fixture
def otlp_sink():
    sink = OtlpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def rotel_collector(otlp_sink):
    collector = Rotel(otlp_sink.endpoint)
    yield collector
    collector.stop()


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """A process environment with no telemetry variables (nor ANTHROPIC_BASE_URL or TERM, which every point
    and event reports), an empty HOME and an empty project dir."""
    import os

    for key in list(os.environ):
        if key.startswith(("OTEL_", "CLAUDE_CODE_", "NODE_EXTRA_CA_CERTS")) or key in (
            "ANTHROPIC_BASE_URL",
            "TERM",
        ):
            monkeypatch.delenv(key, raising=False)
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(project)
    return {"home": home, "project": project, "managed": tmp_path / "managed" / "managed-settings.json"}


@pytest.fixture
def receivers():
    """Start `receive` subprocesses (tests.support.receiver.Receiver); each is killed at the end."""
    from tests.support.receiver import Receiver

    started: list[Receiver] = []
    yield lambda *a, **k: started.append(Receiver(*a, **k)) or started[-1]
    for r in started:
        r.kill()
