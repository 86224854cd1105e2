"""Resource attributes of logs, spans and metric series are verified like what the records carry: what a
collector altered on a resource fails the verdict, however it regrouped the records into requests."""

from __future__ import annotations

import json

from claude_telemetry_cli.otlp.decode import DecodedEvent, DecodedPoint, DecodedSpan
from claude_telemetry_cli.receiver.tally import Tally
from claude_telemetry_cli.receiver.verify import compare, delivered_totals
from claude_telemetry_cli.records import Record, SessionInfo, SpanRecord, Timeline, Totals, TotalsBuilder

RESOURCE = (
    ("host.arch", "arm64"),
    ("os.type", "darwin"),
    ("os.version", "24.1.0"),
    ("service.name", "claude-code"),
    ("service.version", "2.1.331"),
)
OTHER = tuple((k, "1.0.0" if k == "service.version" else v) for k, v in RESOURCE)
TOKENS = "claude_code.token.usage"


def _changed(resource, key, value):
    return tuple((k, value if k == key else v) for k, v in resource)


def _dropped(resource, key):
    return tuple((k, v) for k, v in resource if k != key)


def _session_records(session: str) -> list[Record]:
    """Three events, and two series each recorded twice."""
    out = []
    for i in range(3):
        out.append(
            Record(i, 0, "event", "api_request", None, (("session.id", session), ("event.sequence", i)))
        )
    for i, kind in enumerate(["input", "output", "input", "output"]):
        out.append(Record(i, 0, "metric", TOKENS, 10.0, (("session.id", session), ("type", kind))))
    return out


def _span(i: int) -> SpanRecord:
    return SpanRecord(0, 1, 0, "claude_code.llm_request", "a" * 32, f"{i:016x}", None, (("model", "m"),))


def _expected(*sessions: tuple[str, tuple]) -> Totals:
    builder = TotalsBuilder()
    for session, resource in sessions:
        builder.add(_session_records(session), [_span(0), _span(1)], resource)
    return builder.totals()


def _event(session: str, i: int, resource) -> DecodedEvent:
    attributes = (("session.id", session), ("event.sequence", i))
    return DecodedEvent("claude_code.api_request", attributes, 1, 1, 9, resource, "s", "1")


def _point(session: str, kind: str, resource, *, time: int = 2, cumulative: bool = False) -> DecodedPoint:
    temporality = "cumulative" if cumulative else "delta"
    attributes = (("type", kind), ("session.id", session))
    return DecodedPoint(
        TOKENS, "", "tokens", "sum", temporality, True, 10.0, True, attributes, 1, time, resource, "s", "1"
    )


def _decoded_span(i: int, resource) -> DecodedSpan:
    return DecodedSpan(
        "claude_code.llm_request", "a" * 32, f"{i:016x}", "", "internal", (("model", "m"),), "unset", "",
        0, 1, resource, "s", "1",
    )  # fmt: skip


def _fresh(resource) -> tuple:
    """The resource as the decoder hands it over: a new tuple per request."""
    return tuple(list(resource))


