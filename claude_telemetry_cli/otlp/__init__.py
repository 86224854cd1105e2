"""OTLP encoding and decoding, kept apart from any transport."""
