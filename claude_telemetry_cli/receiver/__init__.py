"""Receiving OTLP and judging what arrived against what was sent."""
