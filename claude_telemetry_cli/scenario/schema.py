"""The JSON Schema of scenario files, generated from the same pydantic model the loader uses."""

from __future__ import annotations

SCHEMA_ID = "https://claude-telemetry.invalid/scenario.schema.json"


def scenario_json_schema() -> dict:
    """A draft 2020-12 schema editors can use to complete and check scenario files."""
    from claude_telemetry_cli.scenario.model import Scenario

    schema = Scenario.model_json_schema(mode="validation")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "claude-telemetry scenario",
        "description": "A scripted Claude Code session replay: sessions, their identity and their steps.",
    }
    _allow_faker(schema)
    step = schema.get("$defs", {}).get("Step")
    if step is not None:
        # A step is a mapping with exactly one key: its kind.
        step["minProperties"] = 1
        step["maxProperties"] = 1
    return schema


# The loader resolves `{{ faker.<provider> }}` before validating, so a constrained string may hold one.
_FAKER = {"type": "string", "pattern": r"\{\{\s*faker\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}"}


def _constrained_string(node) -> bool:
    return isinstance(node, dict) and node.get("type") == "string" and ("pattern" in node or "enum" in node)


def _allow_faker(node) -> None:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        if _constrained_string(value):
            node[key] = {"anyOf": [value, _FAKER]}
        else:
            _allow_faker(value)
