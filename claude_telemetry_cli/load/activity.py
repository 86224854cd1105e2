"""What simulated sessions do under load: compiled sessions of a generator preset, shared as templates.

A fleet of 100,000 sessions cannot hold 100,000 compiled sessions. It holds a pool of templates (the
sessions of a small generated organisation, compiled exactly as `run` compiles them under the same
configuration), and each simulated session is a template plus its own identity: its session.id and
user.id, substituted when its records are encoded.
"""

from __future__ import annotations

from dataclasses import dataclass

from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.records import (
    METRIC,
    Attributes,
    Record,
    SessionInfo,
    SpanEvent,
    SpanRecord,
    TraceRef,
)

__all__ = ["Template", "build_templates"]


@dataclass(frozen=True, slots=True)
class Template:
    """One compiled session, times relative to its start (seconds), in time order."""

    duration: float
    app_version: str
    resource: Attributes
    session_id: str
    user_id: str
    metrics: tuple[tuple[float, str, float, Attributes], ...]  # (offset, name, value, attributes)
    # (offset, name, attributes, trace context: set when compiled with tracing)
    events: tuple[tuple[float, str, Attributes, TraceRef | None], ...]
    # Beta traces: the session's spans, in the order they end, times relative to its start.
    spans: tuple[SpanRecord, ...] = ()

    @classmethod
    def from_compiled(
        cls, info: SessionInfo, records: list[Record], spans: tuple[SpanRecord, ...] | list = ()
    ) -> Template:
        metrics = []
        events = []
        for r in records:
            offset = r.at - info.start_at
            if r.signal == METRIC:
                metrics.append((offset, r.name, float(r.value or 0.0), r.attributes))
            else:
                events.append((offset, r.name, r.attributes, r.trace))
        user_id = next((v for k, v in records[0].attributes if k == "user.id"), "") if records else ""
        return cls(
            duration=info.end_at - info.start_at,
            app_version=info.app_version,
            resource=info.resource,
            session_id=info.session_id,
            user_id=str(user_id),
            metrics=tuple(metrics),
            events=tuple(events),
            spans=tuple(_relative(span, info.start_at) for span in spans),
        )


def _relative(span: SpanRecord, origin: float) -> SpanRecord:
    return SpanRecord(
        span.start_at - origin,
        span.end_at - origin,
        span.session,
        span.name,
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.attributes,
        span.status,
        span.status_message,
        tuple(SpanEvent(e.at - origin, e.name, e.attributes) for e in span.events),
    )


def build_templates(
    preset: str = "enterprise",
    *,
    seed: int = 1,
    options: EmitOptions | None = None,
    developers: int = 40,
    sets: list[str] | None = None,
    tracing: bool = False,
) -> list[Template]:
    """The sessions of one generated working day of `developers` from `preset`, compiled under
    `options`: the activity simulated sessions draw from; with `tracing`, with their spans (and their
    events with the trace context they are emitted in), as `run` compiles them with tracing on."""
    from claude_telemetry_cli.scenario.compile import compile_sessions
    from claude_telemetry_cli.scenario.generate import build_params, generate_text, load_preset
    from claude_telemetry_cli.scenario.loader import load_scenario_text
    from claude_telemetry_cli.scenario.spans import session_spans

    # One working day (a Tuesday); a preset's incident, if it has one, falls on it.
    flags = {"developers": developers, "days": 1, "seed": seed, "start_weekday": 1}
    if load_preset(preset)[0].incident_day is not None:
        flags["incident_day"] = 0
    params = build_params(preset, flags, sets)
    text, _ = generate_text(params)
    scenario = load_scenario_text(text, f"<{preset} preset>")
    out = []
    for info, records in compile_sessions(scenario, enumerate(scenario.sessions), options):
        if not records:
            continue
        spans: list = []
        if tracing:
            records, spans = session_spans(info, records, seed=scenario.seed)
        out.append(Template.from_compiled(info, records, spans))
    return out
