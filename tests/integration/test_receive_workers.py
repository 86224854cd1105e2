"""`receive --workers N`: worker processes share the ports, and the verdict is still exact; a worker that
dies fails it; signals stop every worker, and none outlives its parent."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.conftest import Rotel
from tests.support.cli import otlp_env, run_cli

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _gone_within(pids, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _workers_of(receiver, n: int) -> list[int]:
    """The receiver's workers, once every one of them listens (it says so on stderr; the ports answer
    as soon as one does)."""
    while not (line := receiver.proc.stderr.readline()).startswith("receiving OTLP"):
        assert line, "the receiver ended before it started receiving"
    pids = _children(receiver.proc.pid)
    assert len(pids) == n
    return pids


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_the_verdict_is_exact_over_workers(tmp_path, receivers, protocol):
    receiver = receivers(tmp_path, "--workers", "2", "--expect", "feature-branch", "--timeout", "60s")
    proc = run_cli(
        ["run", "feature-branch", "--instant"], otlp_env(receiver.endpoint(protocol), protocol), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    code, data, err = receiver.result()
    assert code == 0, err
    assert data["ok"] is True and data["verdict"]["mismatches"] == []
    assert data["received"]["sessions"] == 1 and data["received"]["errors"] == {}


def test_the_ci_recipe_through_a_collector_into_workers(tmp_path, receivers):
    receiver = receivers(tmp_path, "--workers", "2", "--expect", "team-day", "--timeout", "90s")
    rotel = Rotel(receiver.endpoint("grpc"))
    try:
        proc = run_cli(["run", "team-day", "--instant"], otlp_env(rotel.endpoint("grpc")), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        code, data, err = receiver.result(timeout=120)
    finally:
        rotel.stop()
    assert code == 0, json.dumps(data.get("verdict"), indent=1)[:3000]
    assert data["received"]["sessions"] > 20


def test_a_worker_that_dies_fails_the_verdict_and_is_named(tmp_path, receivers):
    receiver = receivers(tmp_path, "--workers", "2", "--expect", "feature-branch", "--timeout", "60s")
    victim = _workers_of(receiver, 2)[1]
    os.kill(victim, signal.SIGKILL)
    started = time.monotonic()
    code, data, err = receiver.result()
    assert code == 1, err
    assert time.monotonic() - started < 30  # at once, not at the timeout
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert f"(pid {victim}) was killed by SIGKILL" in lines[0]
    assert "what it received since its last report is lost" in lines[0]
    assert data["ok"] is False and data["error"] in lines[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_every_worker_and_keeps_what_they_received(tmp_path, receivers, signum):
    receiver = receivers(tmp_path, "--workers", "3")
    workers = _workers_of(receiver, 3)
    run_cli(["run", "quickstart", "--instant"], otlp_env(receiver.endpoint("grpc")), cwd=tmp_path)
    receiver.proc.send_signal(signum)
    code, data, err = receiver.result()
    assert code == 130, err
    assert data["received"]["points"] > 0 and data["received"]["errors"] == {}
    assert _gone_within(workers, 10)
    assert "Traceback" not in err


def test_workers_do_not_outlive_a_parent_killed_outright(tmp_path, receivers):
    receiver = receivers(tmp_path, "--workers", "2")
    workers = _workers_of(receiver, 2)
    receiver.proc.kill()
    receiver.proc.communicate()
    assert _gone_within(workers, 15)


def test_dump_lines_of_every_worker_go_to_the_one_file(tmp_path, receivers):
    dump = tmp_path / "dump.jsonl"
    receiver = receivers(tmp_path, "--workers", "2", "--dump", str(dump), "--expect", "quickstart")
    proc = run_cli(
        ["run", "quickstart", "--instant"],
        otlp_env(receiver.endpoint("http/protobuf"), "http/protobuf"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    code, data, err = receiver.result()
    assert code == 0, err
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert len(lines) == sum(data["received"]["requests"].values())
    assert {line["signal"] for line in lines} == {"metrics", "logs"}
