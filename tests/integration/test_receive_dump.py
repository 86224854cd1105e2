"""`receive --dump` when the dump cannot be written: a request is counted only if it was dumped whole."""

from __future__ import annotations

import json
import resource

import pytest

from tests.support.cli import otlp_env, run_cli

pytestmark = pytest.mark.integration


def _dumped_points(lines: list[dict]) -> int:
    return sum(
        len(m["sum"]["dataPoints"])
        for line in lines
        if line["signal"] == "metrics"
        for rm in line["body"]["resourceMetrics"]
        for sm in rm["scopeMetrics"]
        for m in sm["metrics"]
    )


def test_a_dump_that_cannot_be_written_refuses_the_requests_and_fails_the_verdict(tmp_path, receivers):
    receiver = receivers(tmp_path, "--expect", "quickstart", "--timeout", "30s", "--dump", "/dev/full")
    sent = run_cli(
        ["run", "quickstart", "--instant", "--export-timeout", "3"],
        otlp_env(receiver.endpoint("http/protobuf"), "http/protobuf"),
        cwd=tmp_path,
    )
    code, data, err = receiver.result()
    assert code == 1, err
    assert sent.returncode != 0  # refused, not acknowledged
    assert data["ok"] is False and data["timed_out"] is False
    received = data["received"]
    assert (received["points"], received["events"], received["requests"]) == (0, 0, {})
    assert received["errors"].get("http/protobuf: dump not written", 0) >= 1
    [line] = [line for line in err.splitlines() if "/dev/full" in line]
    assert "--dump /dev/full" in line and "no space left on device" in line
    assert "Traceback" not in err


def test_a_dump_cut_short_by_a_full_disk_ends_in_a_whole_line(tmp_path, receivers):
    # The quickstart's two requests make lines of about 8 and 18 kB: the second does not fit.
    limit = 20_000
    dump = tmp_path / "dump.jsonl"
    receiver = receivers(
        tmp_path,
        "--dump",
        str(dump),
        "--timeout",
        "20s",
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )
    run_cli(
        ["run", "quickstart", "--instant", "--export-timeout", "3"],
        otlp_env(receiver.endpoint("http/json"), "http/json"),
        cwd=tmp_path,
    )
    code, data, err = receiver.result()
    text = dump.read_bytes()
    assert text and text.endswith(b"\n") and len(text) <= limit
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 1
    # What was counted is exactly what was dumped.
    assert data["received"]["points"] == _dumped_points(lines)
    assert data["received"]["requests"] == {f"{lines[0]['signal']} http/json": 1}
    assert code == 1, err
    [line] = [line for line in err.splitlines() if str(dump) in line]
    assert "Traceback" not in err
