"""The Prometheus pull endpoint, scraped over HTTP during --linger and by a real Prometheus server."""

from __future__ import annotations

import json
import re
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


# What labels a Claude Code series: its point's attributes, dots turned to underscores, and the scope.
SCOPE_LABELS = {"otel_scope_name", "otel_scope_version"}


_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _series(body: str) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets of its samples, from a text or OpenMetrics exposition."""
    out: dict[str, list[dict[str, str]]] = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, labels = _SAMPLE.match(line).groups()
            out.setdefault(name, []).append(dict(_LABEL.findall(labels or "")))
    return out


def _assert_claude_code_labels(body: str) -> None:
    """Every series has the real client's labels: no schema URL, no label a point lacks."""
    series = _series(body)
    assert set(series) >= set(FEATURE_BRANCH) | {"target_info"}
    for name, label_sets in series.items():
        for labels in label_sets:
            assert "otel_scope_schema_url" not in labels, name
            assert all(value != "" for value in labels.values()), (name, labels)
            if name == "target_info":
                assert not set(labels) & SCOPE_LABELS
            else:
                assert set(labels) >= SCOPE_LABELS, (name, labels)
                assert labels["otel_scope_name"] == "com.anthropic.claude_code"
    # Only some feature-branch requests set an effort: only their series have the label.
    efforts = {labels.get("effort") for labels in series["claude_code_cost_usage_total"]}
    assert efforts == {None, "high"}


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
    _assert_claude_code_labels(body)


def test_prometheus_only_scrape_shows_claude_code_names_without_unit_suffixes(tmp_path):
    port = free_port()
    proc = _start_run(tmp_path, "prometheus", port)
    try:
        body = _scrape_until(f"http://127.0.0.1:{port}/metrics", FEATURE_BRANCH, proc)
        # Asked for OpenMetrics, as Prometheus asks, it answers in the text format as the client does.
        accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=5) as response:
            content_type = response.headers["Content-Type"]
            negotiated = response.read().decode()
    finally:
        _stop(proc)
    _assert_claude_code_scrape(body)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert "# EOF" not in negotiated and "claude_code_cost_usage_total{" in negotiated


def _text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


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
    points = otlp_sink.points()
    units = {p.name: p.unit for p in points}
    assert units["claude_code.cost.usage"] == "USD" and units["claude_code.token.usage"] == "tokens"
    # Each series is labelled with exactly the attributes of the points OTLP carried, and the scope.
    expected: dict[str, set] = {}
    for p in points:
        labels = {k.replace(".", "_"): _text(v) for k, v in p.attributes}
        labels.update(otel_scope_name=p.scope_name, otel_scope_version=p.scope_version)
        sample = p.name.replace(".", "_").removesuffix("_total") + "_total"
        expected.setdefault(sample, set()).add(frozenset(labels.items()))
    scraped = {
        name: {frozenset(labels.items()) for labels in label_sets}
        for name, label_sets in _series(body).items()
        if name != "target_info"
    }
    assert scraped == expected


def test_the_openmetrics_history_labels_series_as_the_endpoint_does(tmp_path):
    from tests.support.cli import run_json

    port = free_port()
    proc = _start_run(tmp_path, "prometheus", port)
    try:
        body = _scrape_until(f"http://127.0.0.1:{port}/metrics", FEATURE_BRANCH, proc)
    finally:
        _stop(proc)
    out = tmp_path / "history.om"
    args = ["export", "feature-branch", "--naming", "claude-code", "--end-at", "now"]
    run_json([*args, "--scrape-interval", "1s", "--out", str(out)], telemetry_env())
    history = out.read_text()
    _assert_claude_code_labels(history)

    def label_sets(exposition: str) -> dict[str, set]:
        return {name: {frozenset(s.items()) for s in sets} for name, sets in _series(exposition).items()}

    assert label_sets(history) == label_sets(body)


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
