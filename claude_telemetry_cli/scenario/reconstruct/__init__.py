"""Received telemetry -> a scenario whose replay delivers the same totals (the core of `record`).

build.py runs the steps: processes.py groups what was received into recorded processes,
replay_setup.py reads the switches they were recorded with, event_steps.py rebuilds their steps from
events, metric_shares.py gives those steps what only metrics say, metric_steps.py rebuilds the sessions
known from metrics alone, session_entries.py and scenario_file.py write the scenario, and
replay_check.py says what its replay would not give back. The receiver's decoded points and events
are read by their shape alone (imported for type checking only), so recording imports no OTLP.
"""

from claude_telemetry_cli.scenario.reconstruct.build import RecordedScenario, build_scenario
from claude_telemetry_cli.scenario.reconstruct.received import metric_query_source, metric_totals

__all__ = ["RecordedScenario", "build_scenario", "metric_query_source", "metric_totals"]
