"""Traces (beta): the span tree derived from a timeline, its ids, and what the pipeline makes of it."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import AggregationTemporality
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from claude_telemetry_cli.clock import InstantClock
from claude_telemetry_cli.contract import get_profile
from claude_telemetry_cli.contract.spans import (
    BLOCKED_ON_USER,
    EXECUTION,
    INTERACTION,
    LLM_REQUEST,
    SPANS,
    TOOL,
    TRACER_NAME,
    TRACER_VERSION,
)
from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.otlp.decode import DecodedSpan
from claude_telemetry_cli.pipeline import (
    ExportLane,
    ExportStats,
    SessionProcess,
    TrackedLogExporter,
    TrackedSpanExporter,
)
from claude_telemetry_cli.receiver.tally import Tally
from claude_telemetry_cli.receiver.verify import compare
from claude_telemetry_cli.records import EVENT, Timeline, Totals
from claude_telemetry_cli.replay import replay
from claude_telemetry_cli.scenario import (
    compile_scenario,
    load_scenario,
    load_scenario_text,
    resolve_scenario,
)
from claude_telemetry_cli.scenario.spans import derive_spans

STARTUP = {"managed_settings_resolved", "plugin_loaded"}


def traced(name: str, options: EmitOptions | None = None, seed: int | str | None = None) -> Timeline:
    scenario = load_scenario(resolve_scenario(name))
    timeline = compile_scenario(scenario, options or EmitOptions())
    return derive_spans(timeline, seed=scenario.seed if seed is None else seed)


def attrs(span) -> dict:
    return dict(span.attributes)


def children(timeline: Timeline, parent) -> list:
    return [s for s in timeline.spans if s.parent_span_id == parent.span_id]


# --- the tree -------------------------------------------------------------------------------------


def test_quickstart_is_one_interaction_with_two_requests_and_two_tools():
    t = traced("quickstart")

    assert t.totals().spans == {
        INTERACTION: 1,
        LLM_REQUEST: 2,
        TOOL: 2,
        BLOCKED_ON_USER: 2,
        EXECUTION: 2,
    }
    (root,) = [s for s in t.spans if s.name == INTERACTION]
    assert root.parent_span_id is None
    top = children(t, root)
    assert [s.name for s in top] == [LLM_REQUEST, TOOL, LLM_REQUEST, TOOL]
    for tool in (s for s in top if s.name == TOOL):
        assert [c.name for c in children(t, tool)] == [BLOCKED_ON_USER, EXECUTION]
    assert {s.trace_id for s in t.spans} == {root.trace_id}
    # Replayed at their end: children first, the interaction last.
    assert t.spans[-1] is root
    assert [s.end_at for s in t.spans] == sorted(s.end_at for s in t.spans)


def test_every_span_has_the_standard_attributes_span_type_and_only_contract_attributes():
    t = traced("feature-branch")
    prompt = next(r for r in t.records if r.name == "user_prompt")
    standard = dict(prompt.attributes[: [k for k, _ in prompt.attributes].index("event.name")])
    assert {"session.id", "user.id", "organization.id", "user.email"} <= set(standard)

    for s in t.spans:
        a = attrs(s)
        # The standard attributes, then the provider and the span's type, then its own attributes.
        keys = list(a)
        assert keys[: len(standard) + 2] == [*standard, "gen_ai.provider.name", "span.type"]
        assert a["span.type"] == s.name.removeprefix("claude_code.")
        assert a["gen_ai.provider.name"] == "anthropic"
        assert {k: a[k] for k in standard} == standard
        assert a["gen_ai.conversation.id"] == standard["session.id"]
        own = keys[len(standard) + 2 :]
        spec = SPANS[s.name].attribute_keys
        assert own == [k for k in spec if k in own], f"{s.name}: {own} not in contract order"
        if s.parent_span_id is not None:
            assert SPANS[s.name].parent == next(p.name for p in t.spans if p.span_id == s.parent_span_id)


def test_interaction_spans_the_prompt_to_the_turns_last_record():
    t = traced("feature-branch")
    prompts = [r for r in t.records if r.name == "user_prompt"]
    interactions = [s for s in t.spans if s.name == INTERACTION]

    assert [s.start_at for s in interactions] == [p.at for p in prompts]
    # The first turn ends with its last answer; the 40 s wait after it belongs to no one.
    first_turn = [r for r in t.records if prompts[0].at <= r.at < prompts[1].at]
    assert interactions[0].end_at == max(r.at for r in first_turn)
    assert interactions[1].end_at == max(r.at for r in t.records if r.name != "retention_sweep")
    for n, s in enumerate(interactions, start=1):
        a = attrs(s)
        assert a["interaction.sequence"] == n
        assert a["interaction.duration_ms"] == round((s.end_at - s.start_at) * 1000)
        assert a["user_prompt"] == "<REDACTED>"
        assert a["user_prompt_length"] == int(dict(prompts[n - 1].attributes)["prompt_length"])
        assert s.status == "unset"
        for child in t.spans:
            if child.trace_id == s.trace_id:
                assert s.start_at <= child.start_at <= child.end_at <= s.end_at


def test_prompt_text_is_on_the_interaction_only_with_otel_log_user_prompts():
    t = traced("feature-branch", EmitOptions(log_user_prompts=True))

    texts = [attrs(s)["user_prompt"] for s in t.spans if s.name == INTERACTION]
    assert all(text != "<REDACTED>" for text in texts)
    assert [len(text) for text in texts] == [180, 95]


def test_llm_request_attributes_come_from_the_api_request_event():
    t = traced("quickstart")
    requests = [r for r in t.records if r.name == "api_request"]
    spans = [s for s in t.spans if s.name == LLM_REQUEST]

    for event, span in zip(requests, spans, strict=True):
        e, a = dict(event.attributes), attrs(span)
        assert span.end_at == event.at
        assert span.end_at - span.start_at == pytest.approx(e["duration_ms"] / 1000)
        assert a["model"] == a["gen_ai.request.model"] == e["model"]
        assert a["gen_ai.system"] == "anthropic"
        assert a["request_id"] == a["gen_ai.response.id"] == e["request_id"]
        for key in ("duration_ms", "ttft_ms", "input_tokens", "output_tokens"):
            assert a[key] == e[key], key
        assert a.get("effort") == e.get("effort")
        assert a["query_source_safe"] == e["query_source"] and "query_source" not in a
        assert a["first_content_ms"] == e["ttft_ms"]
        assert (a["attempt"], a["success"], a["speed"], a["llm_request.context"]) == (
            1,
            True,
            "normal",
            "interaction",
        )
        assert (a["gen_ai.operation.name"], a["gen_ai.response.model"]) == ("chat", e["model"])
        # gen_ai.usage.input_tokens counts every prompt token; the cache ones again on their own.
        assert a["gen_ai.usage.input_tokens"] == (
            e["input_tokens"] + e["cache_read_tokens"] + e["cache_creation_tokens"]
        )
        assert a["gen_ai.usage.output_tokens"] == e["output_tokens"]
        assert a["gen_ai.usage.cache_read.input_tokens"] == e["cache_read_tokens"]
        assert a["gen_ai.usage.cache_write.input_tokens"] == e["cache_creation_tokens"]
        # quickstart's session has no custom base URL: the event's client_request_id is the span's.
        assert a["client_request_id"] == e["client_request_id"]
        assert "status_code" not in a and "error" not in a and span.status == "unset"
        assert a["gen_ai.response.finish_reasons"] == (a["stop_reason"],)
        (attempt,) = span.events
        assert (attempt.name, dict(attempt.attributes)) == (
            "gen_ai.request.attempt",
            {"attempt": 1, "client_request_id": e["client_request_id"]},
        )
        assert span.start_at < attempt.at < span.end_at


def test_a_request_asked_for_a_tool_when_a_tool_call_follows_it_in_the_turn():
    spans = [s for s in traced("feature-branch").spans if s.name == LLM_REQUEST and s.status == "unset"]
    # Each turn: answers followed by a tool call, then one final answer that ends the turn.
    assert [attrs(s)["stop_reason"] for s in spans] == ["tool_use"] * 3 + ["end_turn"] + ["tool_use"] * 3 + [
        "end_turn"
    ]
    # Claude Code no longer sends whether the response had a tool call: the stop reason says it.
    assert all("response.has_tool_call" not in attrs(s) for s in spans)


def test_tool_span_covers_the_permission_wait_and_the_execution():
    t = traced("quickstart")
    decision = next(r for r in t.records if r.name == "tool_decision")
    result = next(r for r in t.records if r.name == "tool_result")
    previous = max(r.at for r in t.records if r.at < decision.at and r.session == decision.session)
    tool = next(s for s in t.spans if s.name == TOOL)
    blocked, execution = children(t, tool)

    tool_use_id = dict(decision.attributes)["tool_use_id"]
    assert attrs(tool)["tool_use_id"] == attrs(tool)["gen_ai.tool.call.id"] == tool_use_id
    assert attrs(tool)["tool_name"] == "Edit"
    assert (tool.start_at, tool.end_at) == (previous, result.at)
    assert (blocked.start_at, blocked.end_at) == (previous, decision.at)
    assert (execution.start_at, execution.end_at) == (decision.at, result.at)
    assert {"decision": "accept", "source": "config"}.items() <= attrs(blocked).items()
    assert attrs(blocked)["duration_ms"] == 15
    assert attrs(execution)["duration_ms"] == int(dict(result.attributes)["duration_ms"])
    assert attrs(execution)["tool_use_id"] == attrs(execution)["gen_ai.tool.call.id"] == tool_use_id
    assert attrs(execution)["success"] is True and "error" not in attrs(execution)
    assert attrs(tool)["duration_ms"] == attrs(blocked)["duration_ms"] + attrs(execution)["duration_ms"]
    assert "result_tokens" not in attrs(tool)
    assert attrs(tool)["tool_name_safe"] == attrs(tool)["gen_ai.tool.name"] == "Edit"
    assert attrs(tool)["gen_ai.operation.name"] == "execute_tool"
    assert "bash_argv0" not in attrs(tool) and "bash_command_class" not in attrs(tool)


# --- failures -------------------------------------------------------------------------------------


def test_api_errors_are_failed_llm_requests_covering_every_retry():
    t = traced("failures")
    errors = [r for r in t.records if r.name == "api_error"]
    spans = [s for s in t.spans if s.name == LLM_REQUEST and s.status == "error"]

    assert len(spans) == len(errors) == 3
    for event, span in zip(errors, spans, strict=True):
        e, a = dict(event.attributes), attrs(span)
        assert (a["success"], a["attempt"], a["error"]) == (False, e["attempt"], e["error"])
        assert span.status_message == e["error"]
        assert a.get("status_code") == e.get("status_code")
        for absent in ("request_id", "input_tokens", "stop_reason", "response.has_tool_call"):
            assert absent not in a
        exhausted = next(
            (r for r in t.records if r.name == "api_retries_exhausted" and r.at == event.at), None
        )
        total = (
            e["duration_ms"] if exhausted is None else dict(exhausted.attributes)["total_retry_duration_ms"]
        )
        assert a["duration_ms"] == total
        assert span.end_at - span.start_at == pytest.approx(total / 1000)
    # Rate limited 4 times: 4 x 300 ms plus 500 + 1000 + 2000 ms of backoff.
    assert attrs(spans[0])["duration_ms"] == 4700
    # One gen_ai.request.attempt per attempt, in order, inside the span.
    for span in spans:
        numbers = [dict(e.attributes)["attempt"] for e in span.events]
        assert numbers == list(range(1, attrs(span)["attempt"] + 1))
        times = [e.at for e in span.events]
        assert times == sorted(times) and span.start_at < times[0] and times[-1] < span.end_at
    assert len(spans[0].events) == 4
    # A connection error has no HTTP status.
    assert "status_code" not in attrs(spans[2])
    # Only llm_request and tool.execution may fail; the interaction stays UNSET.
    assert {s.name for s in t.spans if s.status == "error"} <= {LLM_REQUEST, EXECUTION}


def test_a_request_that_succeeded_after_retries_tells_only_its_span():
    scenario = load_scenario_text(
        """\
