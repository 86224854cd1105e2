"""The shape of a session's OTLP requests (OTLP/JSON, camelCase), to compare a replay with a real client's.

Shape: the resource, the scopes, every metric's description, unit, temporality and its points' attribute
keys (in order) with their value types, every event in sequence with its attribute keys (in order) and
types, and every span's name, kind, flags, parent (by name), attribute keys and types, and span events.
Values that follow from the scenario are kept; ids, times and text lengths are left to the caller."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def reference_file(name: str) -> Path:
    """A real client's session capture, in the tests' data."""
    return DATA / name


def load_requests(path: Path) -> list[dict]:
    """The request bodies of a reference capture (JSON with `requests`) or of OTLP/JSON lines."""
    text = path.read_text()
    if path.suffix == ".json":
        return [r["body"] for r in json.loads(text)["requests"]]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


_TEMPORALITY = {"AGGREGATION_TEMPORALITY_DELTA": 1, "AGGREGATION_TEMPORALITY_CUMULATIVE": 2}
_SPAN_KIND = {"SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3}


def _kind(value: dict) -> str:
    ((kind, _),) = value.items() if value else (("empty", None),)
    return kind


def _plain(value: dict):
    ((kind, x),) = value.items()
    if kind == "intValue":
        return int(x)
    if kind == "arrayValue":
        return tuple(_plain(v) for v in x.get("values", []))
    if kind == "kvlistValue":
        return tuple((kv["key"], _plain(kv["value"])) for kv in x.get("values", []))
    return x


def typed_keys(attributes: list[dict]) -> tuple[tuple[str, str], ...]:
    return tuple((a["key"], _kind(a["value"])) for a in attributes)


def values(attributes: list[dict]) -> dict:
    return {a["key"]: _plain(a["value"]) for a in attributes}


def shape(bodies: list[dict]) -> dict:
    resources, scopes = set(), set()
    metrics: dict[str, set] = {}
    events: list[tuple[int, str, tuple, dict]] = []
    spans: list[dict] = []
    for body in bodies:
        for key, scope_key, items_key in (
            ("resourceMetrics", "scopeMetrics", "metrics"),
            ("resourceLogs", "scopeLogs", "logRecords"),
            ("resourceSpans", "scopeSpans", "spans"),
        ):
            for resource in body.get(key, []):
                resources.add(typed_keys(resource["resource"].get("attributes", [])))
                for scope in resource.get(scope_key, []):
                    scopes.add((key, scope["scope"].get("name"), scope["scope"].get("version")))
                    for item in scope.get(items_key, []):
                        if key == "resourceMetrics":
                            kind = "sum" if "sum" in item else "gauge"
                            data = item[kind]
                            head = (
                                item.get("description", ""),
                                item.get("unit", ""),
                                kind,
                                _TEMPORALITY.get(
                                    data.get("aggregationTemporality"), data.get("aggregationTemporality")
                                ),
                                data.get("isMonotonic"),
                            )
                            for p in data["dataPoints"]:
                                value = "asInt" if "asInt" in p else "asDouble"
                                metrics.setdefault(item["name"], set()).add(
                                    (head, typed_keys(p.get("attributes", [])), value)
                                )
                        elif key == "resourceLogs":
                            attributes = item.get("attributes", [])
                            v = values(attributes)
                            events.append(
                                (v.get("event.sequence", 0), v.get("event.name"), typed_keys(attributes), v)
                            )
                        else:
                            spans.append(item)
    events.sort(key=lambda e: e[0])
    by_id = {s["spanId"]: s for s in spans}
    span_shapes = sorted(
        (
            s["name"],
            _SPAN_KIND.get(s.get("kind"), s.get("kind")),
            s.get("flags"),
            by_id[s["parentSpanId"]]["name"] if s.get("parentSpanId") in by_id else None,
            typed_keys(s.get("attributes", [])),
            tuple((e["name"], typed_keys(e.get("attributes", []))) for e in s.get("events", [])),
        )
        for s in spans
    )
    return {
        "resources": resources,
        "scopes": scopes,
        "metrics": metrics,
        "events": [(name, keys) for _, name, keys, _ in events],
        "event_values": [v for *_, v in events],
        "spans": span_shapes,
    }


def differences(ours: dict, real: dict) -> list[str]:
    """What a collector could tell apart, one line each; empty when the shapes agree."""
    out = []
    if ours["resources"] != real["resources"]:
        out.append(f"resource: ours {sorted(ours['resources'])} real {sorted(real['resources'])}")
    if ours["scopes"] != real["scopes"]:
        out.append(f"scopes: ours {sorted(ours['scopes'])} real {sorted(real['scopes'])}")
    for name in sorted(set(ours["metrics"]) | set(real["metrics"])):
        a, b = ours["metrics"].get(name, set()), real["metrics"].get(name, set())
        for x in sorted(a - b, key=repr):
            out.append(f"metric {name}: only ours {x}")
        for x in sorted(b - a, key=repr):
            out.append(f"metric {name}: only real {x}")
    a, b = [n for n, _ in ours["events"]], [n for n, _ in real["events"]]
    if a != b:
        out.append(f"event sequence: ours {a} real {b}")
    else:
        for (name, x), (_, y) in zip(ours["events"], real["events"], strict=True):
            if x != y:
                out.append(f"event {name}: ours {x} real {y}")
    a, b = ours["spans"], real["spans"]
    if [s[0] for s in a] != [s[0] for s in b]:
        out.append(f"span names: ours {[s[0] for s in a]} real {[s[0] for s in b]}")
    else:
        for x, y in zip(a, b, strict=True):
            if x != y:
                out.append(f"span {x[0]}: ours {x[1:]} real {y[1:]}")
    return out
