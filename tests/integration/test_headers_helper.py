"""otelHeadersHelper: run at start, re-run every CLAUDE_CODE_OTEL_HEADERS_HELPER_DEBOUNCE_MS, HTTP only."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import otlp_env, run_cli
from tests.support.https_sink import HttpsSink

pytestmark = pytest.mark.integration


def _helper(tmp_path):
    counter = tmp_path / "count"
    script = tmp_path / "headers helper.sh"  # a path with a space, as the docs allow
    script.write_text(
        "#!/bin/sh\n"
        f'n=$(cat "{counter}" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "{counter}"\n'
        'echo "{\\"Authorization\\": \\"Bearer token-$n\\"}"\n'
    )
    script.chmod(0o755)
    return script


def test_helper_headers_are_sent_and_refreshed_while_the_replay_runs(tmp_path):
    sink = HttpsSink().start()
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    (project / ".claude" / "settings.json").write_text(
        json.dumps({"otelHeadersHelper": str(_helper(tmp_path))})
    )
    env = otlp_env(
        sink.endpoint,
        "http/protobuf",
        HOME=str(tmp_path),
        OTEL_METRIC_EXPORT_INTERVAL="1000",
        OTEL_LOGS_EXPORT_INTERVAL="1000",
        CLAUDE_CODE_OTEL_HEADERS_HELPER_DEBOUNCE_MS="1500",
    )
    try:
        proc = run_cli(["run", "quickstart", "--speed", "2"], env, cwd=project)
    finally:
        sink.stop()
    assert proc.returncode == 0, proc.stderr
    tokens = [h.get("authorization") for h in sink.headers]
    assert tokens[0] == "Bearer token-1"
    assert len(set(tokens)) >= 2, tokens  # refreshed during the replay
    assert tokens == sorted(tokens, key=lambda t: int(t.rsplit("-", 1)[1]))  # never an older token again
    assert "token-" not in proc.stdout + proc.stderr


def test_a_failing_helper_is_a_one_line_configuration_error(tmp_path):
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    (project / ".claude" / "settings.json").write_text(json.dumps({"otelHeadersHelper": "exit 3"}))
    env = otlp_env(
        "http://127.0.0.1:9",
        "http/json",
        logs=False,
        HOME=str(tmp_path),
    )
    proc = run_cli(["run", "quickstart", "--instant"], env, cwd=project)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "otelHeadersHelper" in line and "settings.json" in line
