"""The Prometheus pull endpoint, scraped over HTTP during --linger and by a real Prometheus server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import free_port, wait_for_port
from tests.support.cli import telemetry_env

pytestmark = pytest.mark.integration


def _start_run(tmp_path, exporters: str, port: int, linger: str = "60s", **extra) -> subprocess.Popen:
    env = telemetry_env(
        CLAUDE_CODE_ENABLE_TELEMETRY="1",
        OTEL_METRICS_EXPORTER=exporters,
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
        **extra,
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "claude_telemetry_cli",
            "run",
            "feature-branch",
            "--instant",
            "--linger",
            linger,
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# Every family the feature-branch replay produces: a scrape holding all of them comes after the last
# measurement, so assertions never race the replay.
FEATURE_BRANCH = (
    "claude_code_session_count_total",
    "claude_code_token_usage_total",
    "claude_code_cost_usage_total",
    "claude_code_commit_count_total",
    "claude_code_pull_request_count_total",
)


def _scrape_until(url: str, needles: tuple[str, ...], proc: subprocess.Popen, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            body = urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            body = ""
        if all(needle in body for needle in needles):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{needles} never all appeared at {url}; last scrape:\n{body[:2000]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def _assert_claude_code_scrape(body: str) -> None:
    for name in (
        "claude_code_session_count_total",
        "claude_code_token_usage_total",
        "claude_code_commit_count_total",
    ):
        assert name in body
    assert "claude_code_cost_usage_USD" not in body and "_tokens_total" not in body
    assert "# UNIT" not in body
    assert 'otel_scope_name="com.anthropic.claude_code"' in body
    assert 'anthropic_custom_base_url="false"' in body
    assert "target_info{" in body and 'service_name="claude-code"' in body
    assert 'type="cacheRead"' in body


def test_prometheus_only_scrape_shows_claude_code_names_without_unit_suffixes(tmp_path):
    port = free_port()
    proc = _start_run(tmp_path, "prometheus", port)
    try:
        body = _scrape_until(f"http://127.0.0.1:{port}/metrics", FEATURE_BRANCH, proc)
    finally:
        _stop(proc)
    _assert_claude_code_scrape(body)


def test_otlp_and_prometheus_keep_units_on_otlp_only(tmp_path, otlp_sink):
    port = free_port()
    proc = _start_run(
        tmp_path,
        "otlp,prometheus",
        port,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_sink.endpoint,
    )
    try:
        body = _scrape_until(f"http://127.0.0.1:{port}/metrics", FEATURE_BRANCH, proc)
        assert otlp_sink.wait_for(lambda s: any(p.name == "claude_code.cost.usage" for p in s.points()))
    finally:
        _stop(proc)
    _assert_claude_code_scrape(body)
    units = {p.name: p.unit for p in otlp_sink.points()}
    assert units["claude_code.cost.usage"] == "USD" and units["claude_code.token.usage"] == "tokens"


@pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="needs the Prometheus server: make install-dev"
)
def test_a_real_prometheus_server_scrapes_the_endpoint(tmp_path):
    port, prom_port = free_port(), free_port()
    proc = _start_run(tmp_path, "prometheus", port, linger="120s")
    prom = None
    try:
        _scrape_until(f"http://127.0.0.1:{port}/metrics", FEATURE_BRANCH, proc)
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: claude-code\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        )
        prom = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for_port(prom_port, None, timeout=30)
        query = f"http://127.0.0.1:{prom_port}/api/v1/query?query=sum(claude_code_token_usage_total)"
        deadline, result = time.monotonic() + 60, []
        while time.monotonic() < deadline and not result:
            try:
                result = json.load(urllib.request.urlopen(query, timeout=2))["data"]["result"]
            except OSError:
                result = []
            time.sleep(0.5)
        assert result, "Prometheus never stored claude_code_token_usage_total"
        assert float(result[0]["value"][1]) > 0
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(timeout=20)
        _stop(proc)


def test_without_linger_the_user_is_told_the_endpoint_closed(tmp_path):
    from tests.support.cli import run_cli

    port = free_port()
    env = telemetry_env(
        CLAUDE_CODE_ENABLE_TELEMETRY="1",
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
    )
    proc = run_cli(["run", "quickstart", "--instant"], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--linger" in proc.stderr and f"127.0.0.1:{port}" in proc.stderr


def test_scrapes_are_counted_in_the_summary(tmp_path):
    port = free_port()
    env = telemetry_env(
        CLAUDE_CODE_ENABLE_TELEMETRY="1",
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "claude_telemetry_cli",
            "run",
            "quickstart",
            "--instant",
            "--linger",
            "2s",
            "--json",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _scrape_until(f"http://127.0.0.1:{port}/metrics", ("claude_code_session_count_total",), proc)
    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    [prom] = json.loads(out)["exporters"]
    assert prom["exporter"] == "prometheus" and prom["requests"] >= 2
