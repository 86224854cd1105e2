"""`run` when the collector dies or is absent: it ends within the export timeout, a signal while it waits
ends it at once, and the summary's counts add up (every request made was sent, or failed)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import free_port
from tests.support.cli import otlp_env, start_cli

pytestmark = pytest.mark.integration

EXPORT_TIMEOUT_S = 2

# In real time, events leave 1 s after they happen: start-up at 0 s, a retention sweep at 5 s, prompts at
# 8.1 s and 11.1 s, then nothing for ten minutes but the metrics' first export at 60 s.
QUIET_HOUR = """\
version: 1
name: quiet-hour
seed: 1
sessions:
  - steps:
      - prompt: {length: 10}
      - wait: 8s
      - prompt: {length: 10}
      - wait: 3s
      - prompt: {length: 10}
      - wait: 10m
      - prompt: {length: 10}
"""

# Start-up events leave at 1 s; the session ends with a prompt at 3.1 s, its exit exporting the rest.
SHORT = """\
version: 1
name: short
seed: 1
sessions:
  - steps:
      - prompt: {length: 10}
      - wait: 3s
      - prompt: {length: 10}
"""


def _run(scenario, env, *args: str) -> subprocess.Popen:
    return start_cli(
        ["run", str(scenario), "--json", *args],
        env=env,
        cwd=scenario.parent,
    )


def _prompts(sink) -> int:
    return sum(e.name == "user_prompt" for e in sink.events())


def _kill(collector) -> None:
    collector.proc.kill()
    collector.proc.wait()


def _assert_counts_add_up(exporters: list[dict]) -> None:
    for e in exporters:
        assert e["requests"] == e["sent_requests"] + e["failed_requests"], e


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_collector_dying_mid_run_ends_it_within_the_export_timeout(
    rotel_collector, otlp_sink, tmp_path, protocol
):
    scenario = tmp_path / "quiet-hour.yaml"
    scenario.write_text(QUIET_HOUR)
    env = otlp_env(rotel_collector.endpoint(protocol), protocol, OTEL_LOGS_EXPORT_INTERVAL="1000")
    proc = _run(scenario, env, "--export-timeout", str(EXPORT_TIMEOUT_S))
    try:
        assert otlp_sink.wait_for(lambda s: _prompts(s) == 2, timeout=60), proc.stderr
        _kill(rotel_collector)
        killed = time.monotonic()
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    elapsed = time.monotonic() - killed
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    # The next export (the third prompt's, 3 s later) finds the collector gone, gives up within the export
    # timeout and ends the run: the quiet ten minutes that follow are not waited out.
    assert elapsed < 3 + EXPORT_TIMEOUT_S + 6, elapsed
    data = json.loads(out)
    exporters = {e["signal"]: e for e in data["exporters"]}
    _assert_counts_add_up(exporters.values())
    logs = exporters["logs"]
    assert logs["sent_requests"] > 0 and logs["failed_requests"] > 0, logs
    # Every event replayed was sent, or counted as failed: none is lost from the counts.
    assert logs["items"] + logs["failed_items"] == data["scenarios"][0]["event_records"], logs
    assert exporters["metrics"]["failed_requests"] > 0  # the exit's metrics, never sent


class _DeadPort:
    """Where the collector was: every connection is closed unanswered, and counted, so a test knows
    when the run is retrying its exports."""

    def __init__(self, port: int) -> None:
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", port))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def wait_for(self, connections: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.connections < connections:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._server.close()


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_signal_while_the_run_waits_on_a_dead_collector_ends_it_at_once(
    rotel_collector, otlp_sink, tmp_path, protocol
):
    scenario = tmp_path / "short.yaml"
    scenario.write_text(SHORT)
    endpoint = rotel_collector.endpoint(protocol)
    env = otlp_env(endpoint, protocol, OTEL_LOGS_EXPORT_INTERVAL="1000")
    # A long export timeout: the exporters would go on retrying for most of a minute.
    proc = _run(scenario, env, "--export-timeout", "60")
    dead = None
    try:
        assert otlp_sink.wait_for(lambda s: _prompts(s) == 1, timeout=60), proc.stderr
        _kill(rotel_collector)
        dead = _DeadPort(int(endpoint.rsplit(":", 1)[1]))
        # The session's exit (at 3.1 s) sends its exports, and retries them: the replay is over, and the
        # run is waiting on them.
        assert dead.wait_for(3, timeout=30), "the exit's exports never came"
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        out, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - signalled
    finally:
        proc.kill()
        if dead is not None:
            dead.close()
    assert proc.returncode == 130, err
    assert "interrupted while delivering" in err and "Traceback" not in err
    assert elapsed < 5, elapsed
    data = json.loads(out)  # the summary of what was delivered
    assert data["scenarios"][0]["interrupted"]
    exporters = {e["signal"]: e for e in data["exporters"]}
    _assert_counts_add_up(exporters.values())
    assert exporters["logs"]["sent_requests"] > 0  # the start-up events, before the collector died
    assert all(e["failed_requests"] > 0 for e in exporters.values()), exporters


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_with_no_collector_every_request_counts_as_failed(tmp_path, protocol):
    env = otlp_env(f"http://127.0.0.1:{free_port()}", protocol)  # nothing listens there
    proc = subprocess.run(
        [sys.executable, "-m", "claude_telemetry_cli", "run", "team-day", "--instant", "--json"]
        + ["--export-timeout", str(EXPORT_TIMEOUT_S)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    data = json.loads(proc.stdout)
    exporters = {e["signal"]: e for e in data["exporters"]}
    assert set(exporters) == {"metrics", "logs"}
    for e in exporters.values():
        assert e["requests"] > 0 and e["sent_requests"] == 0 and e["items"] == 0, e
        assert e["failed_requests"] == e["requests"], e
    # Every event replayed is in a failed request, those the open sessions never got to send included.
    assert exporters["logs"]["failed_items"] == data["scenarios"][0]["event_records"]
