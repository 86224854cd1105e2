"""Compile a Scenario into a Timeline: the exact records each simulated Claude Code process emits.

sessions.py drives the compilation, process.py simulates one process and dispatches each step through
steps.STEP_HANDLERS to its family (conversation, tools, git, failures, extensions, client); timing.py
says when things happen, bodies.py and wire_values.py write what the client writes.
"""

from claude_telemetry_cli.scenario.compile.sessions import (
    compile_scenario,
    compile_sessions,
    scenario_summary,
)
from claude_telemetry_cli.scenario.compile.timing import first_step_offset, session_length, step_timing

__all__ = [
    "compile_scenario",
    "compile_sessions",
    "first_step_offset",
    "scenario_summary",
    "session_length",
    "step_timing",
]
