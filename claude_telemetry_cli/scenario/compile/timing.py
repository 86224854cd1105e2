"""When a simulated process emits: start-up offsets, the time each step takes, a session's length."""

from __future__ import annotations

from claude_telemetry_cli.scenario.model import (
    BUILTIN_PLUGIN_NAMES,
    ApiError,
    ApiRequest,
    Commit,
    Compaction,
    Edit,
    Hook,
    McpConnect,
    Plugin,
    PullRequest,
    Session,
    Step,
    Subagent,
    Tool,
)

__all__ = [
    "MS",
    "PLUGINS_AFTER",
    "PLUGIN_GAP",
    "RETENTION_SWEEP_AFTER",
    "S",
    "SESSION_END_GAP",
    "first_step_offset",
    "micros",
    "session_count_offset",
    "session_length",
    "session_plugins",
    "startup_count",
    "step_timing",
]

# Time is kept in integer microseconds so offsets add up exactly; Record.at is seconds.
MS = 1_000
S = 1_000_000

# Start-up as the 2.1.331 capture shows it: managed settings first, plugins ~24 ms later, one ms apart,
# session.count just after them, the first prompt ~100 ms in.
PLUGINS_AFTER = 24 * MS
PLUGIN_GAP = 1 * MS
_FIRST_STEP_AFTER = 100 * MS
# A permission check follows the model's tool_use by a few ms (15 ms for an edit, 5 ms for Bash, observed).
_EDIT_DECISION_GAP = 15 * MS
_TOOL_DECISION_GAP = 5 * MS
SESSION_END_GAP = 10 * MS
# The retention sweep runs in the background 5.03 to 5.15 s after the first event (observed over eight
# 2.1.33x sessions); a process that exits sooner never sends it.
RETENTION_SWEEP_AFTER = (5_030 * MS, 5_150 * MS)


def micros(seconds: float) -> int:
    return round(seconds * S)


def session_length(session: Session) -> float:
    """Seconds from one copy's start to its end."""
    return (
        first_step_offset(startup_count(session))
        + sum(sum(step_timing(s)) for s in session.steps)
        + SESSION_END_GAP
    ) / S


def first_step_offset(plugin_count: int) -> int:
    """µs from a process's start to its first step, after `plugin_count` start-up events."""
    return max(_FIRST_STEP_AFTER, session_count_offset(plugin_count) + MS)


def session_count_offset(plugin_count: int) -> int:
    return PLUGINS_AFTER + plugin_count * PLUGIN_GAP + 3 * MS


def startup_count(session: Session) -> int:
    """Events logged one ms apart at start: plugin_loaded per plugin, then hook_registered per hook."""
    return len(session_plugins(session)) + len(session.hooks)


def step_timing(step: Step) -> tuple[int, int]:
    """(before, after) in µs: the permission check before a tool runs, and the work itself."""
    body = step.body
    if isinstance(body, ApiRequest):
        return 0, body.effective_total_ms * MS
    if isinstance(body, Edit):
        return _EDIT_DECISION_GAP, body.duration_ms * MS if body.decision == "accept" else 0
    if isinstance(body, Tool):
        return _TOOL_DECISION_GAP, body.duration_ms * MS if body.decision == "accept" else 0
    if isinstance(body, (Commit, PullRequest)):
        return _TOOL_DECISION_GAP, body.duration_ms * MS
    if isinstance(body, ApiError):
        return 0, body.effective_total_ms * MS
    if isinstance(body, (Hook, Compaction, McpConnect)):
        return 0, body.duration_ms * MS
    if isinstance(body, Subagent):
        # A background subagent's run does not hold the session up.
        return 0, 0 if body.background else body.duration_ms * MS
    if step.kind == "wait":
        return 0, micros(body)
    return 0, 0


def session_plugins(session: Session) -> list[Plugin]:
    """The plugins the process loads: the session's, else the built-in bundle."""
    if session.plugins is None:
        return [Plugin(name=name) for name in BUILTIN_PLUGIN_NAMES]
    return list(session.plugins)