version: 1
name: retried
seed: 3
sessions:
  - log_raw_api_bodies: 1
    steps:
      - prompt: {}
      - api_request: {input_tokens: 10, duration_ms: 3000, attempt: 3}
      - api_request: {input_tokens: 10, duration_ms: 1000, attempt: 2, total_retry_duration_ms: 5000}
""",
        "retried.yaml",
    )
    t = derive_spans(compile_scenario(scenario, EmitOptions()), seed=scenario.seed)
    first, second = [s for s in t.spans if s.name == LLM_REQUEST]
    events = [dict(r.attributes) for r in t.records if r.name == "api_request"]
    # The events are as for one attempt: the final attempt's duration, no error events.
    assert [e["duration_ms"] for e in events] == [3000, 1000]
    assert not [r for r in t.records if r.name in ("api_error", "api_retries_exhausted")]
    # The spans: successful, every attempt, the backoff (500 + 1000 ms) or the given total with them.
    assert (attrs(first)["success"], attrs(first)["attempt"], attrs(first)["duration_ms"]) == (True, 3, 4500)
    assert (attrs(second)["attempt"], attrs(second)["duration_ms"]) == (2, 5000)
    assert first.status == "unset" and first.end_at - first.start_at == pytest.approx(4.5)
    # The step took the whole time: the second request ends 5 s after the first.
    assert second.end_at - first.end_at == pytest.approx(5.0)
    attempts = [dict(e.attributes) for e in first.events]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    # Each attempt had its own x-client-request-id; the event reports the final one's.
    assert attempts[-1]["client_request_id"] == events[0]["client_request_id"]
    assert len({a["client_request_id"] for a in attempts}) == 3
    # The final attempt began duration_ms before the end; the earlier ones before it, in order.
    times = [e.at for e in first.events]
    assert times == sorted(times) and first.end_at - times[-1] == pytest.approx(3.0, abs=0.01)
    # One request body per attempt.
    assert len([r for r in t.records if r.name == "api_request_body"]) == 3 + 2


def test_rejected_tools_have_no_execution_and_a_failed_tool_fails_its_execution_only():
    t = traced("failures")
    tools = [s for s in t.spans if s.name == TOOL]

    rejected = [s for s in tools if len(children(t, s)) == 1]
    assert [(attrs(s)["tool_name"], attrs(children(t, s)[0])["source"]) for s in rejected] == [
        ("Edit", "user_reject"),
        ("Write", "user_abort"),
        ("Bash", "config"),
    ]
    for s in rejected:
        (blocked,) = children(t, s)
        assert blocked.name == BLOCKED_ON_USER and attrs(blocked)["decision"] == "reject"
        assert s.end_at == blocked.end_at and "result_tokens" not in attrs(s)
    (failed,) = [s for s in t.spans if s.name == EXECUTION and s.status == "error"]
    assert (attrs(failed)["success"], attrs(failed)["error"], failed.status_message) == (
        False,
        "ShellError",
        "ShellError",
    )
    parent = next(s for s in tools if s.span_id == failed.parent_span_id)
    assert parent.status == "unset"


def test_a_bash_tool_span_names_the_program_and_class_of_its_command():
    scenario = load_scenario_text(
        """
