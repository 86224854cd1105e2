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


@dataclass(frozen=True)
class MetricSpec:
    name: str
    description: str
    unit: str
    attributes: tuple[AttributeSpec, ...] = ()

    @property
    def attribute_keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.attributes)


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

    def metric(self, name: str) -> MetricSpec:
        return self.metrics[name]


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float
