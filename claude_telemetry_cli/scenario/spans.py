"""Derive Claude Code's beta-tracing spans from a compiled timeline, and stamp events with their trace.

Spans are a view of what the events already say, so they are derived from the records, not compiled
from the steps: each `user_prompt` starts a `claude_code.interaction`, which lasts until the turn's
last record (before the next prompt or the session's end). Inside it, every `api_request` or
`api_error` is a `claude_code.llm_request` that ended when the event was emitted and lasted its
`duration_ms` (the retries' total for an exhausted error); every `tool_decision` is a
`claude_code.tool`, with a `claude_code.tool.blocked_on_user` child up to the decision and, when the
tool ran, a `claude_code.tool.execution` child up to its `tool_result`.

Every event emitted while an interaction is active carries that interaction span's ids.

Each span carries what Claude Code 2.1.332 sends (contract.spans): the event's standard attributes,
`gen_ai.provider.name` and `span.type`, then its own attributes, the `gen_ai.*` ones among them. An
llm_request has one `gen_ai.request.attempt` span event per attempt.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Mapping, Sequence

from claude_telemetry_cli.contract.spans import (
    BACKGROUND_EVENTS,
    BLOCKED_ON_USER,
    EXECUTION,
    INTERACTION,
    LLM_REQUEST,
    PROVIDER_NAME,
    REDACTED,
    REQUEST_ATTEMPT,
    SPAN_TYPE,
    SPANS,
    TOOL,
    TOOL_OUTPUT,
    TOOL_OUTPUT_PREFIX,
    span_type,
)
from claude_telemetry_cli.records import (
    EVENT,
    AttrValue,
    Record,
    SessionInfo,
    SpanEvent,
    SpanRecord,
    Timeline,
    TraceRef,
    attrs,
)

__all__ = ["derive_spans", "session_spans"]

_S = 1_000_000  # records' times are whole microseconds (see scenario.compile); spans are computed in them
_LLM_EVENTS = frozenset({"api_request", "api_error"})
# gen_ai.provider.name by anthropic.provider: the OpenTelemetry GenAI names of the cloud providers.
_PROVIDER_NAMES = {"firstParty": "anthropic", "bedrock": "aws.bedrock", "vertex": "gcp.vertex_ai"}
# A request's attempt is sent this long after the span starts (2.1.332: 2 to 5 ms), at most.
_ATTEMPT_SENT_US = 4000


def derive_spans(timeline: Timeline, *, seed: int | str) -> Timeline:
    """The timeline with its spans, and its events inside an interaction carrying the interaction's ids.

    Ids are drawn from `seed` (the scenario's), the session's index and its session.id, so the same
    scenario always produces the same trace and span ids, and one session's ids do not depend on
    what another session does.
    """
    positions: dict[int, list[int]] = {}
    for i, r in enumerate(timeline.records):
        positions.setdefault(r.session, []).append(i)
    records = list(timeline.records)
    spans: list[SpanRecord] = []
    for session in timeline.sessions:
        mine = positions.get(session.index, [])
        traced, own = session_spans(session, [timeline.records[i] for i in mine], seed=seed)
        for local, record in enumerate(traced):
            records[mine[local]] = record
        spans.extend(own)
    # Each session's spans are in order already; across sessions, by end time, then session.
    spans.sort(key=lambda span: (span.end_at, span.session))
    return dataclasses.replace(timeline, records=tuple(records), spans=tuple(spans))


def session_spans(
    session: SessionInfo, records: Sequence[Record], *, seed: int | str
) -> tuple[list[Record], list[SpanRecord]]:
    """One session's records (in time order), those inside an interaction now carrying its trace
    context, and its spans in the order they are replayed: by end time, and at one instant children
    before their parent, as they end in the client."""
    builder = _SessionSpans(session, seed, records)
    builder.run()
    traced = list(records)
    for local, ref in builder.traces.items():
        traced[local] = dataclasses.replace(traced[local], trace=ref)
    made = builder.spans  # (depth, span) in creation order
    order = sorted(range(len(made)), key=lambda n: (made[n][1].end_at, -made[n][0], n))
    return traced, [made[n][1] for n in order]


def _us(seconds: float) -> int:
    return round(seconds * _S)


def _ms(microseconds: int) -> int:
    return round(microseconds / 1000)


def _int(value: AttrValue | None, default: int = 0) -> int:
    # tool_result and user_prompt carry numbers as strings, as the real client sends them.
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _standard(record: Record) -> dict[str, AttrValue]:
    """The standard attributes of an event: everything before `event.name` (compile puts them first)."""
    out: dict[str, AttrValue] = {}
    for key, value in record.attributes:
        if key == "event.name":
            break
        out[key] = value
    return out


class _SessionSpans:
    """The spans of one simulated process, and which of its records carry which trace context."""

    def __init__(self, session: SessionInfo, seed: int | str, records: Sequence[Record]) -> None:
        self.session = session
        self.records = records
        self.rng = random.Random(f"{seed}/spans/{session.index}/{session.session_id}")
        self.spans: list[tuple[int, SpanRecord]] = []
        # Position in `records` -> the span it was logged in: its interaction's, or (a tool_decision)
        # that of the wait for the permission it records.
        self.traces: dict[int, TraceRef] = {}

    def _id(self, digits: int) -> str:
        # All-zero ids are invalid in W3C trace context; a zero draw is (astronomically) replaced.
        return f"{self.rng.getrandbits(digits * 4) or 1:0{digits}x}"

    def run(self) -> None:
        prompts = [i for i, r in enumerate(self.records) if r.signal == EVENT and r.name == "user_prompt"]
        for n, begin in enumerate(prompts):
            stop = prompts[n + 1] if n + 1 < len(prompts) else len(self.records)
            self._interaction(begin, stop, n + 1)

    def _span(
        self,
        depth: int,
        name: str,
        start_us: int,
        end_us: int,
        trace: TraceRef,
        parent: str | None,
        standard: Mapping[str, AttrValue],
        own: Mapping[str, AttrValue | None],
        *,
        error: str | None = None,
        span_id: str | None = None,
        events: tuple[SpanEvent, ...] = (),
    ) -> str:
        spec = SPANS[name]
        unknown = set(own) - set(spec.attribute_keys)
        if unknown:
            raise AssertionError(f"span {name} has no attributes {sorted(unknown)} in the contract")
        provider = _PROVIDER_NAMES.get(str(standard.get("anthropic.provider")), "anthropic")
        attributes = {**standard, PROVIDER_NAME: provider, SPAN_TYPE: span_type(name)}
        attributes.update({k: own[k] for k in spec.attribute_keys if own.get(k) is not None})
        span_id = span_id or self._id(16)
        failed = error is not None and spec.can_fail
        self.spans.append(
            (
                depth,
                SpanRecord(
                    start_at=start_us / _S,
                    end_at=end_us / _S,
                    session=self.session.index,
                    name=name,
                    trace_id=trace.trace_id,
                    span_id=span_id,
                    parent_span_id=parent,
                    attributes=attrs(attributes),
                    status="error" if failed else "unset",
                    status_message=error if failed and error else "",
                    events=events,
                ),
            )
        )
        return span_id

    def _interaction(self, begin: int, stop: int, sequence: int) -> None:
        records = self.records
        prompt = records[begin]
        # The turn's own work: a background record falling inside it does not stretch it.
        own = [i for i in range(begin, stop) if records[i].name not in BACKGROUND_EVENTS]
        start_us = _us(prompt.at)
        end_us = max(_us(records[i].at) for i in own)
        trace = TraceRef(self._id(32), self._id(16))
        for i in range(begin, stop):
            if records[i].signal == EVENT and _us(records[i].at) <= end_us:
                self.traces[i] = trace

        previous_us = start_us  # when the latest record of the turn was emitted
        for k, i in enumerate(own):
            r = records[i]
            if r.signal == EVENT and r.name in _LLM_EVENTS:
                self._llm_request(r, own[k + 1 :], trace, start_us)
            elif r.signal == EVENT and r.name == "tool_decision":
                # The tool call began when the turn's previous record was emitted (the model's answer
                # asking for it, or the previous tool's result): the permission check fills the gap.
                self._tool(i, own[k + 1 :], trace, previous_us)
            previous_us = _us(r.at)

        given = dict(prompt.attributes)
        self._span(
            0,
            INTERACTION,
            start_us,
            end_us,
            trace,
            None,
            _standard(prompt),
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.conversation.id": self.session.session_id,
                "user_prompt": given.get("prompt", REDACTED),
                "user_prompt_length": _int(given.get("prompt_length")),
                "interaction.sequence": sequence,
                # A scenario's session is never started by a caller passing TRACEPARENT.
                "parent.source": "none",
                # A scenario's prompts are sent one at a time: none waits behind a running turn.
                "queued_sends": 0,
                "interaction.duration_ms": _ms(end_us - start_us),
            },
            span_id=trace.span_id,
        )

    def _llm_request(self, r: Record, after: list[int], trace: TraceRef, floor_us: int) -> None:
        given = dict(r.attributes)
        end_us = _us(r.at)
        failed = r.name == "api_error"
        # A request that succeeded after retries says so to its span only (its attempts, and its
        # duration with them); an error's event says it all.
        hints = dict(r.span_attributes)
        duration_ms = _int(hints.get("duration_ms", given.get("duration_ms")))
        # An exhausted error reports its last attempt; the span covers every attempt and the backoff.
        for i in after:
            nxt = self.records[i]
            if _us(nxt.at) != end_us:
                break
            if nxt.name == "api_retries_exhausted":
                duration_ms = _int(dict(nxt.attributes).get("total_retry_duration_ms"), duration_ms)
                break
        start_us = max(end_us - duration_ms * 1000, floor_us)
        model = given.get("model")
        attempts = max(1, _int(given.get("attempt") if failed else hints.get("attempt"), 1))
        # The final attempt took the event's duration_ms; the earlier ones and the backoff came before.
        final_us = max(start_us, end_us - _int(given.get("duration_ms")) * 1000)
        # The event's x-client-request-id is the final attempt's; absent off the first-party API or
        # with a custom base URL, on the span and its attempts as on the event.
        client_request_id = given.get("client_request_id")
        own: dict[str, AttrValue | None] = {
            "model": model,
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": model,
            "gen_ai.operation.name": "chat",
            "llm_request.context": "interaction",
            "speed": given.get("speed") or "normal",
            "gen_ai.conversation.id": self.session.session_id,
            "query_source_safe": given.get("query_source"),
            "duration_ms": duration_ms,
            "success": not failed,
            "attempt": attempts,
            "client_request_id": client_request_id,
            "effort": given.get("effort"),
        }
        error = None
        if failed:
            error = str(given.get("error") or "API error")
            own["status_code"] = given.get("status_code")
            own["error"] = error
        else:
            stop_reason = "tool_use" if self._tool_call_follows(after) else "end_turn"
            input_tokens = _int(given.get("input_tokens"))
            cache_read = _int(given.get("cache_read_tokens"))
            cache_creation = _int(given.get("cache_creation_tokens"))
            ttft_ms = given.get("ttft_ms")
            own.update(
                {
                    "input_tokens": input_tokens,
                    "output_tokens": given.get("output_tokens"),
                    "cache_read_tokens": cache_read,
                    "cache_creation_tokens": cache_creation,
                    "request_id": given.get("request_id"),
                    "gen_ai.response.id": given.get("request_id"),
                    "ttft_ms": ttft_ms,
                    # The first content block streams in with the first token.
                    "first_content_ms": ttft_ms,
                    "stop_reason": stop_reason,
                    "gen_ai.response.finish_reasons": (stop_reason,),
                    # Every prompt token, cached or not.
                    "gen_ai.usage.input_tokens": input_tokens + cache_read + cache_creation,
                    "gen_ai.usage.output_tokens": given.get("output_tokens"),
                    "gen_ai.usage.cache_read.input_tokens": cache_read,
                    "gen_ai.usage.cache_write.input_tokens": cache_creation,
                    "gen_ai.response.model": model,
                }
            )
        events = self._attempts(start_us, final_us, end_us, attempts, client_request_id)
        self._span(
            1,
            LLM_REQUEST,
            start_us,
            end_us,
            trace,
            trace.span_id,
            _standard(r),
            own,
            error=error,
            events=events,
        )

    def _attempts(
        self, start_us: int, final_us: int, end_us: int, attempts: int, client_request_id: AttrValue | None
    ) -> tuple[SpanEvent, ...]:
        """One gen_ai.request.attempt per attempt, each sent a few ms after it began: the final one at
        `final_us`, the earlier ones spread from the span's start up to it. With a client_request_id,
        every earlier attempt had its own."""
        share = (final_us - start_us) // (attempts - 1) if attempts > 1 else end_us - start_us
        last = end_us - final_us if attempts > 1 else share
        out = []
        for n in range(1, attempts + 1):
            begun = start_us + (n - 1) * share if n < attempts else final_us
            at_us = begun + min(_ATTEMPT_SENT_US, (share if n < attempts else last) // 2)
            attributes: dict[str, AttrValue] = {"attempt": n}
            if client_request_id is not None:
                attributes["client_request_id"] = (
                    client_request_id
                    if n == attempts
                    else str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                )
            out.append(SpanEvent(at_us / _S, REQUEST_ATTEMPT, attrs(attributes)))
        return tuple(out)

    def _tool_call_follows(self, after: list[int]) -> bool:
        """Whether the model asked for a tool: a tool_decision comes before the next request."""
        for i in after:
            r = self.records[i]
            if r.signal != EVENT:
                continue
            if r.name == "tool_decision":
                return True
            if r.name in _LLM_EVENTS:
                return False
        return False

    def _tool(self, index: int, after: list[int], trace: TraceRef, start_us: int) -> None:
        decision = self.records[index]
        given = dict(decision.attributes)
        tool_use_id = given.get("tool_use_id")
        result = next(
            (
                self.records[i]
                for i in after
                if self.records[i].name == "tool_result"
                and dict(self.records[i].attributes).get("tool_use_id") == tool_use_id
            ),
            None,
        )
        decided_us = _us(decision.at)
        end_us = _us(result.at) if result is not None else decided_us
        standard = _standard(decision)
        conversation = self.session.session_id
        tool_id = self._id(16)  # the children are created first (they end first) and need it
        blocked_id = self._span(
            2,
            BLOCKED_ON_USER,
            start_us,
            decided_us,
            trace,
            tool_id,
            standard,
            {
                "gen_ai.conversation.id": conversation,
                "duration_ms": _ms(decided_us - start_us),
                "decision": given.get("decision"),
                "source": given.get("source"),
            },
        )
        if index in self.traces:
            # The decision is logged while the permission is awaited: in that span.
            self.traces[index] = TraceRef(trace.trace_id, blocked_id)
        if result is not None:
            outcome = dict(result.attributes)
            success = outcome.get("success") == "true"
            error = None if success else str(outcome.get("error") or outcome.get("error_type") or "Error")
            self._span(
                2,
                EXECUTION,
                decided_us,
                end_us,
                trace,
                tool_id,
                standard,
                {
                    "gen_ai.conversation.id": conversation,
                    "tool_use_id": tool_use_id,
                    "gen_ai.tool.call.id": tool_use_id,
                    "duration_ms": _int(outcome.get("duration_ms"), _ms(end_us - decided_us)),
                    "success": success,
                    "error": error,
                },
                error=error,
            )
        tool_name = given.get("tool_name")
        hints = dict(decision.span_attributes)
        content = {
            k.removeprefix(TOOL_OUTPUT_PREFIX): hints.pop(k)
            for k in list(hints)
            if k.startswith(TOOL_OUTPUT_PREFIX)
        }
        # The tool's bodies are recorded once it ran, and only then.
        events = (
            (SpanEvent(end_us / _S, TOOL_OUTPUT, attrs(content)),) if content and result is not None else ()
        )
        self._span(
            1,
            TOOL,
            start_us,
            end_us,
            trace,
            trace.span_id,
            standard,
            {
                "tool_name": tool_name,
                # MCP tool names are the user's servers' and tools': never sent in the clear here.
                "tool_name_safe": "mcp_other" if given.get("tool_source") == "mcp" else tool_name,
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool_name,
                "gen_ai.conversation.id": conversation,
                # The Bash command's class and program, and with tool details what the call's input
                # reveals: what the decision knows but does not send.
                **hints,
                "tool_use_id": tool_use_id,
                "gen_ai.tool.call.id": tool_use_id,
                "duration_ms": _ms(end_us - start_us),
            },
            span_id=tool_id,
            events=events,
        )
