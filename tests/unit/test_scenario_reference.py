"""A scenario compiles to what the real Claude Code 2.1.331 sent, ids and clocks aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_telemetry_cli.records import EVENT, METRIC
from claude_telemetry_cli.scenario import compile_scenario, load_scenario_text
from claude_telemetry_cli.settings import load_config

# Every OTLP request one real Claude Code 2.1.331 session sent, decoded (the public reference capture).
CAPTURE = Path(__file__).resolve().parents[1] / "data" / "real-client-2.1.331-session.json"

# The session the capture recorded, step by step: create hello.py (Write), edit it, commit, answer.
SAME_SESSION = """
version: 1
name: real-client-2.1.331
seed: 331
defaults:
  model: claude-opus-5-5
  effort: medium
sessions:
  - os_version: 6.18.44-fc-v657
    query_source: sdk
    permission_mode: bypassPermissions
    steps:
      - prompt: {length: 86}
      - api_request:
          {input_tokens: 100, output_tokens: 50, cache_read_tokens: 2000, cache_creation_tokens: 300,
           cost_usd: 0.0033, duration_ms: 1525, ttft_ms: 1512, response_length: 21}
      - edit:
          {tool: Write, language: Python, lines_added: 9, lines_removed: 0, duration_ms: 6,
           input_size_bytes: 214, result_size_bytes: 143}
      - api_request:
          {input_tokens: 110, output_tokens: 55, cache_read_tokens: 2100, cache_creation_tokens: 40,
           cost_usd: 0.00216, duration_ms: 1510, ttft_ms: 1505}
      - edit:
          {tool: Edit, language: Python, lines_added: 1, lines_removed: 1, duration_ms: 4,
           input_size_bytes: 170, result_size_bytes: 153}
      - api_request:
          {input_tokens: 120, output_tokens: 60, cache_read_tokens: 2200, cache_creation_tokens: 40,
           cost_usd: 0.0023200000000000004, duration_ms: 1568, ttft_ms: 1549}
      - commit: {duration_ms: 69, input_size_bytes: 78, result_size_bytes: 83}
      - api_request:
          {input_tokens: 130, output_tokens: 65, cache_read_tokens: 2300, cache_creation_tokens: 40,
           cost_usd: 0.00248, duration_ms: 1507, ttft_ms: 1505, response_length: 46}
      - active: {cli: 6345ms}
"""

# Random per run or per machine: compared by presence and type only.
VOLATILE = {
    "user.id",
    "session.id",
    "prompt.id",
    "message.uuid",
    "request_id",
    "tool_use_id",
    "event.sequence",
    "files_retained_fresh",
}


def _value(v: dict):
    ((kind, x),) = v.items()
    if kind == "intValue":
        return int(x)
    if kind == "arrayValue":
        return tuple(_value(i) for i in x.get("values", []))
    return x  # stringValue, doubleValue, boolValue decode to the right Python type already


def _attributes(items: list) -> dict:
    return {a["key"]: _value(a["value"]) for a in items}


@pytest.fixture(scope="module")
def capture() -> dict:
    data = json.loads(CAPTURE.read_text())
    events, points, resources = [], [], []
    for request in data["requests"]:
        body = request["body"]
        for rm in body.get("resourceMetrics", []):
            resources.append(_attributes(rm["resource"]["attributes"]))
            for sm in rm["scopeMetrics"]:
                for metric in sm["metrics"]:
                    for point in metric["sum"]["dataPoints"]:
                        points.append((metric["name"], _attributes(point["attributes"]), point["asDouble"]))
        for rl in body.get("resourceLogs", []):
            resources.append(_attributes(rl["resource"]["attributes"]))
            for sl in rl["scopeLogs"]:
                for record in sl["logRecords"]:
                    events.append(_attributes(record["attributes"]))
    events.sort(key=lambda e: e["event.sequence"])
    return {"events": events, "points": points, "resources": resources}


@pytest.fixture(scope="module")
def timeline(tmp_path_factory):
    # The capture's environment, with what the harness also set (as the 2.1.332 capture records it): a
    # local fake API as ANTHROPIC_BASE_URL and TERM=xterm. They, not scenario fields, make
    # anthropic.custom_base_url true and terminal.type xterm.
    environ = {
        **json.loads(CAPTURE.read_text())["env"],
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:8080",
        "TERM": "xterm",
    }
    root = tmp_path_factory.mktemp("machine")
    config = load_config(environ, cwd=root, home=root, managed_path=root / "managed-settings.json")
    return compile_scenario(load_scenario_text(SAME_SESSION, "same.yaml"), config.emit)


def _in_step_order(events: list[dict]) -> list[dict]:
    # Streaming race in the real client: the Bash permission check (from a tool_use block) ran 5 ms before
    # the api_request event of the response carrying it was logged. A scenario is sequential.
    out = list(events)
    i = next(i for i, e in enumerate(out) if e["event.name"] == "tool_decision" and e["tool_name"] == "Bash")
    assert out[i + 1]["event.name"] == "api_request"
    out[i], out[i + 1] = out[i + 1], out[i]
    return out


def test_event_names_in_the_order_the_real_client_sent_them(capture, timeline):
    real = [e["event.name"] for e in _in_step_order(capture["events"])]
    ours = [r.name for r in timeline.records if r.signal == EVENT]
    assert ours == real
    assert [dict(r.attributes)["event.sequence"] for r in timeline.records if r.signal == EVENT] == list(
        range(len(real))
    )


def test_each_event_has_the_real_attribute_keys_order_values_and_types(capture, timeline):
    ours = [dict(r.attributes) for r in timeline.records if r.signal == EVENT]
    for real, mine in zip(_in_step_order(capture["events"]), ours, strict=True):
        # event.timestamp is the pipeline's to stamp, at export time.
        assert "event.timestamp" not in mine
        real = {k: v for k, v in real.items() if k != "event.timestamp"}
        assert list(mine) == list(real), real["event.name"]
        for key, value in real.items():
            assert type(mine[key]) is type(value), (real["event.name"], key)
            if key not in VOLATILE:
                assert mine[key] == value, (real["event.name"], key)


def test_every_metric_point_matches_a_real_one_with_the_same_keys_and_value(capture, timeline):
    def stable(name, attributes, value):
        return name, tuple((k, v) for k, v in attributes.items() if k not in VOLATILE), value

    real = sorted((stable(*p) for p in capture["points"]), key=repr)
    ours = sorted(
        (stable(r.name, dict(r.attributes), r.value) for r in timeline.records if r.signal == METRIC),
        key=repr,
    )
    assert ours == real
    assert all(type(r.value) is float for r in timeline.records if r.signal == METRIC)


def test_ids_have_the_real_shapes(capture, timeline):
    real = _in_step_order(capture["events"])
    ours = [dict(r.attributes) for r in timeline.records if r.signal == EVENT]
    for key, length in (("user.id", 64), ("session.id", 36), ("prompt.id", 36)):
        assert len(ours[-1][key]) == len(real[-1][key]) == length
    request_ids = {e["request_id"] for e in ours if "request_id" in e}
    assert len(request_ids) == 4 and all(r.startswith("req_") for r in request_ids)
    assert all(e["tool_use_id"].startswith("toolu_") for e in ours if "tool_use_id" in e)


def test_resource_is_the_real_one(capture, timeline):
    (session,) = timeline.sessions
    assert all(
        dict(session.resource) == r and list(dict(session.resource)) == list(r) for r in capture["resources"]
    )
