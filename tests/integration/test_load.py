"""`load` against real collectors: what it reports, what arrives behind the collector, and what happens
when the collector is down, killed, throttling, or the user presses Ctrl-C."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.conftest import Rotel, free_port
from tests.support.cli import otlp_env, run_cli, start_cli, telemetry_env
from tests.support.throttle import ThrottlingCollector, ThrottlingGrpcCollector

pytestmark = pytest.mark.integration

FAST = {"OTEL_LOGS_EXPORT_INTERVAL": "500"}


def _load(args, env, tmp_path, timeout=120):
    proc = run_cli(["load", "--json", *args], env, cwd=tmp_path, timeout=timeout)
    data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, data, proc.stderr


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_what_the_collector_acknowledged_is_what_arrives_behind_it(tmp_path, receivers, protocol):
    sent = tmp_path / "sent.json"
    # Started first, as in a CI job: it waits for the totals file load writes at its end.
    receiver = receivers(tmp_path, "--expect-totals", str(sent), "--timeout", "120s")
    rotel = Rotel(receiver.endpoint("grpc"))
    try:
        code, data, err = _load(
            [
                "--sessions",
                "60",
                "--interval",
                "1s",
                "--ramp-up",
                "2s",
                "--duration",
                "8s",
                "--workers",
                "2",
                "--totals-out",
                str(sent),
            ],
            otlp_env(rotel.endpoint(protocol), protocol, **FAST),
            tmp_path,
        )
        assert code == 0, err
        rcode, verdict, rerr = receiver.result(timeout=150)
    finally:
        rotel.stop()
    assert data["requests"]["failed"] == data["requests"]["rejected"] == 0
    assert data["points"]["acknowledged"] == data["points"]["sent"] > 0
    assert data["events"]["acknowledged"] == data["events"]["sent"] > 0
    assert data["sessions"]["active"] == 60
    assert rcode == 0, json.dumps(verdict.get("verdict"), indent=1)[:2000] + rerr
    assert verdict["ok"] is True
    # 60 distinct session ids arrived, each its own process.
    assert verdict["received"]["sessions"] >= 60
    totals = json.loads(sent.read_text())
    assert sum(totals["events"].values()) == data["events"]["acknowledged"]


def test_a_run_shorter_than_the_ramp_up_delivers_what_its_sessions_hold(tmp_path, receivers):
    # The default intervals: no session reaches its first export (60 s) or log flush (5 s) within
    # --duration, so all that arrives is what each one flushes at the end, as Claude Code does at exit.
    sent = tmp_path / "sent.json"
    receiver = receivers(tmp_path, "--expect-totals", str(sent), "--timeout", "120s")
    rotel = Rotel(receiver.endpoint("grpc"))
    try:
        code, data, err = _load(
            ["--sessions", "400", "--duration", "3s", "--workers", "1", "--totals-out", str(sent)],
            otlp_env(rotel.endpoint("grpc")),
            tmp_path,
        )
        assert code == 0, err
        rcode, verdict, rerr = receiver.result(timeout=150)
    finally:
        rotel.stop()
    warnings = [line for line in err.splitlines() if "ends before the ramp-up" in line]
    assert len(warnings) == 1 and "of the 400 sessions start" in warnings[0], err
    assert 0 < data["sessions"]["started"] < 400
    assert data["points"]["acknowledged"] == data["points"]["sent"] > 0
    assert data["events"]["acknowledged"] == data["events"]["sent"] > 0
    assert rcode == 0, json.dumps(verdict.get("verdict"), indent=1)[:2000] + rerr
    assert verdict["received"]["sessions"] == data["sessions"]["started"]
    totals = json.loads(sent.read_text())
    assert sum(totals["events"].values()) == data["events"]["acknowledged"]


def test_a_run_that_sent_nothing_exits_1(tmp_path, otlp_sink):
    code, data, err = _load(
        ["--sessions", "5", "--duration", "1ms", "--workers", "1"],
        otlp_env(otlp_sink.endpoint, logs=False),
        tmp_path,
    )
    assert code == 1, err
    assert data["ok"] is False and data["requests"]["sent"] == 0
    assert "nothing was sent" in err and "Traceback" not in err


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_throughput_mode_reports_what_it_sent(tmp_path, protocol):
    rotel = Rotel(None, exporters=["--exporter", "blackhole"])
    try:
        code, data, err = _load(
            ["--throughput", "--batch", "50", "--duration", "3s", "--workers", "1"],
            otlp_env(rotel.endpoint(protocol), protocol),
            tmp_path,
        )
    finally:
        rotel.stop()
    assert code == 0, err
    assert data["mode"] == "throughput"
    assert data["requests"]["accepted"] == data["requests"]["sent"] > 20
    assert data["points"]["sent"] > 0 and data["events"]["sent"] > 0
    assert 0 < data["latency_ms"]["p50"] <= data["latency_ms"]["p99"] <= data["latency_ms"]["max"]
    assert data["throughput"]["points_per_s"] > 0
    # What the load generator itself cost, to tell whether it or the collector was the limit.
    assert 0 < data["cpu"]["seconds"] and 0 < data["cpu"]["per_request_us"]
    assert 0 < data["cpu"]["cores"] <= 1.1


def test_a_rate_is_kept(tmp_path):
    rotel = Rotel(None, exporters=["--exporter", "blackhole"])
    try:
        code, data, err = _load(
            ["--throughput", "--rate", "20", "--duration", "3s", "--workers", "1"],
            otlp_env(rotel.endpoint("grpc")),
            tmp_path,
        )
    finally:
        rotel.stop()
    assert code == 0, err
    assert 30 <= data["requests"]["sent"] <= 65, data["requests"]


def test_a_collector_that_is_down_stops_the_run_with_exit_3(tmp_path):
    env = otlp_env(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    code, data, err = _load(
        [
            "--sessions",
            "20",
            "--interval",
            "1s",
            "--duration",
            "30s",
            "--workers",
            "1",
            "--export-timeout",
            "2",
        ],
        env,
        tmp_path,
    )
    assert code == 3, err
    assert "failed: UNAVAILABLE" in err and "--allow-export-failures" in err
    assert data["requests"]["failed"] >= 1 and data["requests"]["accepted"] == 0
    assert time.monotonic() - started < 25  # stopped at the first failure, not at --duration


def test_with_failures_allowed_every_failed_request_is_counted(tmp_path):
    env = otlp_env(f"http://127.0.0.1:{free_port()}", "http/protobuf")
    code, data, err = _load(
        [
            "--sessions",
            "20",
            "--interval",
            "1s",
            "--duration",
            "4s",
            "--workers",
            "1",
            "--export-timeout",
            "0.5",
            "--allow-export-failures",
        ],
        env,
        tmp_path,
    )
    assert code == 0, err
    assert data["requests"]["failed"] == data["requests"]["sent"] > 0
    assert data["requests"]["by_outcome"]["failed"]
    assert all("connection refused" in k for k in data["requests"]["by_outcome"]["failed"])
    code, data, err = _load(
        [
            "--sessions",
            "20",
            "--interval",
            "1s",
            "--duration",
            "3s",
            "--workers",
            "1",
            "--export-timeout",
            "0.5",
            "--max-error-rate",
            "0.5",
        ],
        env,
        tmp_path,
    )
    assert code == 1, err
    assert "above --max-error-rate" in err


def test_a_collector_killed_mid_run_is_reported_not_hidden(tmp_path, otlp_sink):
    # rotel forwards to a sink, so the test sees when the load is under way before killing it.
    rotel = Rotel(otlp_sink.endpoint)
    proc = start_cli(
        [
            "load",
            "--json",
            "--sessions",
            "50",
            "--interval",
            "1s",
            "--duration",
            "30s",
            "--workers",
            "1",
            "--export-timeout",
            "1",
            "--allow-export-failures",
        ],
        env=otlp_env(rotel.endpoint("grpc"), **FAST),
        cwd=tmp_path,
    )
    assert otlp_sink.wait_for(lambda sink: len(sink.metric_requests) >= 3, timeout=90), proc.poll()
    rotel.proc.kill()
    started = time.monotonic()
    out, err = proc.communicate(timeout=60)
    rotel.stop()
    assert proc.returncode == 0, err
    data = json.loads(out)
    assert data["requests"]["accepted"] > 0
    assert data["requests"]["failed"] > 0
    assert data["points"]["acknowledged"] < data["points"]["sent"]
    # --duration plus the export timeout and a bounded shutdown, never a hang.
    assert time.monotonic() - started < 45


@pytest.mark.parametrize(
    ("protocol", "collector_type"),
    [("http/protobuf", ThrottlingCollector), ("grpc", ThrottlingGrpcCollector)],
)
def test_throttling_is_retried_after_what_the_collector_asked(tmp_path, protocol, collector_type):
    collector = collector_type(refuse_first=3, retry_after_s=1.0).start()
    try:
        code, data, err = _load(
            [
                "--throughput",
                "--rate",
                "2",
                "--duration",
                "2s",
                "--workers",
                "1",
                "--concurrency",
                "1",
                "--export-timeout",
                "10",
            ],
            otlp_env(collector.endpoint, protocol, logs=False),
            tmp_path,
        )
    finally:
        collector.stop()
    assert code == 0, err
    assert data["requests"]["retries"] == 3
    assert data["requests"]["failed"] == 0
    assert data["requests"]["accepted"] == collector.accepted
    assert collector.retry_gaps and min(collector.retry_gaps) >= 0.95


def test_ctrl_c_prints_the_report_and_exits_130(tmp_path, otlp_sink):
    proc = start_cli(
        [
            "load",
            "--json",
            "--sessions",
            "20",
            "--interval",
            "1s",
            "--duration",
            "inf",
            "--workers",
            "1",
        ],
        env=otlp_env(otlp_sink.endpoint, **FAST),
        cwd=tmp_path,
    )
    try:
        # Interrupted once it is sending, however long the start took on a busy machine.
        assert otlp_sink.wait_for(lambda sink: sink.metric_requests or sink.log_requests, timeout=90)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    data = json.loads(out)
    assert data["interrupted"] is True
    assert data["requests"]["accepted"] > 0
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "env_over", "needle"),
    [
        (["--rate", "5"], {}, "--rate and --batch are for --throughput"),
        (["--throughput", "--ramp-up", "5s"], {}, "are for fleet mode"),
        (["--duration", "soon"], {}, "--duration:"),
        (["--preset", "nosuch"], {}, "nosuch"),
        ([], {"CLAUDE_CODE_ENABLE_TELEMETRY": "0"}, "telemetry is off"),
        ([], {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "grpc or http/protobuf"),
        (
            [],
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-team=%E2%86%92",
            },
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, env_over, needle):
    env = {**otlp_env(f"http://127.0.0.1:{free_port()}"), **env_over}
    proc = run_cli(["load", "--duration", "2s", *args], env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_teaches_both_modes():
    proc = run_cli(["load", "--help"], telemetry_env(COLUMNS="200"))
    assert proc.returncode == 0
    for needle in ("Fleet mode", "--throughput", "--totals-out", "Exit codes"):
        assert needle in proc.stdout
