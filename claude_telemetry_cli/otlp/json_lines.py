"""Encoded OTLP requests -> OTLP/JSON, as the OTLP/HTTP JSON protocol and the Collector's file exporter
write it: lowerCamelCase field names, enums as integers, trace and span ids as hex (not base64)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["json_objects", "otlp_json", "otlp_json_object"]

_REQUESTS = {
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
    "traces": ExportTraceServiceRequest,
}
_HEX_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})
_ARRAYS = frozenset({"arrayValue", "kvlistValue"})


def otlp_json_object(signal: str, body: bytes) -> dict:
    """The request `body` (protobuf bytes of `signal`'s export request) as an OTLP/JSON object."""
    message = _REQUESTS[signal]()
    message.ParseFromString(body)
    data = MessageToDict(message, use_integers_for_enums=True)
    for node in json_objects(data):
        for key, value in node.items():
            if key in _HEX_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            elif key in _ARRAYS and value == {}:
                # proto3 JSON leaves an empty list out; collectors (rotel) require it, and the SDK's
                # own JSON exporter writes it.
                node[key] = {"values": []}
    return data


def json_objects(data: dict | list) -> Iterator[dict]:
    """Every JSON object in `data`, itself included, walked without recursion (a deeply nested body
    must not exhaust the stack). A caller may replace an object's values as it is given; what it puts
    there is walked too."""
    stack: list = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))
            continue
        yield node
        stack.extend(v for v in node.values() if isinstance(v, (dict, list)))


def otlp_json(signal: str, body: bytes) -> bytes:
    """The request as compact OTLP/JSON bytes, one line."""
    return json.dumps(otlp_json_object(signal, body), separators=(",", ":")).encode()
