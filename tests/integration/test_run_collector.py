"""`run` against a real collector (rotel), over every OTLP protocol and both temporalities."""

from __future__ import annotations

import time

import pytest

from claude_telemetry_cli.contract import LOGGER_NAME, METER_NAME, get_profile
from claude_telemetry_cli.records import Totals
from tests.support.cli import otlp_env, run_cli, run_json, start_cli, telemetry_env

pytestmark = pytest.mark.integration

RESOURCE_KEYS = {"host.arch", "os.type", "os.version", "service.name", "service.version"}


def _env(collector, protocol: str, temporality: str = "delta", **extra) -> dict[str, str]:
    endpoint = collector.endpoint(protocol)
    return telemetry_env(
        CLAUDE_CODE_ENABLE_TELEMETRY="1",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_LOGS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=temporality,
        OTEL_METRIC_EXPORT_INTERVAL="1000",
        OTEL_LOGS_EXPORT_INTERVAL="1000",
        **extra,
    )


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
@pytest.mark.parametrize("temporality", ["delta", "cumulative"])
def test_feature_branch_arrives_exactly_through_a_real_collector(
    rotel_collector, otlp_sink, tmp_path, protocol, temporality
):
    env = _env(rotel_collector, protocol, temporality)
    expected = Totals.from_json(run_json(["scenarios", "totals", "feature-branch"], env, cwd=tmp_path))

    proc = run_cli(["run", "feature-branch", "--instant"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr

    arrived = otlp_sink.wait_for(lambda s: s.tally().totals().equals(expected), timeout=30)
    got = otlp_sink.tally().totals()
    assert arrived, f"totals differ:\nexpected {expected.to_json()}\ngot {got.to_json()}"

    profile = get_profile("current")
    points = otlp_sink.points()
    assert {p.name for p in points} <= set(profile.metrics)
    for p in points:
        spec = profile.metrics[p.name]
        assert (p.unit, p.description) == (spec.unit, spec.description), p.name
        assert p.kind == "sum" and p.monotonic and p.is_double
        assert p.temporality == temporality
        assert set(p.resource and dict(p.resource)) == RESOURCE_KEYS
        assert dict(p.resource)["service.name"] == "claude-code"
        assert (p.scope_name, p.scope_version, p.scope_schema_url) == (
            METER_NAME,
            dict(p.resource)["service.version"],
            "",
        )
        keys = {k for k, _ in p.attributes}
        assert set(spec.attribute_keys) & keys >= {a.key for a in spec.attributes if a.presence == "always"}
        assert "prompt.id" not in keys and "event.sequence" not in keys
    events = otlp_sink.events()
    assert events, "no events arrived"
    for e in events:
        attrs = dict(e.attributes)
        assert e.scope_name == LOGGER_NAME
        assert e.body == f"claude_code.{attrs['event.name']}"
        assert e.time_ns == e.observed_ns and e.time_ns % 1_000_000 == 0
        assert e.severity_number == 0
        assert isinstance(attrs["event.sequence"], int)
        assert attrs["event.timestamp"].endswith("Z")
    # Per process, event.sequence counts every event from 0.
    by_session: dict[str, list[int]] = {}
    for e in events:
        attrs = dict(e.attributes)
        by_session.setdefault(attrs["session.id"], []).append(attrs["event.sequence"])
    for seqs in by_session.values():
        assert sorted(seqs) == list(range(len(seqs)))


def test_delta_points_of_one_export_share_an_end_time_and_quiet_intervals_send_nothing(otlp_sink, tmp_path):
    env = otlp_env(
        otlp_sink.endpoint,
        logs=False,
        OTEL_METRIC_EXPORT_INTERVAL="1000",
    )
    proc = run_cli(["run", "quickstart", "--instant"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert otlp_sink.metric_requests, "no metrics arrived"
    for request in otlp_sink.metric_requests:
        ends = {
            p.time_unix_nano
            for rm in request.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            for p in m.sum.data_points
        }
        assert len(ends) == 1
        assert len(request.resource_metrics) == 1 and len(request.resource_metrics[0].scope_metrics) == 1
    # The quickstart lasts seconds with bursts of activity: some 1 s intervals carry nothing.
    duration = run_json(["scenarios", "list"], env, cwd=tmp_path)
    quickstart = next(r for r in duration if r["name"] == "quickstart")
    assert len(otlp_sink.metric_requests) <= int(quickstart["duration"]) + 1


def test_headers_reach_the_collector(otlp_sink, tmp_path):
    env = otlp_env(
        otlp_sink.endpoint,
        OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20s3cret,x-team=platform",
    )
    proc = run_cli(["run", "quickstart", "--instant"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert otlp_sink.metadata
    for md in otlp_sink.metadata:
        assert md["authorization"] == "Bearer s3cret" and md["x-team"] == "platform"
    assert "s3cret" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_unreachable_collector_fails_fast_with_exit_3(tmp_path, protocol):
    from tests.conftest import free_port

    port = free_port()  # nothing listens here
    env = otlp_env(
        f"http://127.0.0.1:{port}",
        protocol,
    )
    started = time.monotonic()
    proc = run_cli(["run", "quickstart", "--instant", "--export-timeout", "2"], env, cwd=tmp_path, timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 3, proc.stderr
    assert f"127.0.0.1:{port}" in proc.stdout + proc.stderr
    assert "export failed" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert elapsed < 45


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_a_refused_connection_ends_the_replay_within_the_export_timeout(tmp_path, protocol):
    import json
    import re

    from tests.conftest import free_port

    port = free_port()  # nothing listens here
    env = otlp_env(f"http://127.0.0.1:{port}", protocol)
    # A day of sessions queues dozens of exports on ended processes: none may hold up the exit.
    started = time.monotonic()
    proc = run_cli(
        ["run", "team-day", "--instant", "--export-timeout", "3", "--json"], env, cwd=tmp_path, timeout=180
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 3, proc.stderr
    # Metrics and events go to the same dead port; whichever request finds it first is named.
    cause = rf"^error: (metrics|logs): connection refused at 127\.0\.0\.1:{port}$"
    assert re.search(cause, proc.stderr, re.M), proc.stderr
    assert "Traceback" not in proc.stderr and "max retries" not in proc.stderr
    # The export timeout, plus start-up and compiling a day on a busy machine; a hang is a minute.
    assert elapsed < 3 + 10, elapsed
    exporters = json.loads(proc.stdout)["exporters"]
    assert {e["signal"] for e in exporters} == {"metrics", "logs"}
    for e in exporters:
        # Nothing arrived anywhere: every request counted is a failed one, dropped ones included.
        assert e["requests"] > 0 and e["failed_requests"] == e["requests"], e
        assert e["items"] == 0, e


def test_2025_05_profile_sends_six_metrics_with_count_units_and_no_events(otlp_sink, tmp_path):
    env = otlp_env(
        otlp_sink.endpoint,
        OTEL_METRICS_INCLUDE_VERSION="true",
    )
    expected = Totals.from_json(
        run_json(["scenarios", "totals", "feature-branch", "--profile", "2025-05"], env, cwd=tmp_path)
    )
    proc = run_cli(["run", "feature-branch", "--instant", "--profile", "2025-05"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "OTEL_LOGS_EXPORTER" in proc.stderr  # ignored by this profile, and we say so
    assert otlp_sink.tally().totals().equals(expected)
    assert not otlp_sink.log_requests
    seed = get_profile("2025-05")
    for p in otlp_sink.points():
        assert p.name in seed.metrics
        assert p.unit == seed.metrics[p.name].unit
        keys = {k for k, _ in p.attributes}
        assert keys <= {"session.id", "app.version", "organization.id", "user.account_uuid", "type", "model"}
        assert "app.version" in keys and "user.id" not in keys
    assert {p.unit for p in otlp_sink.points() if p.name == "claude_code.commit.count"} == {"count"}


def test_include_switches_and_resource_attributes_shape_every_point(otlp_sink, tmp_path):
    env = otlp_env(
        otlp_sink.endpoint,
        OTEL_METRICS_INCLUDE_SESSION_ID="false",
        OTEL_METRICS_INCLUDE_ENTRYPOINT="true",
        OTEL_RESOURCE_ATTRIBUTES="department=engineering,team.id=platform%20tools",
    )
    proc = run_cli(["run", "quickstart", "--instant"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    points = otlp_sink.points()
    assert points
    for p in points:
        attrs = dict(p.attributes)
        assert "session.id" not in attrs and attrs["app.entrypoint"] == "cli"
        assert attrs["department"] == "engineering" and attrs["team.id"] == "platform tools"
        assert list(dict(p.resource))[:2] == ["department", "team.id"]
    for e in otlp_sink.events():
        assert "session.id" in dict(e.attributes)  # the switches apply to metrics only


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_interrupting_a_replay_delivers_what_was_recorded_and_exits_130(otlp_sink, tmp_path, signum):
    import signal

    # Events leave after 1 s, so their arrival shows the replay is under way; metrics wait 60 s.
    env = otlp_env(otlp_sink.endpoint, OTEL_LOGS_EXPORT_INTERVAL="1000")
    proc = start_cli(
        ["run", "team-day"],  # hours at real speed
        env=env,
        cwd=tmp_path,
    )
    assert otlp_sink.wait_for(lambda s: s.events(), timeout=60), proc.stderr
    assert not otlp_sink.points()
    proc.send_signal(getattr(signal, signum))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert "claude_code.session.count" in out  # the summary of what was replayed
    names = {p.name for p in otlp_sink.points()}
    assert "claude_code.session.count" in names  # delivered at exit, not lost with the 60 s interval
    assert any(e.name == "managed_settings_resolved" for e in otlp_sink.events())


def test_an_interrupted_replay_sums_up_what_it_replayed_not_the_whole_scenario(otlp_sink, tmp_path):
    import json
    import signal

    env = otlp_env(otlp_sink.endpoint, OTEL_LOGS_EXPORT_INTERVAL="1000")
    whole = run_json(["scenarios", "totals", "team-day"], env, cwd=tmp_path)
    proc = start_cli(
        ["run", "team-day", "--json"],  # hours at real speed
        env=env,
        cwd=tmp_path,
    )
    assert otlp_sink.wait_for(lambda s: s.events(), timeout=60), proc.stderr
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    summary = json.loads(out)["scenarios"][0]
    assert summary["interrupted"]

    replayed_events = summary["events"]
    assert 0 < sum(replayed_events.values()) < sum(whole["events"].values())
    assert sum(replayed_events.values()) == summary["event_records"]
    # What the summary says was replayed is exactly what reached the collector.
    assert otlp_sink.wait_for(lambda s: s.tally().totals().events == replayed_events, timeout=10), (
        otlp_sink.tally().totals().events,
        replayed_events,
    )
    arrived = otlp_sink.tally().totals()
    sums, series = arrived.metric_sums(), arrived.series_count()
    assert summary["metrics"] == {name: {"series": series[name], "total": sums[name]} for name in sums}
    whole_sessions = sum(m["value"] for m in whole["metrics"] if m["name"] == "claude_code.session.count")
    assert summary["metrics"]["claude_code.session.count"]["total"] < whole_sessions


def test_a_second_interrupt_during_the_final_flush_still_prints_the_summary(tmp_path):
    import signal
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    arrived, holding, release = threading.Event(), threading.Event(), threading.Event()
    hold = threading.Event()

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server method name
            self.rfile.read(int(self.headers["Content-Length"]))
            arrived.set()
            if hold.is_set():  # the final flush: answered only once the test is done
                holding.set()
                release.wait(60)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = otlp_env(
        f"http://127.0.0.1:{server.server_port}", "http/protobuf", OTEL_LOGS_EXPORT_INTERVAL="1000"
    )
    proc = start_cli(
        ["run", "team-day", "--export-timeout", "60"],
        env=env,
        cwd=tmp_path,
    )
    out_lines: list[str] = []
    reader = threading.Thread(target=lambda: out_lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        assert arrived.wait(60), "no export arrived"
        hold.set()
        proc.send_signal(signal.SIGINT)
        assert holding.wait(30), "the final flush sent nothing"
        proc.send_signal(signal.SIGINT)
        # The summary comes while the collector still holds a request of the flush.
        deadline = time.monotonic() + 20
        while not any("claude_code.session.count" in line for line in out_lines):
            assert time.monotonic() < deadline and reader.is_alive(), "".join(out_lines)
            time.sleep(0.05)
        assert not release.is_set()
    finally:
        release.set()
        err = proc.stderr.read()
        proc.wait(timeout=90)
        server.shutdown()
    assert proc.returncode == 130, err
    assert "interrupted while delivering" in err and "Traceback" not in err


def test_managed_settings_lock_the_destination_in_a_real_run(otlp_sink, tmp_path):
    import json

    managed = tmp_path / "managed" / "managed-settings.json"
    managed.parent.mkdir()
    managed.write_text(json.dumps({"env": {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_sink.endpoint}}))
    # The developer points metrics elsewhere; the managed endpoint removes that per-signal override.
    env = otlp_env("http://127.0.0.1:9", OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="http://127.0.0.1:9")
    proc = run_cli(["run", "quickstart", "--instant", "--managed-settings", str(managed)], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" in proc.stderr  # the removal is reported
    assert {p.name for p in otlp_sink.points()} >= {"claude_code.session.count"}
    assert otlp_sink.events()


def test_the_export_flags_send_to_the_collector_they_name(rotel_collector, otlp_sink, tmp_path):
    # Nothing in the environment says where to send: the flags alone do.
    env = telemetry_env(CLAUDE_CODE_ENABLE_TELEMETRY="1", OTEL_METRICS_EXPORTER="otlp")
    endpoint = rotel_collector.endpoint("http/protobuf")
    proc = run_cli(
        ["run", "--instant", "--endpoint", endpoint, "--protocol", "http/protobuf", "quickstart"],
        env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert otlp_sink.wait_for(lambda s: s.points(), timeout=30)


def test_a_header_flag_reaches_the_collector(otlp_sink, tmp_path):
    env = telemetry_env(CLAUDE_CODE_ENABLE_TELEMETRY="1", OTEL_METRICS_EXPORTER="otlp")
    args = ["--endpoint", otlp_sink.endpoint, "--protocol", "grpc", "--header", "x-team=platform,infra"]
    proc = run_cli(["run", "--instant", *args, "quickstart"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert otlp_sink.wait_for(lambda s: s.points(), timeout=30)
    assert {m.get("x-team") for m in otlp_sink.metadata} == {"platform,infra"}