version: 1
name: bash
sessions:
  - steps:
      - prompt: {length: 20}
      - api_request: {}
      - tool: {name: Bash, input: {command: "NODE_ENV=test /usr/bin/npm test"}}
      - api_request: {}
      - tool: {name: Bash, parameters: {full_command: "git push origin main"}}
      - api_request: {}
      - commit: {command: "git commit -am wip"}
      - api_request: {}
      - pull_request: {}
      - api_request: {}
      - tool: {name: Bash}
      - api_request: {}
""",
        "bash.yaml",
    )
    t = derive_spans(compile_scenario(scenario), seed=scenario.seed)
    tools = [attrs(s) for s in sorted(t.spans, key=lambda s: s.start_at) if s.name == TOOL]
    assert [(a.get("bash_argv0"), a.get("bash_command_class")) for a in tools] == [
        ("npm", "other"),
        ("git", "vcs"),
        ("git", "vcs"),
        ("gh", "other"),
        # A Bash call whose command the scenario does not give: nothing is made up.
        (None, None),
    ]
    keys = list(tools[0])
    assert keys.index("gen_ai.conversation.id") + 1 == keys.index("bash_command_class")
    assert keys.index("bash_command_class") + 1 == keys.index("bash_argv0") == keys.index("tool_use_id") - 1
    # Never on the events: the command stays behind OTEL_LOG_TOOL_DETAILS there.
    for r in t.records:
        assert not {"bash_argv0", "bash_command_class"} & {k for k, _ in r.attributes}


def test_the_full_tool_error_is_on_the_execution_span_only_with_tool_details():
    t = traced("failures", EmitOptions(log_tool_details=True))

    (failed,) = [s for s in t.spans if s.name == EXECUTION and s.status == "error"]
    assert attrs(failed)["error"] == "cargo test: 3 tests failed"


# --- ids and trace context on events ----------------------------------------------------------------


def test_ids_are_valid_unique_and_reproducible_from_the_seed():
    one, two = traced("feature-branch"), traced("feature-branch")
    assert one.spans == two.spans and one.records == two.records

    for s in one.spans:
        assert len(s.trace_id) == 32 and int(s.trace_id, 16) != 0
        assert len(s.span_id) == 16 and int(s.span_id, 16) != 0
    assert len({s.span_id for s in one.spans}) == len(one.spans)
    assert len({s.trace_id for s in one.spans}) == 2  # one trace per interaction

    other = traced("feature-branch", seed="another seed")
    assert {s.span_id for s in other.spans}.isdisjoint({s.span_id for s in one.spans})
    assert [s.name for s in other.spans] == [s.name for s in one.spans]


def test_sessions_draw_ids_of_their_own():
    t = traced("failures")
    traces = {s.session: set() for s in t.spans}
    for s in t.spans:
        traces[s.session].add(s.trace_id)
    assert len(traces) == 2 and traces[0].isdisjoint(traces[1])


def test_events_inside_an_interaction_carry_its_ids_and_nothing_else_does():
    t = traced("feature-branch")
    roots = {s.trace_id: s for s in t.spans if s.name == INTERACTION}
    waits = {s.span_id: s for s in t.spans if s.name == BLOCKED_ON_USER}
    sweep = next(r for r in t.records if r.name == "retention_sweep")

    decisions = 0
    for r in t.records:
        if r.signal != EVENT or r.name in STARTUP:
            assert r.trace is None, r.name
            continue
        root = roots[r.trace.trace_id]
        assert root.start_at <= r.at <= root.end_at
        if r.name == "tool_decision":
            # Logged while the permission was awaited, as the real client logs it: in that span.
            wait = waits[r.trace.span_id]
            assert wait.trace_id == root.trace_id and wait.end_at == r.at
            decisions += 1
        else:
            assert r.trace.span_id == root.span_id
    assert decisions > 0
    # A background record falling inside a turn is inside it, without stretching it.
    assert sweep.trace is not None
    # Untraced, the same timeline's records carry nothing.
    plain = compile_scenario(load_scenario(resolve_scenario("feature-branch")), EmitOptions())
    assert all(r.trace is None for r in plain.records) and plain.spans == ()
    assert [dataclasses.replace(r, trace=None) for r in t.records] == list(plain.records)


def test_a_background_event_after_the_turn_carries_no_trace_and_does_not_stretch_it():
    # quickstart's turn ends before 5 s; kept open a while longer, the process sweeps after the turn.
    text = resolve_scenario("quickstart").read_text() + "      - wait: 4s\n"
    scenario = load_scenario_text(text, "quickstart.yaml")
    t = derive_spans(compile_scenario(scenario, EmitOptions()), seed=scenario.seed)
    sweep = next(r for r in t.records if r.name == "retention_sweep")
    last = max(r.at for r in t.records if r is not sweep)

    (root,) = [s for s in t.spans if s.name == INTERACTION]
    assert sweep.at > last and sweep.trace is None
    assert root.end_at == last


# --- totals and verification --------------------------------------------------------------------


def test_totals_count_spans_per_name_and_round_trip_through_json():
    t = traced("failures")
    totals = t.totals()

    assert sum(totals.spans.values()) == len(t.spans)
    assert Totals.from_json(totals.to_json()).equals(totals)
    assert "spans" not in compile_scenario(load_scenario(resolve_scenario("failures"))).totals().to_json()


def _decoded(name: str) -> DecodedSpan:
    return DecodedSpan(
        name, "1" * 32, "2" * 16, "", "internal", (), "unset", "", 1, 2, (), TRACER_NAME, "1.0.0"
    )


def test_verification_compares_span_counts_only_when_spans_are_expected():
    expected = Totals(events={"user_prompt": 1}, spans={INTERACTION: 1, LLM_REQUEST: 2})
    tally = Tally()
    tally.events.add_event("user_prompt")
    tally.add_spans([_decoded(INTERACTION), _decoded(LLM_REQUEST), _decoded(TOOL)])

    verdict = compare(expected, tally.totals())
    assert not verdict.ok and verdict.spans_verified
    assert [m.describe() for m in verdict.mismatches] == [
        "spans     claude_code.llm_request: expected 2, received 1",
        "spans     claude_code.tool: expected 0, received 1",
    ]
    assert verdict.to_json()["expected"]["spans"] == 3 and verdict.to_json()["received"]["spans"] == 3

    untraced = compare(Totals(events={"user_prompt": 1}), tally.totals())
    assert untraced.ok and not untraced.spans_verified


# --- through the SDK ------------------------------------------------------------------------------


class _MemoryFactory:
    """What replay() needs of a PipelineFactory, with in-memory exporters behind the tracked ones."""

    headers_refresh_s = None

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.logs = InMemoryLogRecordExporter()
        self.stats = [ExportStats("traces", "memory"), ExportStats("logs", "memory")]
        self.failure = threading.Event()

    def start_prometheus(self, session) -> None:
        pass

    def open(self, session) -> SessionProcess:
        lane = ExportLane(None)
        return SessionProcess(
            session,
            lane,
            get_profile("current"),
            [],
            [TrackedLogExporter(self.logs, self.stats[1], lane)],
            AggregationTemporality.DELTA,
            drop_units=False,
            prometheus=None,
            span_exporters=[TrackedSpanExporter(self.spans, self.stats[0], lane)],
        )

    def drain(self, *, stop_on_failure: bool = False) -> None:
        pass

    def abort(self) -> None:
        pass


def test_the_sdk_exports_the_timelines_ids_times_status_and_log_trace_context():
    t = traced("feature-branch")
    factory = _MemoryFactory()

    result = replay(t, factory, InstantClock(), metric_interval_s=60, logs_interval_s=5, traces_interval_s=1)

    assert result.span_records == len(t.spans) and result.aborted is None
    exported = factory.spans.get_finished_spans()
    assert factory.stats[0].items == len(exported) == len(t.spans)
    assert factory.stats[0].requests > 1  # batched on the replay's clock, not all at exit
    by_id = {f"{s.context.span_id:016x}": s for s in exported}
    for record in t.spans:
        s = by_id[record.span_id]
        assert s.name == record.name and f"{s.context.trace_id:032x}" == record.trace_id
        assert (f"{s.parent.span_id:016x}" if s.parent else None) == record.parent_span_id
        assert dict(s.attributes) == dict(record.attributes)
        assert s.status.status_code.name == record.status.upper()
        assert (s.status.description or "") == record.status_message
        assert (s.instrumentation_scope.name, s.instrumentation_scope.version) == (
            TRACER_NAME,
            TRACER_VERSION,
        )
        assert dict(s.resource.attributes) == dict(t.sessions[record.session].resource)
        assert s.end_time - s.start_time >= round((record.end_at - record.start_at) * 1e6) * 1000
        if s.parent is not None:
            parent = by_id[f"{s.parent.span_id:016x}"]
            assert parent.start_time <= s.start_time and s.end_time <= parent.end_time

    logs = factory.logs.get_finished_logs()
    traced_records = [r for r in t.records if r.signal == EVENT]
    assert len(logs) == len(traced_records)
    for record, log in zip(traced_records, logs, strict=True):
        got = log.log_record
        if record.trace is None:
            assert (got.trace_id, got.span_id) == (0, 0)
        else:
            assert (f"{got.trace_id:032x}", f"{got.span_id:016x}") == (
                record.trace.trace_id,
                record.trace.span_id,
            )
            assert int(got.trace_flags) == 1
