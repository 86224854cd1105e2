"""`scenarios schema`: the JSON Schema editors use agrees with the loader."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from claude_telemetry_cli.scenario import bundled_scenarios
from tests.support.cli import run_cli, telemetry_env


@pytest.fixture(scope="module")
def schema() -> dict:
    proc = run_cli(["scenarios", "schema"], telemetry_env())
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    jsonschema.Draft202012Validator.check_schema(data)
    return data


@pytest.mark.parametrize("name", sorted(bundled_scenarios()))
def test_every_bundled_scenario_validates_against_the_schema(schema, name):
    document = yaml.safe_load(bundled_scenarios()[name].read_text())
    jsonschema.validate(document, schema)


@pytest.mark.parametrize(
    "document",
    [
        {"version": 1, "name": "x", "sessions": [{"steps": [{"deploy": {}}]}]},
        {"version": 1, "name": "x", "sessions": [{"steps": [{"prompt": {"length": 3}, "commit": {}}]}]},
        {"version": 1, "name": "x", "sessions": [{"colour": "blue", "steps": []}]},
        {"version": 1, "name": "x", "sessions": [{"steps": [{"api_request": {"input_tokens": -1}}]}]},
    ],
    ids=["unknown step", "two kinds in one step", "unknown session field", "negative tokens"],
)
def test_the_schema_rejects_what_the_loader_rejects(schema, document):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


def test_schema_can_be_written_to_a_file(tmp_path):
    out = tmp_path / "scenario.schema.json"
    proc = run_cli(["scenarios", "schema", "--out", str(out)], telemetry_env())
    assert proc.returncode == 0
    assert json.loads(out.read_text())["title"] == "claude-telemetry scenario"
