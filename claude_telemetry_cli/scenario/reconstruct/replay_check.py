"""What a replay of the rebuilt scenario would not give back: metric sums and event counts that differ."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from claude_telemetry_cli.options import EmitOptions
from claude_telemetry_cli.records import EVENT, METRIC, Totals
from claude_telemetry_cli.scenario.compile import compile_scenario
from claude_telemetry_cli.scenario.model import Scenario
from claude_telemetry_cli.scenario.reconstruct.processes import RecordedProcess
from claude_telemetry_cli.scenario.reconstruct.received import STANDARD_KEYS, metric_totals

if TYPE_CHECKING:
    from claude_telemetry_cli.otlp.decode import DecodedPoint

__all__ = ["check_replay"]


def check_replay(
    scenario: Scenario,
    sessions: list[RecordedProcess],
    options: EmitOptions,
    points: list[DecodedPoint],
    kept: Counter[str],
    warn: Callable[[str], None],
) -> None:
    """Compile the scenario as a replay would and say which recorded sums it would not give back;
    `kept` counts the recorded events per name."""
    timeline = compile_scenario(scenario, options)
    replay = Totals.from_records(r for r in timeline.records if r.signal == METRIC)
    recorded = Totals(metric_totals(points))
    differences = []
    for key in sorted(set(recorded.metrics) | set(replay.metrics), key=repr):
        got, want = replay.metrics.get(key), recorded.metrics.get(key)
        if got is None or want is None or not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9):
            differences.append((key, want, got))
    if differences and points:
        (name, attributes), want, got = differences[0]
        shown = ", ".join(f"{k}={v}" for k, v in attributes if k not in STANDARD_KEYS)
        warn(
            f"The replay will not give back {len(differences)} recorded metric series exactly, e.g. "
            f"{name} {{{shown}}}: recorded {_number(want)}, replayed {_number(got)}."
        )
    event_sessions = {i for i, r in enumerate(sessions) if r.source == "events"}
    if event_sessions:
        replayed = Counter(
            r.name for r in timeline.records if r.signal == EVENT and r.session in event_sessions
        )
        off = sorted(n for n in set(replayed) | set(kept) if replayed[n] != kept[n])
        if off:
            shown = ", ".join(f"{n} {kept[n]} -> {replayed[n]}" for n in off[:4])
            warn(f"The replay will send a different number of some events: {shown}.")


def _number(value: float | None) -> str:
    if value is None:
        return "nothing"
    return f"{value:g}"
