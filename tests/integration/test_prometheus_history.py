"""A fortnight of a small team, exported as OpenMetrics, backfilled with promtool into a real Prometheus:
its PromQL gives back the scenario's totals, and a dashboard's daily cost follows the working days."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from datetime import datetime, timezone

import pytest

from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.scenario.spool import compile_file
from tests.conftest import free_port
from tests.support.cli import run_cli, run_json, telemetry_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("promtool") is None,
        reason="needs the Prometheus server and promtool: make install-dev",
    ),
]

DAY = 86_400
REL = 1e-9


def _seconds(iso: str) -> int:
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


class _Prometheus:
    """A Prometheus server on loopback over an existing TSDB directory, with nothing to scrape."""

    def __init__(self, tmp_path, tsdb) -> None:
        self.port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tsdb}",
                # Blocks older than the retention would be deleted at start-up.
                "--storage.tsdb.retention.time=60d",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.proc.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("prometheus never became ready")
            time.sleep(0.2)

    def query(self, promql: str, at: float) -> list[dict]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": promql, "time": f"{at:.3f}"}
        )
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def scalar(self, promql: str, at: float) -> float:
        result = self.query(promql, at)
        assert len(result) == 1, (promql, result)
        return float(result[0]["value"][1])

    def by(self, promql: str, label: str, at: float) -> dict[str, float]:
        return {r["metric"][label]: float(r["value"][1]) for r in self.query(promql, at)}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _expected(totals: dict) -> dict:
    sums: dict[str, float] = defaultdict(float)
    by_type: dict[tuple[str, str], float] = defaultdict(float)
    users = set()
    for m in totals["metrics"]:
        sums[m["name"]] += m["value"]
        if "type" in m["attributes"]:
            by_type[(m["name"], m["attributes"]["type"])] += m["value"]
        users.add(m["attributes"]["user.id"])
    return {"sums": sums, "by_type": by_type, "users": len(users)}


def test_a_backfilled_fortnight_gives_the_scenarios_totals_and_daily_cost(tmp_path):
    env = telemetry_env()
    team = tmp_path / "team.yaml"
    proc = run_cli(
        ["generate", "--preset", "small-team", "--days", "14", "--seed", "1", "--out", str(team)],
        env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    samples = tmp_path / "team.om"
    summary = run_json(
        [
            "export",
            str(team),
            "--format",
            "openmetrics",
            "--naming",
            "otel-collector",
            "--label",
            "job=otel-collector",
            "--end-at",
            "now",
            "--out",
            str(samples),
        ],
        env,
        timeout=150,
    )
    assert summary["samples"] > 0 and samples.read_bytes().endswith(b"# EOF\n")
    tsdb = tmp_path / "tsdb"
    # promtool reads the whole file once per block: 2h blocks would mean 168 passes over a fortnight.
    backfill = subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=336h",
            str(samples),
            str(tsdb),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert backfill.returncode == 0, backfill.stderr[-2000:]
    expected = _expected(run_json(["scenarios", "totals", str(team)], env, timeout=120))

    start_s = _seconds(summary["window"]["start"])
    # The last scrape is at the window's end, which the summary gives to the second, rounded down.
    end_s = _seconds(summary["window"]["end"]) + 1
    prom = _Prometheus(tmp_path, tsdb)
    try:

        def total(metric: str) -> float:
            return prom.scalar(f"sum(last_over_time({metric}[15d]))", end_s)

        def close(actual: float, wanted: float) -> bool:
            return math.isclose(actual, wanted, rel_tol=REL)

        sums = expected["sums"]
        assert close(total("claude_code_cost_usage_USD_total"), sums["claude_code.cost.usage"])
        assert close(total("claude_code_session_count_total"), sums["claude_code.session.count"])
        assert close(total("claude_code_commit_count_total"), sums["claude_code.commit.count"])
        assert close(total("claude_code_pull_request_count_total"), sums["claude_code.pull_request.count"])
        assert close(total("claude_code_lines_of_code_count_total"), sums["claude_code.lines_of_code.count"])
        assert close(total("claude_code_active_time_seconds_total"), sums["claude_code.active_time.total"])
        for name, family in (
            ("claude_code.token.usage", "claude_code_token_usage_tokens_total"),
            ("claude_code.lines_of_code.count", "claude_code_lines_of_code_count_total"),
        ):
            got = prom.by(f"sum by (type) (last_over_time({family}[15d]))", "type", end_s)
            wanted = {t: v for (n, t), v in expected["by_type"].items() if n == name}
            assert got.keys() == wanted.keys()
            assert all(close(got[t], wanted[t]) for t in wanted), (got, wanted)
        users = prom.scalar(
            "count(count by (user_id) (last_over_time(claude_code_session_count_total[15d])))", end_s
        )
        assert users == expected["users"] == 12
        assert prom.by("count by (job) (target_info)", "job", end_s) == {"otel-collector": 1.0}

        # A dashboard's daily cost, at each day's end: something on every working day, nothing on the
        # days the scenario left empty. Scenario day d is [d, d+1) days from its time 0. (A weekend
        # session may be too short for increase(), which needs two samples of a series.)
        busy = set()
        timeline = compile_file(team, EmitOptions(), tracing=False, totals=False)
        try:
            for play in timeline.plays():
                first, last = play.info.start_at, play.info.end_at + 300  # + the series' expiry
                busy.update(range(int(first // DAY), int(last // DAY) + 1))
        finally:
            timeline.close()
        working = {d for d in range(14) if d % 7 < 5}  # the preset starts on a Monday
        assert working <= busy
        empty = set(range(14)) - busy
        assert empty, "the scenario has sessions every day: nothing to check on an empty day"
        for day in range(14):
            result = prom.query(
                "sum(increase(claude_code_cost_usage_USD_total[1d]))", start_s + (day + 1) * DAY
            )
            value = float(result[0]["value"][1]) if result else 0.0
            if day in working:
                assert value > 0, f"working day {day} shows no cost"
            elif day in empty:
                assert value == 0, f"day {day} has no session but shows cost {value}"
    finally:
        prom.stop()


@pytest.mark.parametrize("naming", ["claude-code", "otel-collector"])
def test_promtool_takes_either_naming_and_prometheus_answers_in_its_names(tmp_path, naming):
    env = telemetry_env()
    samples = tmp_path / "team-day.om"
    summary = run_json(
        ["export", "team-day", "--naming", naming, "--end-at", "-1d", "--out", str(samples)], env, timeout=120
    )
    tsdb = tmp_path / "tsdb"
    backfill = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(samples), str(tsdb)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert backfill.returncode == 0, backfill.stderr[-2000:]
    prom = _Prometheus(tmp_path, tsdb)
    try:
        end_s = _seconds(summary["window"]["end"]) + 1
        name = (
            "claude_code_cost_usage_total" if naming == "claude-code" else "claude_code_cost_usage_USD_total"
        )
        result = prom.query(f"count(last_over_time({name}[1d]))", end_s)
        assert result and float(result[0]["value"][1]) > 0
        stored = prom.query("count(last_over_time({__name__=~'claude_code_.+'}[1d])) by (__name__)", end_s)
        assert {r["metric"]["__name__"] for r in stored} == set(summary["families"]) - {"target_info"}
    finally:
        prom.stop()
