"""Content: what the records of one name carry, compared in bounded memory."""

from __future__ import annotations

import json

from claude_telemetry_cli.content import CAP, Content, differences, span_pairs
from claude_telemetry_cli.records import Totals


def records(n: int, **override):
    out = []
    for i in range(n):
        attrs = {
            "event.name": "api_request",
            "event.timestamp": f"2026-01-01T00:00:{i % 60:02d}.000Z",
            "session.id": f"session-{i}",
            "model": "claude-sonnet-4-5",
            "input_tokens": 100 + i % 3,
            "prompt": "<REDACTED>",
        }
        attrs.update(override)
        out.append(tuple((k, v) for k, v in attrs.items() if v is not None))
    return out


def content(recs) -> Content:
    c = Content()
    for r in recs:
        c.add(r)
    return c


def roundtrip(c: Content) -> Content:
    return Content.from_json(json.loads(json.dumps(c.to_json())))


def test_the_same_records_in_any_order_and_at_any_time_are_the_same_content():
    recs = records(300)
    later = [
        tuple((k, "2027-01-01T00:00:00.000Z" if k == "event.timestamp" else v) for k, v in r) for r in recs
    ]
    a, b = content(recs), content(reversed(later))
    assert a.same_as(b) and differences(a, b) == []
    assert json.dumps(a.to_json()) == json.dumps(b.to_json())
    assert roundtrip(a).same_as(b)


def test_a_changed_value_is_named_with_how_many_records_and_what_arrived():
    expected = roundtrip(content(records(120)))
    received = Content()
    received.expect(expected)
    for r in records(120, prompt="x" * 240):
        received.add(r)
    assert [d.describe() for d in differences(expected, received)] == [
        "attribute 'prompt' changed on 120 of 120 (expected '<REDACTED>', received a 240-character string)"
    ]


def test_a_dropped_and_a_retyped_attribute_are_each_counted():
    expected = content(records(14))
    recs = records(14)
    received = content(recs[:10] + [tuple(kv for kv in r if kv[0] != "model") for r in recs[10:]])
    assert [d.describe() for d in differences(expected, received)] == ["attribute 'model' dropped on 4 of 14"]
    retyped = content([tuple((k, str(v) if k == "input_tokens" else v) for k, v in r) for r in records(14)])
    assert [d.describe() for d in differences(expected, retyped)] == [
        "attribute 'input_tokens' arrived as string, expected int on 14 of 14"
    ]


def test_values_past_the_cap_still_compare_by_digest():
    recs = records(CAP * 4)
    expected = roundtrip(content(recs))
    assert expected.attributes["session.id"].other  # counted past the cap, as a digest
    assert differences(expected, content(recs)) == []
    altered = recs[:-1] + [tuple((k, "someone-else" if k == "session.id" else v) for k, v in recs[-1])]
    (d,) = differences(expected, content(altered))
    assert d.attribute == "session.id" and d.what == "changed" and d.records is None


def test_values_swapped_between_records_are_caught():
    a = [(("tool_name", "Read"), ("success", True)), (("tool_name", "Edit"), ("success", False))]
    b = [(("tool_name", "Read"), ("success", False)), (("tool_name", "Edit"), ("success", True))]
    (d,) = differences(content(a), content(b))
    assert d.what == "recombined"


def test_span_status_is_compared_like_an_attribute():
    ok = content([span_pairs((("tool_name", "Bash"),), "unset")] * 3)
    failed = content([span_pairs((("tool_name", "Bash"),), "error", "exit 1")] * 3)
    (d,) = differences(ok, failed)
    assert d.describe() == "status changed on 3 of 3 (expected 'unset', received 'error: exit 1')"


def test_totals_carry_content_through_json_and_merge_across_parts():
    first, second = Totals(), Totals()
    first.content = {("event", "api_request"): content(records(5))}
    second.content = {("event", "api_request"): content(records(7))}
    merged = Totals.sum_of([first, second])
    assert merged.content[("event", "api_request")].count == 12
    again = Totals.from_json(json.loads(merged.dumps()))
    assert again.content[("event", "api_request")].same_as(merged.content[("event", "api_request")])
    old = json.loads(merged.dumps())
    del old["content"]
    assert Totals.from_json(old).content is None  # an older file: counts only


def test_a_double_one_unit_in_the_last_place_away_is_the_same_value():
    sent = content([(("cost_usd", 0.011550000000000001),)])
    assert differences(sent, content([(("cost_usd", 0.01155),)])) == []
    (d,) = differences(sent, content([(("cost_usd", 0.0116),)]))
    assert d.what == "changed" and d.records == 1
