"""`claude-telemetry generate`: seeded, faker-driven scenario files for whole organisations.

params.py holds the parameters (one frozen dataclass, presets, `--set`), engine.py writes the scenario
one developer-day at a time, report.py accumulates the statistics and compares them with Anthropic's
published figures.
"""

from __future__ import annotations

from typing import Any

from claude_telemetry_cli.errors import UsageError
from claude_telemetry_cli.pairs import split_pair
from claude_telemetry_cli.scenario.generate.engine import (
    generate,
    generate_text,
    incident_window,
    iter_chunks,
    scenario_origin,
)
from claude_telemetry_cli.scenario.generate.params import (
    PRESETS_DIR,
    GenerateParams,
    ParamError,
    apply_overrides,
    load_preset,
    param_names,
    preset_names,
)
from claude_telemetry_cli.scenario.generate.report import (
    COST_SOURCE,
    COST_TARGETS,
    RATE_LIMIT_GUIDANCE,
    RATE_SOURCE,
    Stats,
)

__all__ = [
    "COST_SOURCE",
    "COST_TARGETS",
    "PRESETS_DIR",
    "RATE_LIMIT_GUIDANCE",
    "RATE_SOURCE",
    "GenerateParams",
    "ParamError",
    "Stats",
    "apply_overrides",
    "build_params",
    "generate",
    "generate_text",
    "incident_window",
    "iter_chunks",
    "load_preset",
    "param_names",
    "preset_names",
    "scenario_origin",
]


def build_params(
    preset: str | None = None, flags: dict[str, Any] | None = None, sets: list[str] | None = None
) -> GenerateParams:
    """Defaults, then the preset, then the command-line flags, then `--set` pairs; validated.

    A value out of range that came from the preset is reported at its FILE:LINE.
    """
    params, lines, path = load_preset(preset) if preset else (GenerateParams(), {}, None)
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    if preset and "name" not in lines and "name" not in given:
        given["name"] = path.stem
    params = apply_overrides(params.replace(**given), list(sets or []))
    overridden = set(given) | {split_pair(s, "--set")[0].partition(".")[0] for s in sets or []}
    # `--developers 8` with a preset of 60 teams means fewer teams, not an error; only numbers the user
    # gave on the command line are held against each other.
    if "teams" not in overridden and params.developers >= 1 and params.teams > params.developers:
        params = params.replace(teams=params.developers)
    if "orgs" not in overridden and params.teams >= 1 and params.orgs > params.teams:
        params = params.replace(orgs=params.teams)
    try:
        return params.validate()
    except ParamError as exc:
        if exc.param in lines and exc.param not in overridden:
            raise UsageError(f"{path}:{lines[exc.param]}: {exc.message}") from None
        raise
