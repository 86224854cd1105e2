"""The Locust locustfile: a master and its workers run simulated Claude Code sessions against a real
`receive`, which verifies that exactly the totals the master wrote arrived; exports a collector refuses
are Locust failures; bad configuration is one line; each user's session exports exactly what
FleetEngine would."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Rotel, free_port
from tests.support.cli import REPO, otlp_env

pytestmark = pytest.mark.integration

LOCUSTFILE = str(Path(REPO) / "claude_telemetry_cli" / "locust" / "locustfile.py")
FAST = {"OTEL_LOGS_EXPORT_INTERVAL": "500"}
TRACED = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1",
    "OTEL_TRACES_EXPORT_INTERVAL": "500",
}


def _locust(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    # Output to a file: an unread pipe could fill up and stall the process.
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", LOCUSTFILE, *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _stats(path: Path) -> dict[str, dict]:
    return {entry["name"]: entry for entry in json.loads(path.read_text())}


def test_a_master_and_two_workers_deliver_exactly_the_totals_they_write(tmp_path, receivers):
    totals = tmp_path / "totals.json"
    # Started first, as in a CI job: it waits for the totals file the master writes when the test stops.
    receiver = receivers(tmp_path, "--expect-totals", str(totals), "--timeout", "150s")
    env = otlp_env(receiver.endpoint("http/protobuf"), "http/protobuf", **FAST, **TRACED)
    port = free_port()
    started = time.monotonic()
    master = _locust(
        [
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            "2",
            "--expect-workers-max-wait",
            "30",
            "--headless",
            "-u",
            "20",
            "-r",
            "20",
            # Long enough for the workers to compile their activity on a busy machine and send.
            "-t",
            "20s",
            "--ct-interval",
            "1s",
            "--ct-totals-out",
            str(totals),
            "--json-file",
            "stats",
        ],
        env,
        tmp_path,
        tmp_path / "master.log",
    )
    procs = [master]
    try:
        for i in range(2):
            procs.append(
                _locust(
                    ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                    env,
                    tmp_path,
                    tmp_path / f"worker{i}.log",
                )
            )
        code = master.wait(timeout=110)
        workers = [p.wait(timeout=30) for p in procs[1:]]
        rcode, verdict, rerr = receiver.result(timeout=150)
    finally:
        _stop(procs)
    log = (tmp_path / "master.log").read_text()
    assert code == 0, log[-3000:]
    assert workers == [0, 0], [(tmp_path / f"worker{i}.log").read_text()[-2000:] for i in range(2)]
    assert time.monotonic() - started < 110  # it ends on its own, well after -t, but it ends
    # Locust's own statistics: every export a request, none failed.
    stats = _stats(tmp_path / "stats.json")
    assert set(stats) == {"metrics", "logs", "traces"}, stats.keys()
    for entry in stats.values():
        assert entry["method"] == "OTLP/http"
        assert entry["num_requests"] > 0 and entry["num_failures"] == 0, entry
    assert "wrote the totals of 2 process(es)" in log
    # What arrived is exactly what the collector acknowledged to the two workers.
    assert rcode == 0, json.dumps(verdict.get("verdict"), indent=1)[:2000] + rerr
    assert verdict["ok"] is True
    # ... down to what each event and span carries.
    assert verdict["verdict"]["content_verified"] is True and verdict["verdict"]["spans_verified"] is True
    written = json.loads(totals.read_text())
    assert sum(written["events"].values()) > 0 and written["metrics"]
    assert sum(written["spans"].values()) > 0
    assert {key for key in written["content"] if key.startswith("resource")} == {
        "resource logs",
        "resource traces",
    }
    assert {key.split()[0] for key in written["content"]} == {"event", "span", "resource"}
    # 20 users, 20 sessions of their own: numbered apart across the users and across the workers.
    sessions = {m["attributes"]["session.id"] for m in written["metrics"]}
    assert len(sessions) >= 20
    assert verdict["received"]["sessions"] >= 20


def test_without_totals_every_accepted_export_is_a_locust_success(tmp_path):
    rotel = Rotel(None, exporters=["--exporter", "blackhole"])
    try:
        proc = _locust(
            ["--headless", "-u", "5", "-r", "5", "-t", "4s", "--ct-interval", "1s", "--csv", "out"],
            otlp_env(rotel.endpoint("grpc"), "grpc", **FAST, **TRACED),
            tmp_path,
            tmp_path / "locust.log",
        )
        try:
            code = proc.wait(timeout=60)
        finally:
            _stop([proc])
    finally:
        rotel.stop()
    log = (tmp_path / "locust.log").read_text()
    assert code == 0, log[-3000:]
    with (tmp_path / "out_stats.csv").open() as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    assert {"metrics", "logs", "traces"} <= rows.keys(), rows.keys()
    assert int(rows["Aggregated"]["Request Count"]) > 0 and rows["Aggregated"]["Failure Count"] == "0"


def test_a_collector_that_is_down_makes_every_export_a_locust_failure(tmp_path):
    totals = tmp_path / "totals.json"
    env = otlp_env(f"http://127.0.0.1:{free_port()}", "http/protobuf", **FAST)
    proc = _locust(
        [
            "--headless",
            "-u",
            "5",
            "-r",
            "5",
            "-t",
            "4s",
            "--ct-interval",
            "1s",
            "--ct-export-timeout",
            "0.5",
            "--ct-totals-out",
            str(totals),
            "--csv",
            "out",
        ],
        env,
        tmp_path,
        tmp_path / "locust.log",
    )
    try:
        code = proc.wait(timeout=50)
    finally:
        _stop([proc])
    log = (tmp_path / "locust.log").read_text()
    assert code == 1, log[-3000:]
    with (tmp_path / "out_stats.csv").open() as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    assert int(rows["Aggregated"]["Request Count"]) > 0
    assert rows["Aggregated"]["Failure Count"] == rows["Aggregated"]["Request Count"]
    with (tmp_path / "out_failures.csv").open() as fh:
        failures = list(csv.DictReader(fh))
    assert failures and all("connection refused" in f["Error"] for f in failures), failures
    assert {f["Method"] for f in failures} == {"OTLP/http"}
    # Nothing was acknowledged, so nothing must arrive.
    written = json.loads(totals.read_text())
    assert written["metrics"] == [] and written["events"] == {}
    assert "Traceback" not in log


@pytest.mark.parametrize(
    ("args", "env_over", "needle"),
    [
        # Locust has no -e: the message says what works with it.
        ([], {"CLAUDE_CODE_ENABLE_TELEMETRY": "0"}, "CLAUDE_CODE_ENABLE_TELEMETRY=1 (export it before"),
        ([], {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "grpc or http/protobuf"),
        (["--ct-interval", "soon"], {}, "--ct-interval:"),
        (["--ct-preset", "nosuch"], {}, "nosuch"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(tmp_path, args, env_over, needle):
    env = {**otlp_env(f"http://127.0.0.1:{free_port()}", "http/protobuf"), **env_over}
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "-u", "1", "-t", "5s", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert "-e" not in errors[0].split(), errors[0]
    assert "Traceback" not in proc.stderr
