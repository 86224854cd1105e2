"""Scenarios: the YAML model, its loader (errors name FILE:LINE), its compiler to a Timeline.

scenario.reconstruct goes the other way, from received telemetry to a scenario (the core of `record`).
"""

from claude_telemetry_cli.durations import parse_duration
from claude_telemetry_cli.scenario.bundled import BUNDLED_DIR, bundled_scenarios, resolve_scenario
from claude_telemetry_cli.scenario.compile import compile_scenario, scenario_summary, session_length
from claude_telemetry_cli.scenario.loader import load_scenario, load_scenario_text
from claude_telemetry_cli.scenario.model import STEP_KINDS, Scenario, Session, Step

__all__ = [
    "BUNDLED_DIR",
    "STEP_KINDS",
    "Scenario",
    "Session",
    "Step",
    "bundled_scenarios",
    "compile_scenario",
    "load_scenario",
    "load_scenario_text",
    "parse_duration",
    "resolve_scenario",
    "scenario_summary",
    "session_length",
]