def _arrive(
    tally: Tally, session: str, resource, *, logs=None, metrics=None, spans=None, requests=1
) -> Tally:
    """One process's telemetry arriving (as _session_records and two spans): its events split into
    `requests` requests, as a collector may regroup them; each signal's resource `resource` unless given."""
    logs, metrics, spans = (resource if r is None else r for r in (logs, metrics, spans))
    step = -(-3 // requests)
    for first in range(0, 3, step):
        shared = _fresh(logs)
        tally.add_events([_event(session, i, shared) for i in range(first, min(first + step, 3))])
    for _ in range(2):  # each series exported twice
        shared = _fresh(metrics)
        tally.add_points([_point(session, kind, shared) for kind in ("input", "output")])
    shared = _fresh(spans)
    tally.add_spans([_decoded_span(0, shared), _decoded_span(1, shared)])
    return tally


def _notes(verdict) -> list[str]:
    return [m.describe() for m in verdict.mismatches]


def test_resources_are_counted_per_log_record_and_span_and_per_metric_series():
    totals = _expected(("s1", RESOURCE))
    content = totals.content
    assert content[("resource", "logs")].count == 3
    assert content[("resource", "traces")].count == 2
    # Two series, each recorded twice: one per series.
    assert content[("resource", "metrics")].count == 2
    assert sorted(content[("resource", "logs")].attributes) == [k for k, _ in RESOURCE]
    # As a totals file: keys a user can read, and the same after reading it back.
    data = json.loads(totals.dumps())
    assert {"resource logs", "resource traces", "resource metrics"} <= data["content"].keys()
    assert Totals.from_json(data).equals(totals, content=True)


def test_what_arrives_unaltered_passes_however_the_collector_batched_it():
    expected = _expected(("s1", RESOURCE))
    for requests in (1, 3):
        tally = Tally()
        tally.expect(expected)
        verdict = compare(expected, _arrive(tally, "s1", RESOURCE, requests=requests).totals())
        assert verdict.ok, (requests, _notes(verdict))
        assert verdict.content_verified


def test_a_resource_attribute_changed_on_logs_fails_naming_signal_attribute_and_count():
    expected = _expected(("s1", RESOURCE))
    tally = Tally()
    tally.expect(expected)
    _arrive(tally, "s1", RESOURCE, logs=_changed(RESOURCE, "service.version", "0.0.0"), requests=3)
    verdict = compare(expected, tally.totals())
    assert _notes(verdict) == [
        "content   resource logs: attribute 'service.version' changed on 3 of 3"
        " (expected '2.1.331', received '0.0.0')"
    ]
    assert verdict.to_json()["mismatches"][0]["name"] == "resource logs"


def test_a_resource_attribute_dropped_on_spans_or_metrics_fails():
    expected = _expected(("s1", RESOURCE))
    no_arch = _dropped(RESOURCE, "host.arch")
    received = _arrive(Tally(), "s1", RESOURCE, metrics=no_arch, spans=no_arch).totals()
    assert _notes(compare(expected, received)) == [
        "content   resource metrics: attribute 'host.arch' dropped on 2 of 2",
        "content   resource traces: attribute 'host.arch' dropped on 2 of 2",
    ]


def test_a_cumulative_series_exported_again_and_again_counts_once():
    tally = Tally()
    for time in (2, 3, 4):
        tally.add_points(
            [_point("s1", kind, _fresh(RESOURCE), time=time, cumulative=True) for kind in ("input", "output")]
        )
    assert tally.totals().content[("resource", "metrics")].count == 2


def test_processes_with_different_resources_are_told_apart():
    expected = _expected(("s1", RESOURCE), ("s2", OTHER))
    assert expected.content[("resource", "logs")].count == 6
    both = _arrive(_arrive(Tally(), "s1", RESOURCE), "s2", OTHER)
    assert compare(expected, both.totals()).ok
    # One process's logs took the other's version: counted.
    merged = _arrive(_arrive(Tally(), "s1", RESOURCE, logs=OTHER), "s2", OTHER)
    assert _notes(compare(expected, merged.totals())) == [
        "content   resource logs: attribute 'service.version' changed on 3 of 6"
        " (expected '2.1.331', received '1.0.0')"
    ]


def test_a_series_arriving_from_two_resources_is_named():
    expected = _expected(("s1", RESOURCE))
    tally = _arrive(Tally(), "s1", RESOURCE)
    # The collector altered the resource of one export and not of the other.
    tally.add_points([_point("s1", kind, OTHER) for kind in ("input", "output")])
    received = tally.totals()
    received.metrics = dict(expected.metrics)  # the values are not what this is about
    assert _notes(compare(expected, received)) == [
        "content   resource metrics: series per resource: expected 2, received 4"
        " (resource attributes altered)"
    ]


def test_resources_are_compared_only_where_as_many_records_arrived():
    expected = _expected(("s1", RESOURCE))
    altered = _changed(RESOURCE, "os.type", "linux")
    tally = Tally()
    tally.add_events([_event("s1", i, altered) for i in range(2)])  # one event lost
    tally.add_points([_point("s1", "input", altered)])  # one series lost
    tally.add_spans([_decoded_span(0, altered)])  # one span lost
    notes = _notes(compare(expected, tally.totals()))
    # The counts are the difference reported; which records' resources differ cannot be told.
    assert not [n for n in notes if "resource" in n], notes
    assert "events    api_request: expected 3, received 2" in notes


def test_totals_without_resources_verify_the_rest():
    expected = _expected(("s1", RESOURCE))
    data = json.loads(expected.dumps())
    data["content"] = {k: v for k, v in data["content"].items() if not k.startswith("resource ")}
    older = Totals.from_json(data)
    received = _arrive(Tally(), "s1", _changed(RESOURCE, "service.version", "0.0.0")).totals()
    verdict = compare(older, received)
    assert verdict.ok and verdict.content_verified
    assert not compare(expected, received).ok


def test_spans_unverified_leave_their_resources_unverified():
    expected = _expected(("s1", RESOURCE))
    expected.spans = {}  # totals computed without tracing
    received = _arrive(Tally(), "s1", RESOURCE, spans=_changed(RESOURCE, "os.type", "linux")).totals()
    assert compare(expected, received).ok


def test_a_sender_without_an_exporter_for_logs_or_metrics_is_not_held_to_their_resources():
    from types import SimpleNamespace

    def config(metrics: bool, logs: bool):
        return SimpleNamespace(
            enabled=True,
            metrics=SimpleNamespace(exporters=["otlp"] if metrics else []),
            logs=SimpleNamespace(exporters=["otlp"] if logs else []),
        )

    def resources(delivered: Totals) -> set[str]:
        return {name for kind, name in delivered.content if kind == "resource"}

    totals = _expected(("s1", RESOURCE))
    assert resources(delivered_totals(totals, config(metrics=True, logs=False))) == {"metrics", "traces"}
    assert resources(delivered_totals(totals, config(metrics=False, logs=True))) == {"logs", "traces"}


def test_a_compiled_timeline_and_a_compile_split_across_workers_carry_the_same_resources():
    sessions = (
        SessionInfo(0, "s1", "2.1.331", RESOURCE, 0.0, 10.0),
        SessionInfo(1, "s2", "1.0.0", OTHER, 0.0, 10.0),
    )
    records = [Record(r.at, 0, r.signal, r.name, r.value, r.attributes) for r in _session_records("s1")]
    records += [Record(r.at, 1, r.signal, r.name, r.value, r.attributes) for r in _session_records("s2")]
    timeline = Timeline("t", "current", sessions, tuple(records))
    whole = timeline.totals()
    assert whole.content[("resource", "logs")].count == 6
    assert whole.content[("resource", "metrics")].count == 4
    parts = []
    for info in sessions:
        part = TotalsBuilder()
        part.add([r for r in records if r.session == info.index], (), info.resource)
        parts.append(part.exact_part())
    merged = TotalsBuilder()
    for part in reversed(parts):
        merged.merge(part)
    assert merged.totals().equals(whole, content=True)
