"""A rotel Python processor that rewrites one attribute, as a misconfigured collector would.

rotel loads this file itself (`--otlp-with-logs-processor`, `--otlp-with-traces-processor`, or the
ROTEL_OTLP_WITH_*_PROCESSOR variables) into the Python it embeds, where `rotel_sdk` is importable; it is
never imported by the tests. What it rewrites comes from REWRITE_ATTRIBUTE, a JSON object:

    {"on": "record" | "resource", "key": "prompt", "to": "<REDACTED>" | null, "retype": "string"}

"on": the attributes of each log record and span, or of their resource; "to": the value put in the
key's place (null: the attribute is dropped); "retype": "string" keeps the value but sends it as a
string (an int 3 arrives as "3").
"""

import json
import os

from rotel_sdk.open_telemetry.common.v1 import AnyValue, KeyValue

_RULE = json.loads(os.environ["REWRITE_ATTRIBUTE"])


def _rewritten(attributes):
    key = _RULE["key"]
    out = []
    for kv in attributes:
        if kv.key != key:
            out.append(kv)
        elif _RULE.get("retype") == "string":
            out.append(KeyValue(key, AnyValue(str(kv.value.value))))
        elif _RULE.get("to") is not None:
            out.append(KeyValue(key, AnyValue(_RULE["to"])))
    return out


def _rewrite(resource, records):
    if _RULE["on"] == "resource":
        if resource is not None:
            resource.attributes = _rewritten(resource.attributes)
        return
    for record in records:
        record.attributes = _rewritten(record.attributes)


def process_logs(resource_logs):
    records = [r for scope in resource_logs.scope_logs for r in scope.log_records]
    _rewrite(resource_logs.resource, records)


def process_spans(resource_spans):
    records = [s for scope in resource_spans.scope_spans for s in scope.spans]
    _rewrite(resource_spans.resource, records)


def process_metrics(resource_metrics):
    if _RULE["on"] == "resource":
        _rewrite(resource_metrics.resource, ())
