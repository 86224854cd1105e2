"""Shapes of the contract: metric, event and attribute specifications, profiles and prices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ValueType = Literal["string", "int", "double", "bool", "string[]"]


@dataclass(frozen=True)
class AttributeSpec:
    key: str
    type: ValueType
    description: str = ""
    # "always", "optional" (present only when the step sets it) or the env gate that reveals it.
    presence: str = "always"

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "type": self.type,
            "description": self.description,
            "presence": self.presence,
        }


@dataclass(frozen=True)
class MetricSpec:
    name: str
    description: str
    unit: str
    attributes: tuple[AttributeSpec, ...] = ()

    @property
    def attribute_keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.attributes)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "unit": self.unit,
            "attributes": list(self.attribute_keys),
        }


@dataclass(frozen=True)
class EventSpec:
    name: str  # without the `claude_code.` prefix
    description: str
    attributes: tuple[AttributeSpec, ...] = ()

    @property
    def body(self) -> str:
        return f"claude_code.{self.name}"

    @property
    def attribute_keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.attributes)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "body": self.body,
            "description": self.description,
            "attributes": [a.to_json() for a in self.attributes],
        }


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    metrics: dict[str, MetricSpec]
    events: dict[str, EventSpec]
    metric_export_interval_ms: int
    logs_export_interval_ms: int
    # Standard attributes the profile puts on points, in wire order.
    standard_attributes: tuple[AttributeSpec, ...] = field(default=())
    emits_events: bool = True
    startup_events: bool = True  # managed_settings_resolved + plugin_loaded at session start
    # The Claude Code release whose shape this is (None: a documentation page, no client version).
    version: str | None = None
    # Appended to the model on cost.usage and token.usage points (2.1.197: "[1m]").
    usage_model_suffix: str = ""

    def metric(self, name: str) -> MetricSpec:
        return self.metrics[name]

    def to_json(self) -> dict:
        """The contract as `catalog --json` prints it: every metric, event and standard attribute."""
        return {
            "profile": self.name,
            "version": self.version,
            "description": self.description,
            "metric_export_interval_ms": self.metric_export_interval_ms,
            "logs_export_interval_ms": self.logs_export_interval_ms,
            "metrics": [m.to_json() for m in self.metrics.values()],
            "events": [e.to_json() for e in self.events.values()],
            "standard_attributes": [a.to_json() for a in self.standard_attributes],
            "usage_model_suffix": self.usage_model_suffix,
        }


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float
