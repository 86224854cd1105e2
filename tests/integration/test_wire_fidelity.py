"""On the wire, a replayed session looks like the real Claude Code 2.1.331 session it reproduces."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import otlp_env, run_cli
from tests.unit.test_scenario_reference import CAPTURE, SAME_SESSION

pytestmark = pytest.mark.integration

_TYPES = {"stringValue": str, "intValue": int, "doubleValue": float, "boolValue": bool, "arrayValue": tuple}


def _real_requests():
    data = json.loads(CAPTURE.read_text())
    metrics = [r["body"] for r in data["requests"] if r["signal"] == "metrics"]
    logs = [r["body"] for r in data["requests"] if r["signal"] == "logs"]
    return metrics, logs


def _typed_keys(attributes: list) -> list[tuple[str, type]]:
    return [(a["key"], _TYPES[next(iter(a["value"]))]) for a in attributes]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    from tests.support.otlp_sink import OtlpSink

    sink = OtlpSink().start()
    tmp = tmp_path_factory.mktemp("wire")
    scenario = tmp / "real-session.yaml"
    scenario.write_text(SAME_SESSION)
    env = otlp_env(
        sink.endpoint,
        OTEL_METRIC_EXPORT_INTERVAL="1000",
        OTEL_LOGS_EXPORT_INTERVAL="1000",
        # What the capture's harness also set: its fake API's address, and the terminal.
        ANTHROPIC_BASE_URL="http://127.0.0.1:8080",
        TERM="xterm",
    )
    proc = run_cli(["run", str(scenario), "--speed", "4"], env, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    yield sink
    sink.stop()


def test_metric_requests_have_the_real_shape(replayed):
    from google.protobuf.json_format import MessageToDict

    real_metrics, _ = _real_requests()
    ours = [MessageToDict(r) for r in replayed.metric_requests]

    def shape(body):
        [rm] = body["resourceMetrics"]
        [sm] = rm["scopeMetrics"]
        metrics = {}
        for m in sm["metrics"]:
            sums = m["sum"]
            points = sums["dataPoints"]
            assert all("asDouble" in p for p in points)
            # Start and end on a whole millisecond, as the real client's points do.
            assert all(
                int(p["startTimeUnixNano"]) % 10**6 == int(p["timeUnixNano"]) % 10**6 == 0 for p in points
            )
            metrics[m["name"]] = (
                m.get("description"),
                m.get("unit", ""),
                sums["aggregationTemporality"],
                sums["isMonotonic"],
                {tuple(_typed_keys(p["attributes"])) for p in points},
            )
        return (
            [a["key"] for a in rm["resource"]["attributes"]],
            sm["scope"]["name"],
            "schemaUrl" in sm,
            metrics,
        )

    real_shapes = [shape(b) for b in real_metrics]
    our_shapes = [shape(b) for b in ours]
    assert {s[0] == real_shapes[0][0] for s in our_shapes} == {True}
    assert {s[1] for s in our_shapes} == {"com.anthropic.claude_code"} and not any(s[2] for s in our_shapes)

    def merged(shapes):
        out: dict = {}
        for *_, metrics in shapes:
            for name, (desc, unit, temporality, mono, keysets) in metrics.items():
                prev = out.setdefault(name, (desc, unit, temporality, mono, set()))
                prev[4].update(keysets)
        return out

    assert merged(our_shapes) == merged(real_shapes)


def test_log_records_have_the_real_shape(replayed):
    from google.protobuf.json_format import MessageToDict

    _, real_logs = _real_requests()

    def records(bodies):
        out = []
        for body in bodies:
            [rl] = body["resourceLogs"]
            [sl] = rl["scopeLogs"]
            assert sl["scope"]["name"] == "com.anthropic.claude_code.events" and "schemaUrl" not in sl
            for lr in sl["logRecords"]:
                assert lr["timeUnixNano"] == lr["observedTimeUnixNano"]
                assert "severityNumber" not in lr and "severityText" not in lr
                out.append((lr["body"]["stringValue"], _typed_keys(lr["attributes"])))
        return out

    ours = records(MessageToDict(r) for r in replayed.log_requests)
    real = records(real_logs)
    # One streaming race in the real client logged a Bash tool_decision 5 ms before its api_request.
    i = next(i for i, (body, keys) in enumerate(real) if body == "claude_code.tool_decision" and i > 10)
    real[i], real[i + 1] = real[i + 1], real[i]
    assert [body for body, _ in ours] == [body for body, _ in real]
    for (body, mine), (_, theirs) in zip(ours, real, strict=True):
        assert mine == theirs, body
