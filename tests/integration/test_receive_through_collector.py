"""`receive --expect` behind a real collector (rotel) that rewrites one attribute on its way through: the
verdict fails and names what changed, on which event, span or resource, and on how many records."""

from __future__ import annotations

import json
import pathlib

import pytest

from tests.conftest import Rotel
from tests.support.cli import otlp_env, run_cli

pytestmark = pytest.mark.integration

PROCESSOR = str(pathlib.Path(__file__).parents[1] / "support" / "rotel_rewrite.py")
PROCESSOR_VARIABLES = {
    "logs": "ROTEL_OTLP_WITH_LOGS_PROCESSOR",
    "traces": "ROTEL_OTLP_WITH_TRACE_PROCESSOR",
    "metrics": "ROTEL_OTLP_WITH_METRICS_PROCESSOR",
}
# A verdict that fails is given once nothing more has arrived for IDLE (rotel forwards within a second);
# the timeout is the outer bound, generous next to the seconds quickstart takes.
VERDICT_TIMEOUT, IDLE = "60s", "5s"
TRACING = {"CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1", "OTEL_TRACES_EXPORTER": "otlp"}


def _verdict(tmp_path, receivers, *, rewrite=None, signals=(), **extra):
    """Run quickstart through rotel into `receive --expect quickstart`, both configured alike (`extra`);
    rotel rewrites attributes (tests/support/rotel_rewrite.py) on the `signals` named."""
    config = otlp_env("http://127.0.0.1:1", **extra)
    receiver = receivers(
        tmp_path, "--expect", "quickstart", "--timeout", VERDICT_TIMEOUT, "--idle", IDLE, env=config
    )
    processors = {PROCESSOR_VARIABLES[signal]: PROCESSOR for signal in signals}
    rotel = Rotel(
        receiver.endpoint("grpc"),
        env=processors | ({"REWRITE_ATTRIBUTE": json.dumps(rewrite)} if rewrite else {}),
    )
    try:
        sent = run_cli(
            ["run", "quickstart", "--instant"], otlp_env(rotel.endpoint("grpc"), **extra), cwd=tmp_path
        )
        assert sent.returncode == 0, sent.stderr
        code, data, err = receiver.result(timeout=90)
    finally:
        log = rotel.stop()
    assert data, f"{err}\nrotel: {log}"
    return code, data["verdict"], data["received"]


def _notes(verdict) -> list[str]:
    return [f"{m['name']}: {m.get('note', '')}" for m in verdict["mismatches"]]


def test_an_unaltering_collector_passes_with_every_signal_and_resource_verified(tmp_path, receivers):
    code, verdict, received = _verdict(tmp_path, receivers, **TRACING, OTEL_LOG_USER_PROMPTS="1")
    assert code == 0, _notes(verdict)
    assert verdict["content_verified"] is True and verdict["spans_verified"] is True
    assert verdict["received"]["spans"] > 0 and verdict["received"]["events"] > 0


def test_an_event_attribute_replaced_fails_naming_event_attribute_and_count(tmp_path, receivers):
    code, verdict, received = _verdict(
        tmp_path,
        receivers,
        rewrite={"on": "record", "key": "prompt", "to": "<REDACTED>"},
        signals=["logs"],
        OTEL_LOG_USER_PROMPTS="1",
    )
    assert code == 1
    n = received["events_by_name"]["user_prompt"]
    assert _notes(verdict) == [
        f"event user_prompt: attribute 'prompt' changed on {n} of {n} "
        "(expected a 64-character string, received '<REDACTED>')"
    ]


def test_an_event_attribute_dropped_fails_naming_event_attribute_and_count(tmp_path, receivers):
    code, verdict, received = _verdict(
        tmp_path, receivers, rewrite={"on": "record", "key": "model", "to": None}, signals=["logs"]
    )
    assert code == 1
    n = received["events_by_name"]["api_request"]
    assert f"event api_request: attribute 'model' dropped on {n} of {n}" in " ".join(_notes(verdict))
    assert {m["kind"] for m in verdict["mismatches"]} == {"content"}


def test_an_event_attribute_retyped_fails_naming_event_attribute_and_count(tmp_path, receivers):
    code, verdict, received = _verdict(
        tmp_path,
        receivers,
        rewrite={"on": "record", "key": "event.sequence", "retype": "string"},
        signals=["logs"],
    )
    assert code == 1
    notes = _notes(verdict)
    # Every event carries its sequence number: each name is reported, each with its own count.
    for name, n in received["events_by_name"].items():
        assert any(
            note.startswith(f"event {name}: attribute 'event.sequence' arrived as string")
            and note.endswith(f"on {n} of {n}")
            for note in notes
        ), notes


def test_a_span_attribute_replaced_fails_naming_span_attribute_and_count(tmp_path, receivers):
    code, verdict, received = _verdict(
        tmp_path,
        receivers,
        rewrite={"on": "record", "key": "model", "to": "redacted"},
        signals=["traces"],
        **TRACING,
    )
    assert code == 1
    n = received["spans_by_name"]["claude_code.llm_request"]
    notes = _notes(verdict)
    assert any(
        note.startswith(f"span claude_code.llm_request: attribute 'model' changed on {n} of {n}")
        for note in notes
    ), notes
    assert all(m["name"].startswith("span ") for m in verdict["mismatches"]), notes


def test_a_resource_attribute_replaced_on_logs_and_metrics_fails_naming_resource_and_count(
    tmp_path, receivers
):
    code, verdict, received = _verdict(
        tmp_path,
        receivers,
        rewrite={"on": "resource", "key": "service.version", "to": "0.0.0"},
        signals=["logs", "metrics"],
    )
    assert code == 1
    n = verdict["received"]["events"]
    notes = _notes(verdict)
    assert (
        f"resource logs: attribute 'service.version' changed on {n} of {n}"
        " (expected '2.1.331', received '0.0.0')" in notes
    )
    series = verdict["received"]["series"]
    assert any(
        note.startswith("resource metrics: attribute 'service.version' changed on ")
        and f"of {series} " in note
        for note in notes
    ), notes
    # Nothing else differs: the records themselves arrived intact.
    assert all(m["name"].startswith("resource ") for m in verdict["mismatches"]), notes
