"""The Claude Code telemetry contract as data, per profile. Imports nothing of OpenTelemetry."""

from claude_telemetry_cli.contract.model import (
    AttributeSpec,
    EventSpec,
    MetricSpec,
    ModelPrice,
    Profile,
)
from claude_telemetry_cli.contract.profiles import (
    BUILTIN_PLUGINS,
    DEFAULT_APP_VERSION,
    DEFAULT_MODEL,
    DEFAULT_PROFILE,
    LOGGER_NAME,
    MAX_LOG_BATCH,
    METER_NAME,
    MODEL_PRICES,
    PROFILES,
    SERVICE_NAME,
    get_profile,
    price_request,
)

__all__ = [
    "AttributeSpec",
    "BUILTIN_PLUGINS",
    "DEFAULT_APP_VERSION",
    "DEFAULT_MODEL",
    "DEFAULT_PROFILE",
    "EventSpec",
    "LOGGER_NAME",
    "MAX_LOG_BATCH",
    "METER_NAME",
    "MODEL_PRICES",
    "MetricSpec",
    "ModelPrice",
    "PROFILES",
    "Profile",
    "SERVICE_NAME",
    "get_profile",
    "price_request",
]
