"""`claude-telemetry export` as a user meets it: the files it writes, its summary, one-line errors that
leave nothing behind."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from tests.support.cli import run_cli, run_json, telemetry_env


def _leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_otlp_json_lines_hold_every_request_with_the_scenarios_totals(tmp_path):
    out = tmp_path / "quickstart.jsonl"
    before = time.time_ns()
    summary = run_json(
        ["export", "quickstart", "--format", "otlp-json", "--end-at", "now", "--out", str(out)],
        telemetry_env(),
    )
    lines = out.read_bytes().splitlines()
    assert summary["lines"] == len(lines) and summary["format"] == "otlp-json"
    assert summary["signals"] == ["logs", "metrics"]
    kinds = Counter()
    cost = 0.0
    stamps = []
    for line in lines:
        request = json.loads(line)
        (kind,) = request.keys()
        kinds[kind] += 1
        for rm in request.get("resourceMetrics", []):
            for sm in rm["scopeMetrics"]:
                for metric in sm["metrics"]:
                    for point in metric["sum"]["dataPoints"]:
                        stamps.append(int(point["timeUnixNano"]))
                        # Claude Code's points start and end on a whole millisecond.
                        assert int(point["startTimeUnixNano"]) % 1_000_000 == 0
                        assert int(point["timeUnixNano"]) % 1_000_000 == 0
                        if metric["name"] == "claude_code.cost.usage":
                            cost += point["asDouble"]
    assert set(kinds) == {"resourceMetrics", "resourceLogs"}
    assert kinds["resourceMetrics"] == summary["requests"]["metrics"]
    totals = run_json(["scenarios", "totals", "quickstart"], telemetry_env())
    expected = sum(m["value"] for m in totals["metrics"] if m["name"] == "claude_code.cost.usage")
    assert cost == pytest.approx(expected, rel=1e-9)
    assert max(stamps) <= time.time_ns() and min(stamps) >= before - 3_600 * 10**9
    assert _leftovers(tmp_path) == ["quickstart.jsonl"]


def test_otlp_json_metric_points_start_and_end_on_whole_milliseconds(tmp_path):
    # A session starting and pausing between two milliseconds: its points are still on one.
    scenario = tmp_path / "sub-ms.yaml"
    scenario.write_text(
        "version: 1\nname: sub-ms\nseed: 3\nsessions:\n"
        "  - start_at: 1.0004567\n    steps:\n"
        "      - api_request: {input_tokens: 10, output_tokens: 5}\n"
        "      - wait: 0.3333333\n"
        "      - api_request: {input_tokens: 10, output_tokens: 5}\n"
    )
    out = tmp_path / "sub-ms.jsonl"
    run_json(
        ["export", str(scenario), "--format", "otlp-json", "--end-at", "now", "--out", str(out)],
        telemetry_env(),
    )
    times = [
        int(point[key])
        for line in out.read_bytes().splitlines()
        for rm in json.loads(line).get("resourceMetrics", [])
        for sm in rm["scopeMetrics"]
        for metric in sm["metrics"]
        for point in metric["sum"]["dataPoints"]
        for key in ("startTimeUnixNano", "timeUnixNano")
    ]
    assert times and all(t % 1_000_000 == 0 for t in times)


def test_openmetrics_to_stdout_ends_with_eof_and_the_summary_goes_to_stderr(tmp_path):
    proc = run_cli(["export", "quickstart", "--end-at", "now"], telemetry_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("# EOF\n")
    assert "# TYPE claude_code_cost_usage_USD counter" in proc.stdout
    assert proc.stderr.startswith("wrote stdout: ") and "otel-collector names" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert _leftovers(tmp_path) == []


def test_claude_code_naming_and_labels(tmp_path):
    out = tmp_path / "q.om"
    args = [
        "export",
        "quickstart",
        "--naming",
        "claude-code",
        "--label",
        "job=claude-code",
        "--end-at",
        "now",
        "--scrape-interval",
        "1s",  # the 5s session is gone before a 15s scrape would see it: as a real endpoint is
    ]
    summary = run_json([*args, "--out", str(out)], telemetry_env())
    text = out.read_text()
    assert "claude_code_cost_usage_total{" in text and "_USD" not in text and "# UNIT" not in text
    assert 'job="claude-code"' in text and 'otel_scope_name="com.anthropic.claude_code"' in text
    assert summary["naming"] == "claude-code" and summary["samples"] > 0


def test_the_configuration_shapes_the_labels(tmp_path):
    out = tmp_path / "q.om"
    env = telemetry_env()
    args = ["export", "quickstart", "--end-at", "now", "--out", str(out)]
    run_json(
        [*args, "-e", "OTEL_METRICS_INCLUDE_SESSION_ID=false", "-e", "OTEL_RESOURCE_ATTRIBUTES=team=web"], env
    )
    text = out.read_text()
    assert "session_id=" not in text and 'team="web"' in text


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--format", "csv"], "--format 'csv': use one of openmetrics, otlp-json"),
        (["--naming", "prometheus"], "--naming 'prometheus': use one of"),
        (["--label", "job"], "--label 'job': expected KEY=VALUE with a Prometheus label name as KEY"),
        (["--delta-rule", "sometimes"], "--delta-rule 'sometimes'"),
        (["--scrape-interval", "soon"], "invalid duration"),
        (["--out", "{tmp}/missing/x.om"], "does not exist"),
        (["--out", "{tmp}"], "is a directory"),
        (["--out", "/dev/full"], "No space left on device"),
        (["--start-at", "yesterday"], "--start-at 'yesterday': not a time"),
        (["--end-at", "2999-01-01"], "is in the future"),
        (["--start-at", "-2h", "--end-at", "-1h"], "but the scenario lasts"),
        (["--json"], "--json prints its summary on stdout"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_leaves_no_file(tmp_path, args, fragment):
    work = tmp_path / "work"
    work.mkdir()
    args = [a.replace("{tmp}", str(work)) for a in args]
    if "--start-at" not in args and "--end-at" not in args:
        args += ["--end-at", "now"]
    proc = run_cli(["export", "quickstart", *args], telemetry_env(), cwd=work)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _leftovers(work) == []


def test_a_read_only_directory_is_refused_before_any_work(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        proc = run_cli(
            ["export", "quickstart", "--end-at", "now", "--out", str(ro / "x.om")], telemetry_env()
        )
        if proc.returncode == 0:
            pytest.skip("this user writes in read-only directories (root)")
        assert proc.returncode == 2 and "cannot write in" in proc.stderr
        assert _leftovers(ro) == []
    finally:
        ro.chmod(0o755)


def test_an_existing_file_is_replaced_whole_keeping_its_mode(tmp_path):
    out = tmp_path / "q.om"
    out.write_text("old\n")
    out.chmod(0o640)
    run_json(["export", "quickstart", "--end-at", "now", "--out", str(out)], telemetry_env())
    assert out.read_text().endswith("# EOF\n") and (out.stat().st_mode & 0o777) == 0o640
    assert _leftovers(tmp_path) == ["q.om"]
