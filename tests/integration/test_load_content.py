"""`load --totals-out` holds the collector to what the events and spans it acknowledged carry, not only to
how many there were: load -> a real collector -> `receive --expect-totals`."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import Rotel
from tests.support.cli import otlp_env, run_cli

pytestmark = pytest.mark.integration

# Tracing on (the beta and its exporter), and each signal exported within the run.
TRACED = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1",
    "OTEL_LOGS_EXPORT_INTERVAL": "500",
    "OTEL_TRACES_EXPORT_INTERVAL": "500",
}
FLEET = ["--sessions", "40", "--interval", "1s", "--ramp-up", "1s"]
# A modest rate: what the receiver decodes in Python shares the machine with the collector and load.
THROUGHPUT = ["--throughput", "--rate", "40", "--batch", "50"]


def _load(args, endpoint: str, tmp_path, protocol: str = "grpc"):
    proc = run_cli(
        ["load", "--json", "--workers", "2", *args], otlp_env(endpoint, protocol, **TRACED), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize(
    ("mode", "protocol"), [("fleet", "grpc"), ("fleet", "http/protobuf"), ("throughput", "grpc")]
)
def test_what_the_events_and_spans_carry_arrives_exactly_behind_the_collector(
    tmp_path, receivers, mode, protocol
):
    sent = tmp_path / "sent.json"
    receiver = receivers(tmp_path, "--expect-totals", str(sent), "--timeout", "150s")
    rotel = Rotel(receiver.endpoint("grpc"))
    try:
        data = _load(
            [*(FLEET if mode == "fleet" else THROUGHPUT), "--duration", "5s", "--totals-out", str(sent)],
            rotel.endpoint(protocol),
            tmp_path,
            protocol,
        )
        code, result, err = receiver.result(timeout=180)
    finally:
        rotel.stop()
    assert data["events"]["acknowledged"] == data["events"]["sent"] > 0
    assert data["spans"]["acknowledged"] == data["spans"]["sent"] > 0
    totals = json.loads(sent.read_text())
    assert sum(totals["events"].values()) == data["events"]["acknowledged"]
    assert sum(totals["spans"].values()) == data["spans"]["acknowledged"]
    assert {key for key in totals["content"] if key.startswith("resource")} == {
        "resource logs",
        "resource traces",
    }
    assert {key.split()[0] for key in totals["content"]} == {"event", "span", "resource"}
    assert code == 0, json.dumps(result.get("verdict"), indent=1)[:3000] + err
    verdict = result["verdict"]
    assert verdict["ok"] is True
    assert verdict["content_verified"] is True and verdict["spans_verified"] is True
    assert verdict["received"]["spans"] == data["spans"]["acknowledged"]


def test_an_event_attribute_other_than_what_was_acknowledged_fails_naming_event_and_attribute(
    tmp_path, receivers
):
    sent, altered = tmp_path / "sent.json", tmp_path / "altered.json"
    # The receiver expects totals that differ from what load acknowledged in one value of one attribute.
    receiver = receivers(tmp_path, "--expect-totals", str(altered), "--timeout", "40s")
    rotel = Rotel(receiver.endpoint("grpc"))
    try:
        _load([*FLEET, "--duration", "3s", "--totals-out", str(sent)], rotel.endpoint("grpc"), tmp_path)
        totals = json.loads(sent.read_text())
        model = totals["content"]["event api_request"]["attributes"]["model"]
        tag, value, n = model["values"][0]
        model["values"][0] = [tag, "claude-model-that-never-was", n]
        draft = tmp_path / "altered.json.part"
        draft.write_text(json.dumps(totals) + "\n")
        os.replace(draft, altered)
        code, result, err = receiver.result(timeout=90)
    finally:
        rotel.stop()
    assert code == 1, err
    verdict = result["verdict"]
    # Every count matches: only the value of that attribute differs.
    assert {m["kind"] for m in verdict["mismatches"]} == {"content"}, verdict["mismatches"]
    notes = [(m["name"], m["note"]) for m in verdict["mismatches"]]
    assert any(
        name == "event api_request"
        and note.startswith(f"attribute 'model' changed on {n} of ")
        and repr(value) in note
        for name, note in notes
    ), json.dumps(notes, indent=1)
