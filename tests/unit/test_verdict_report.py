"""A failed verdict as a person reads it: one line per metric, event and span name that differs first,
then the per-series lines, capped, with the rest left to --json."""

from __future__ import annotations

import io

from rich.console import Console

from claude_telemetry_cli import output
from claude_telemetry_cli.content import Content
from claude_telemetry_cli.receiver.smoke import SmokeCase
from claude_telemetry_cli.receiver.verify import Mismatch, Verdict, compare
from claude_telemetry_cli.records import Totals

COST, TOKENS = "claude_code.cost.usage", "claude_code.token.usage"


def _prompts(text: str, n: int) -> Content:
    content = Content()
    for i in range(n):
        content.add([("prompt", text), ("prompt.id", f"p{i}"), ("prompt_length", "12")])
    return content


def _expected() -> Totals:
    t = Totals()
    for i in range(30):
        t.add_metric(COST, (("session.id", f"s{i:02}"),), 0.5)
        t.add_metric(TOKENS, (("session.id", f"s{i:02}"), ("type", "input")), 10.0)
    t.add_event("api_request", 120)
    t.add_event("user_prompt", 4)
    t.content = {("event", "user_prompt"): _prompts("<REDACTED>", 4)}
    return t


def _received() -> Totals:
    """Every cost series lost, three token series lost and one altered, one series invented, 36 of the
    api_request events lost, and every prompt un-redacted (with its length retyped)."""
    t = Totals()
    for i in range(27):
        t.add_metric(TOKENS, (("session.id", f"s{i:02}"), ("type", "input")), 11.0 if i == 26 else 10.0)
    t.add_metric("claude_code.commit.count", (("session.id", "s00"),), 1.0)
    t.add_event("api_request", 84)
    t.add_event("user_prompt", 4)
    content = Content()
    for i in range(4):
        content.add([("prompt", "x" * 240), ("prompt.id", f"p{i}"), ("prompt_length", 12)])
    t.content = {("event", "user_prompt"): content}
    return t


def _render(draw) -> list[str]:
    buffer = io.StringIO()
    draw(Console(file=buffer, width=200, color_system=None))
    return buffer.getvalue().splitlines()


def test_a_failed_verdict_opens_with_one_line_per_name_before_any_series():
    verdict = compare(_expected(), _received())
    lines = _render(lambda console: output.verdict(console, verdict, seconds=2.0))
    assert lines[:7] == [
        "verification failed: 38 differences; expected 60 series and 124 events,"
        " received 28 series and 88 events",
        "  claude_code.commit.count: 1 extra series, none expected",
        f"  {COST}: 30 of 30 series missing",
        f"  {TOKENS}: 3 of 30 series missing, 1 altered",
        "  events api_request: expected 120, received 84",
        "  event user_prompt: attribute 'prompt' changed on 4 of 4 (expected '<REDACTED>',"
        " received a 240-character string) (+1 more)",
        "in detail:",
    ]
    details = lines[7:]
    # Capped, with each name and kind taking its turn: the one altered series is not hidden behind
    # thirty missing ones, nor is the second content difference.
    assert len(details) == 21 and details[-1] == "  ... and 16 more (--json lists them all)"
    assert f"  altered   {TOKENS} {{session.id=s26, type=input}}: expected 10, received 11" in details
    assert "  extra     claude_code.commit.count {session.id=s00}: 1 arrived, none expected" in details
    assert any(
        line.startswith("  content   event user_prompt: attribute 'prompt_length'") for line in details
    )
    assert sum(line.startswith(f"  missing   {COST} ") for line in details) == 14


def test_the_json_verdict_keeps_every_mismatch_and_adds_the_summary():
    verdict = compare(_expected(), _received())
    data = verdict.to_json()
    assert len(data["mismatches"]) == 38
    assert data["summary"][:2] == [
        "claude_code.commit.count: 1 extra series, none expected",
        f"{COST}: 30 of 30 series missing",
    ]
    assert len(data["summary"]) == 5


def test_counts_and_attribute_changes_are_summary_lines_and_details_come_only_from_series():
    verdict = Verdict(
        [
            Mismatch("attribute dropped", TOKENS, note="'model' is missing from every point"),
            Mismatch("attribute dropped", TOKENS, note="'effort' is missing from every point"),
            Mismatch("attribute added", TOKENS, note="'host' is on every point, unexpected"),
            Mismatch("altered", TOKENS, {"type": "input"}, 100.0, 150.0),
            Mismatch("events", "user_prompt", expected=3, received=0),
            Mismatch("spans", "claude_code.interaction", expected=3, received=2),
            Mismatch("content", "span claude_code.llm_request", note="attribute 'model' dropped on 2 of 2"),
        ],
        expected_series=4,
        received_series=2,
        expected_events=3,
        received_events=0,
        spans_verified=True,
        # No per-name counts (a verdict from elsewhere): the line cannot say "of N".
    )
    report = verdict.roll_up()
    assert report.lines == [
        f"{TOKENS}: 'model', 'effort' are missing from every point; 'host' is on every point, unexpected;"
        " 1 series altered",
        "events user_prompt: expected 3, received 0",
        "spans claude_code.interaction: expected 3, received 2",
        "span claude_code.llm_request: attribute 'model' dropped on 2 of 2",
    ]
    assert [m.kind for m in report.details] == ["altered"]
    lines = _render(lambda console: output.verdict(console, verdict, seconds=1.0))
    assert lines[-2:] == ["in detail:", f"  altered   {TOKENS} {{type=input}}: expected 100, received 150"]


def test_a_failed_smoke_case_shows_the_same_summary():
    case = SmokeCase("grpc", "delta", verdict=compare(_expected(), Totals()), error="verification failed")
    lines = _render(lambda console: output.smoke_table(console, "quickstart", [case]))
    start = lines.index("grpc delta: verification failed")
    assert lines[start + 1 : start + 5] == [
        f"  {COST}: 30 of 30 series missing",
        f"  {TOKENS}: 30 of 30 series missing",
        "  events api_request: expected 120, received 0",
        "  events user_prompt: expected 4, received 0",
    ]
    assert lines[start + 5] == "in detail:"
    assert lines[start + 16] == "  ... and 50 more (--json lists them all)"
