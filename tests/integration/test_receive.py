"""`receive` as a verdict, `smoke` as the self-contained check, and the CI recipe with rotel between."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import Rotel, free_port, wait_for_port
from tests.support.cli import otlp_env, run_cli, run_json, start_cli, telemetry_env

pytestmark = pytest.mark.integration


def test_smoke_verifies_every_protocol_and_temporality_with_no_server_installed(tmp_path):
    data = run_json(["smoke"], telemetry_env(), cwd=tmp_path, timeout=180)
    assert data["ok"] is True
    combos = {(c["protocol"], c["temporality"]) for c in data["cases"] if c["ok"]}
    assert combos == {(p, t) for p in ("grpc", "http/protobuf", "http/json") for t in ("delta", "cumulative")}
    proc = run_cli(
        ["smoke", "feature-branch", "--protocol", "grpc"], telemetry_env(), cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2/2 verified" in proc.stdout


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_receive_expect_exits_0_once_the_scenario_arrived(tmp_path, receivers, protocol):
    receiver = receivers(tmp_path, "--expect", "feature-branch", "--timeout", "60s")
    proc = run_cli(
        ["run", "feature-branch", "--instant"], otlp_env(receiver.endpoint(protocol), protocol), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    code, data, err = receiver.result()
    assert code == 0, err
    assert data["ok"] is True and data["verdict"]["mismatches"] == []
    assert data["received"]["sessions"] == 1


def test_receive_expect_totals_file_and_a_readable_diff_on_timeout(tmp_path, receivers):
    totals = tmp_path / "totals.json"
    totals.write_text(
        json.dumps(run_json(["scenarios", "totals", "feature-branch"], telemetry_env(), cwd=tmp_path))
    )
    receiver = receivers(tmp_path, "--expect-totals", str(totals), "--timeout", "10s")
    # Only the quickstart arrives: the verdict must say what is missing and what is extra.
    run_cli(["run", "quickstart", "--instant"], otlp_env(receiver.endpoint("grpc")), cwd=tmp_path)
    code, data, err = receiver.result()
    assert code == 1, err
    kinds = {m["kind"] for m in data["verdict"]["mismatches"]}
    assert {"missing", "extra"} <= kinds
    assert data["timed_out"] is True


def test_ci_recipe_run_through_rotel_into_receive(tmp_path, receivers):
    receiver = receivers(tmp_path, "--expect", "team-day", "--timeout", "90s")
    rotel = Rotel(receiver.endpoint("grpc"))
    try:
        proc = run_cli(["run", "team-day", "--instant"], otlp_env(rotel.endpoint("grpc")), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        code, data, err = receiver.result(timeout=120)
    finally:
        rotel.stop()
    assert code == 0, json.dumps(data.get("verdict"), indent=1)[:3000]
    assert data["received"]["sessions"] > 20


def test_a_collector_that_loses_the_events_fails_the_verdict(tmp_path, receivers):
    receiver = receivers(tmp_path, "--expect", "quickstart", "--timeout", "12s")
    rotel = Rotel(
        None,
        # Misconfigured: metrics are forwarded, every log batch goes nowhere.
        exporters=[
            "--exporters",
            "fwd:otlp,void:blackhole",
            "--exporters-metrics",
            "fwd",
            "--exporters-logs",
            "void",
        ],
        env={"ROTEL_EXPORTER_FWD_ENDPOINT": receiver.endpoint("grpc")},
    )
    try:
        run_cli(["run", "quickstart", "--instant"], otlp_env(rotel.endpoint("grpc")), cwd=tmp_path)
        code, data, err = receiver.result()
    finally:
        rotel.stop()
    assert code == 1
    events = {
        m["name"]: (m["expected"], m["received"])
        for m in data["verdict"]["mismatches"]
        if m["kind"] == "events"
    }
    assert events["user_prompt"] == (1, 0) and events["api_request"] == (2, 0)
    assert not [m for m in data["verdict"]["mismatches"] if m["kind"] != "events"]  # the metrics were fine


def test_a_collector_stage_that_drops_an_attribute_is_named(tmp_path, receivers):
    from tests.support.faulty_stage import AttributeDroppingStage

    receiver = receivers(tmp_path, "--expect", "quickstart", "--timeout", "12s")
    stage = AttributeDroppingStage(receiver.endpoint("grpc"), "model").start()
    rotel = Rotel(stage.endpoint)
    try:
        run_cli(["run", "quickstart", "--instant"], otlp_env(rotel.endpoint("grpc")), cwd=tmp_path)
        code, data, err = receiver.result()
    finally:
        rotel.stop()
        stage.stop()
    assert code == 1
    dropped = {m["name"] for m in data["verdict"]["mismatches"] if m["kind"] == "attribute dropped"}
    assert dropped == {"claude_code.token.usage", "claude_code.cost.usage", "claude_code.lines_of_code.count"}
    assert all(
        "'model'" in m["note"] for m in data["verdict"]["mismatches"] if m["kind"] == "attribute dropped"
    )


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_receive_dump_keeps_every_request_and_a_signal_prints_the_summary(tmp_path, receivers, signum):
    import signal

    dump = tmp_path / "dump.jsonl"
    receiver = receivers(tmp_path, "--dump", str(dump))
    run_cli(
        ["run", "quickstart", "--instant"],
        otlp_env(receiver.endpoint("http/json"), "http/json"),
        cwd=tmp_path,
    )
    receiver.proc.send_signal(getattr(signal, signum))
    code, data, err = receiver.result()
    assert code == 130
    assert data["interrupted"] is True and data["received"]["points"] > 0
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert {line["signal"] for line in lines} == {"metrics", "logs"}
    assert all(line["protocol"] == "http/json" for line in lines)
    points = sum(
        len(m["sum"]["dataPoints"])
        for line in lines
        if line["signal"] == "metrics"
        for rm in line["body"]["resourceMetrics"]
        for sm in rm["scopeMetrics"]
        for m in sm["metrics"]
    )
    assert points == data["received"]["points"]


def test_receive_requires_the_header_it_was_told_to(tmp_path, receivers):
    import signal

    receiver = receivers(tmp_path, "--require-header", "Authorization=Bearer sekrit")
    bad = run_cli(
        ["run", "quickstart", "--instant", "--export-timeout", "2"],
        otlp_env(receiver.endpoint("grpc")),
        cwd=tmp_path,
    )
    assert bad.returncode == 3
    good_env = otlp_env(
        receiver.endpoint("http/protobuf"),
        "http/protobuf",
        OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer sekrit",
    )
    good = run_cli(["run", "quickstart", "--instant"], good_env, cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    receiver.proc.send_signal(signal.SIGINT)
    code, data, err = receiver.result()
    assert code == 130
    assert data["received"]["points"] > 0
    assert any("unauthenticated" in k for k in data["received"]["errors"])
    assert "sekrit" not in err + json.dumps(data)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--expect", "quickstart", "--expect-totals", "x.json"], "exclude each other"),
        (["--expect-totals", "no-dir/sent.json"], "no directory"),
        (["--require-header", "nope"], "NAME=VALUE"),
        (["--tls-cert", "cert.pem"], "--tls-key"),
        (["--timeout", "soon"], "--timeout"),
        (["--expect", "no-such-scenario"], "no-such-scenario"),
    ],
)
def test_receive_bad_options_are_one_line_and_exit_2(tmp_path, args, fragment):
    proc = run_cli(["receive", "--grpc-port", "0", "--http-port", "0", *args], telemetry_env(), cwd=tmp_path)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert fragment in line


def test_a_totals_file_never_written_fails_the_verdict(tmp_path):
    proc = run_cli(
        [
            "receive",
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--expect-totals",
            "sent.json",
            "--timeout",
            "2s",
        ],
        telemetry_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "waiting for sent.json" in proc.stderr
    assert "sent.json was never written" in proc.stderr and "Traceback" not in proc.stderr


def test_receive_port_in_use_is_a_clear_error(tmp_path, otlp_sink):
    proc = run_cli(
        ["receive", "--grpc-port", str(otlp_sink.port), "--http-port", "0", "--timeout", "1s"],
        telemetry_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert str(otlp_sink.port) in proc.stderr and "Traceback" not in proc.stderr


def test_record_writes_a_scenario_whose_totals_equal_what_arrived(tmp_path):
    grpc_port, http_port = free_port(), free_port()
    out = tmp_path / "recorded.yaml"
    recorder = start_cli(
        [
            "record",
            "--out",
            str(out),
            "--grpc-port",
            str(grpc_port),
            "--http-port",
            str(http_port),
            "--idle",
            "2s",
            "--timeout",
            "60s",
        ],
        env=telemetry_env(),
        cwd=tmp_path,
    )
    try:
        wait_for_port(grpc_port, recorder)
        sent = run_cli(
            ["run", "failures", "--instant"], otlp_env(f"http://127.0.0.1:{grpc_port}"), cwd=tmp_path
        )
        assert sent.returncode == 0, sent.stderr
        stdout, stderr = recorder.communicate(timeout=60)
    finally:
        if recorder.poll() is None:
            recorder.kill()
    assert recorder.returncode == 0, stderr
    assert f"wrote {out}: 2 sessions" in stdout
    original = run_json(["scenarios", "totals", "failures"], telemetry_env(), cwd=tmp_path)
    replayed = run_json(["scenarios", "totals", str(out)], telemetry_env(), cwd=tmp_path)
    from claude_telemetry_cli.records import Totals

    # Counts and sums: a recording keeps those, not the ids and texts the events carried.
    assert Totals.from_json(replayed).equals(Totals.from_json(original), content=False)


def test_record_with_nothing_received_writes_nothing_and_says_so(tmp_path):
    out = tmp_path / "empty.yaml"
    proc = run_cli(
        ["record", "--out", str(out), "--grpc-port", "0", "--http-port", "0", "--timeout", "1s"],
        telemetry_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "not written" in proc.stderr and not out.exists()


def _stopped_listening(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> bool:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.005)
    return False


def _signal_again(proc: subprocess.Popen, signum) -> None:
    import contextlib
    import os

    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signum)


def test_record_stopped_by_sigterm_writes_what_it_recorded_even_when_signalled_again(tmp_path):
    import signal

    grpc_port = free_port()
    out = tmp_path / "recorded.yaml"
    recorder = start_cli(
        ["record", "--out", str(out)] + ["--grpc-port", str(grpc_port), "--http-port", "0"],
        env=telemetry_env(),
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        wait_for_port(grpc_port, recorder)
        sent = run_cli(
            ["run", "team-day", "--instant"], otlp_env(f"http://127.0.0.1:{grpc_port}"), cwd=tmp_path
        )
        assert sent.returncode == 0, sent.stderr
        recorder.send_signal(signal.SIGTERM)
        # It stopped listening and is rebuilding the day's sessions: as `timeout` does, signal again.
        assert _stopped_listening(grpc_port, recorder)
        _signal_again(recorder, signal.SIGTERM)
        stdout, stderr = recorder.communicate(timeout=60)
    finally:
        if recorder.poll() is None:
            recorder.kill()
    assert recorder.returncode == 0, stderr
    assert f"wrote {out}: 29 sessions" in stdout, stderr
    assert "Traceback" not in stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".recorded")] == []
    original = run_json(["scenarios", "totals", "team-day"], telemetry_env(), cwd=tmp_path)
    replayed = run_json(["scenarios", "totals", str(out)], telemetry_env(), cwd=tmp_path)
    assert replayed["events"] == original["events"]


def test_receive_signalled_again_while_finishing_still_prints_its_summary(tmp_path, receivers):
    import signal

    receiver = receivers(tmp_path, "--expect", "team-day", "--timeout", "60s")
    run_cli(["run", "quickstart", "--instant"], otlp_env(receiver.endpoint("grpc")), cwd=tmp_path)
    receiver.proc.send_signal(signal.SIGTERM)
    assert _stopped_listening(receiver.grpc_port, receiver.proc)
    _signal_again(receiver.proc, signal.SIGINT)
    code, data, err = receiver.result()
    assert code == 130, err
    assert data["interrupted"] is True and data["received"]["points"] > 0, err
    assert data["verdict"]["ok"] is False
