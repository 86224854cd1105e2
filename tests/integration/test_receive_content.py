"""`receive --expect` holds events to what they carry, not only to how many arrived."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Rotel
from tests.support.cli import otlp_env, run_cli

pytestmark = pytest.mark.integration


def test_events_carrying_more_than_expected_fail_the_verdict_naming_event_and_attribute(tmp_path, receivers):
    # The expectation is computed without prompt logging; the sender logs prompts, through a collector.
    receiver = receivers(tmp_path, "--expect", "feature-branch", "--timeout", "60s")
    rotel = Rotel(receiver.endpoint("grpc"))
    try:
        env = otlp_env(rotel.endpoint("grpc")) | {"OTEL_LOG_USER_PROMPTS": "1"}
        proc = run_cli(["run", "feature-branch", "--instant"], env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        code, data, err = receiver.result(timeout=90)
    finally:
        rotel.stop()
    assert code == 1, err
    verdict = data["verdict"]
    assert verdict["content_verified"] is True
    # Every count matches: only what the events carry differs.
    assert {m["kind"] for m in verdict["mismatches"]} == {"content"}, verdict["mismatches"]
    notes = [(m["name"], m["note"]) for m in verdict["mismatches"]]
    n = data["received"]["events_by_name"]["user_prompt"]
    assert any(
        name == "event user_prompt" and note.startswith("attribute 'prompt' ") and f"of {n}" in note
        for name, note in notes
    ), json.dumps(notes, indent=1)


def test_a_totals_file_without_content_verifies_counts_and_says_so(tmp_path, receivers):
    totals = json.loads(
        run_cli(
            ["scenarios", "totals", "feature-branch", "--json"], otlp_env("http://x:1"), cwd=tmp_path
        ).stdout
    )
    assert "content" in totals
    del totals["content"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(totals))
    receiver = receivers(tmp_path, "--expect-totals", str(path), "--timeout", "60s")
    env = otlp_env(receiver.endpoint("grpc")) | {"OTEL_LOG_USER_PROMPTS": "1"}
    run_cli(["run", "feature-branch", "--instant"], env, cwd=tmp_path)
    code, data, err = receiver.result()
    assert code == 0, err
    assert data["verdict"]["content_verified"] is False
