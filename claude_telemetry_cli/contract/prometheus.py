"""The labels of a series on Claude Code's own Prometheus endpoint (OTEL_METRICS_EXPORTER=prometheus).

Each series carries exactly its point's attributes, keys with every character outside [a-zA-Z0-9_]
turned to `_`, plus `otel_scope_name` and `otel_scope_version`: no `otel_scope_schema_url`, and no
empty label for an attribute that only other points of the metric have. Values are strings as they
are, the rest as JSON (`true`). The resource is only on `target_info`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

__all__ = ["SCOPE_NAME_LABEL", "SCOPE_VERSION_LABEL", "label_name", "label_value", "series_labels"]

SCOPE_NAME_LABEL = "otel_scope_name"
SCOPE_VERSION_LABEL = "otel_scope_version"

_NOT_LABEL = re.compile(r"[^a-zA-Z0-9_]")


def label_name(key: str) -> str:
    """An attribute key as a label name: every character outside [a-zA-Z0-9_] becomes `_`
    (`session.id` -> `session_id`), a leading digit gets `key_` before it."""
    label = _NOT_LABEL.sub("_", key)
    if label and label[0].isdigit():
        label = "key_" + label
    return label


def label_value(value) -> str:
    """An attribute value as the exporters render it: strings as they are, the rest as JSON (true)."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value)


def series_labels(
    attributes: Iterable[tuple[str, object]], scope_name: str, scope_version: str
) -> dict[str, str]:
    """The labels of the series a point with `attributes` belongs to, and nothing else."""
    labels = {label_name(k): label_value(v) for k, v in attributes}
    labels[SCOPE_NAME_LABEL] = scope_name
    labels[SCOPE_VERSION_LABEL] = scope_version
    return labels
