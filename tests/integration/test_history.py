"""`run --start-at/--end-at` through a real collector: the scenario lands at its own times in the past,
with exact totals, over every protocol; and what a user gets wrong is one line."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime, timezone

import pytest

from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.scenario import resolve_scenario
from claude_telemetry_cli.scenario.spool import compile_file
from tests.conftest import Rotel, free_port
from tests.support.cli import otlp_env, run_cli, telemetry_env

pytestmark = pytest.mark.integration

TRACING = {"CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1", "OTEL_TRACES_EXPORTER": "otlp"}


def _iso(ns: int) -> str:
    dt = datetime.fromtimestamp(ns // 10**9, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{(ns // 10**6) % 1000:03d}Z"


def _dumped(path):
    """(signal, body) of every request the receiver accepted."""
    return [(line["signal"], line["body"]) for line in map(json.loads, path.read_text().splitlines())]


@pytest.mark.parametrize(
    ("protocol", "tracing"), [("grpc", True), ("http/protobuf", False), ("http/json", True)]
)
def test_history_lands_at_its_own_times_with_exact_totals_through_a_collector(
    tmp_path, receivers, protocol, tracing
):
    extra = TRACING if tracing else {}
    dump = tmp_path / "dump.jsonl"
    receiver = receivers(
        tmp_path,
        "--expect",
        "team-day",
        "--timeout",
        "120s",
        "--dump",
        str(dump),
        env=telemetry_env(**extra),
    )
    rotel = Rotel(receiver.endpoint("grpc"))
    # Three days ago, on a whole millisecond: the window is 7h40m long.
    start_ns = (time.time_ns() - 3 * 86_400 * 10**9) // 10**6 * 10**6
    try:
        proc = run_cli(
            ["run", "team-day", "--start-at", _iso(start_ns), "--json"],
            otlp_env(rotel.endpoint(protocol), protocol, **extra),
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        code, verdict, err = receiver.result(timeout=150)
    finally:
        rotel.stop()
    assert code == 0, json.dumps(verdict.get("verdict"), indent=1)[:2000] + err
    summary = json.loads(proc.stdout)
    assert summary["ok"] is True and summary["window"]["start"] == _iso(start_ns)[:19] + "Z"
    assert {s["signal"] for s in summary["signals"]} == {"metrics", "logs"} | (
        {"traces"} if tracing else set()
    )
    assert all(s["failed"] == 0 and s["accepted"] == s["requests"] > 0 for s in summary["signals"])

    timeline = compile_file(resolve_scenario("team-day"), EmitOptions(), tracing=tracing)
    end_ns = start_ns + round(timeline.duration * 1e9)
    events_of = defaultdict(list)  # session.id -> the scenario's event names, in order
    first_ns = None
    for play in timeline.plays():
        for r in play.records:
            at = start_ns + round(r.at * 1e9)
            first_ns = at if first_ns is None else min(first_ns, at)
            if r.signal == "event":
                events_of[play.info.session_id].append(r.name)
    timeline.close()

    stamps, arrived = [], defaultdict(list)
    for signal, body in _dumped(dump):
        if signal == "metrics":
            for rm in body["resourceMetrics"]:
                for sm in rm["scopeMetrics"]:
                    for m in sm["metrics"]:
                        for p in m["sum"]["dataPoints"]:
                            stamps += [int(p["startTimeUnixNano"]), int(p["timeUnixNano"])]
        elif signal == "logs":
            for rl in body["resourceLogs"]:
                for sl in rl["scopeLogs"]:
                    for r in sl["logRecords"]:
                        attrs = {a["key"]: a["value"] for a in r["attributes"]}
                        stamps.append(int(r["timeUnixNano"]))
                        assert r["observedTimeUnixNano"] == r["timeUnixNano"]
                        assert attrs["event.timestamp"]["stringValue"] == _iso(int(r["timeUnixNano"]))
                        sid = attrs["session.id"]["stringValue"]
                        name = r["body"]["stringValue"].removeprefix("claude_code.")
                        arrived[sid].append(
                            (int(r["timeUnixNano"]), int(attrs["event.sequence"]["intValue"]), name)
                        )
        else:
            for rs in body["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        stamps += [int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])]
    # Every instant inside the window, the first at the start plus the first record's offset.
    assert all(start_ns <= t <= end_ns for t in stamps), (min(stamps), max(stamps), start_ns, end_ns)
    first_event = min(t for events in arrived.values() for t, _, _ in events)
    assert first_event == first_ns - first_ns % 10**6
    # Each session's events in its own order.
    assert {sid: [name for _, _, name in sorted(events)] for sid, events in arrived.items()} == dict(
        events_of
    )


def test_a_preset_large_enough_for_worker_processes_lands_exactly_through_a_collector(tmp_path, receivers):
    # 400 developer-days: compiled (and encoded for sending) by worker processes, then sent as history.
    preset = ["--preset", "enterprise", "--developers", "10", "--days", "40", "--seed", "3"]
    extra = TRACING
    expected = tmp_path / "expected.json"
    # Counted under the sender's configuration: with traces on, the spans too.
    sender = otlp_env("http://127.0.0.1:4318", "http/protobuf", **extra)
    totals = run_cli(["scenarios", "totals", *preset, "--json"], sender, cwd=tmp_path)
    assert totals.returncode == 0, totals.stderr
    expected.write_text(totals.stdout)
    receiver = receivers(
        tmp_path, "--expect-totals", str(expected), "--timeout", "300s", env=telemetry_env(**extra)
    )
    rotel = Rotel(receiver.endpoint("grpc"))
    try:
        proc = run_cli(
            ["run", *preset, "--end-at", "now", "--json"],
            otlp_env(rotel.endpoint("http/protobuf"), "http/protobuf", **extra),
            cwd=tmp_path,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        code, verdict, err = receiver.result(timeout=330)
    finally:
        rotel.stop()
    assert code == 0, json.dumps(verdict.get("verdict"), indent=1)[:2000] + err
    assert verdict["verdict"]["content_verified"] is True and verdict["verdict"]["spans_verified"] is True
    summary = json.loads(proc.stdout)
    assert summary["sessions"] > 400
    assert {s["signal"] for s in summary["signals"]} == {"metrics", "logs", "traces"}


class _RefusingCollector:
    """An OTLP/HTTP endpoint that refuses every request as too old, with a google.rpc.Status body, the
    way a backend with an ingestion window does (rotel accepts everything)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        body = b'{"code":3,"message":"sample too old: outside the ingestion window"}'

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server hook name
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_a_collector_that_refuses_old_samples_is_reported_per_signal_and_exit_3(tmp_path):
    collector = _RefusingCollector()
    try:
        proc = run_cli(
            ["run", "quickstart", "--end-at", "-1d", "--json"],
            otlp_env(collector.endpoint, "http/protobuf"),
            cwd=tmp_path,
            timeout=60,
        )
    finally:
        collector.stop()
    assert proc.returncode == 3, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "refused: 400: sample too old: outside the ingestion window" in last, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    refused = [s for s in summary["signals"] if s["failed"]]
    assert refused and all(s["first_failure"].startswith("400: sample too old") for s in refused)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--start-at", "2099-01-01"], "--start-at '2099-01-01' is in the future"),
        (["--start-at", "-1h"], "would end in the future"),
        (["--start-at", "-3d", "--end-at", "-1d"], "but the scenario lasts 7h40m"),
        (["--start-at", "last tuesday"], "--start-at 'last tuesday': not a time"),
        (["--end-at", "now", "--instant"], "--instant, --speed and --linger do not apply"),
    ],
)
def test_a_window_that_cannot_be_is_one_line_and_exit_2(tmp_path, args, fragment):
    env = otlp_env(f"http://127.0.0.1:{free_port()}", "grpc")
    proc = run_cli(["run", "team-day", *args], env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_history_needs_an_otlp_exporter(tmp_path):
    env = telemetry_env(CLAUDE_CODE_ENABLE_TELEMETRY="1", OTEL_METRICS_EXPORTER="prometheus")
    proc = run_cli(["run", "quickstart", "--end-at", "now"], env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "export --format openmetrics" in proc.stderr
