"""The scenarios and generator presets shipped inside the package, found by name or path."""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path

from claude_telemetry_cli.errors import ScenarioError

__all__ = [
    "BUNDLED_DIR",
    "PRESETS_DIR",
    "bundled_data_dir",
    "bundled_scenario_list",
    "bundled_scenarios",
    "resolve_scenario",
    "resolve_scenario_or_preset",
]


def bundled_data_dir(name: str) -> Path:
    """A directory of package data as a real path: the loader reads files by path (line numbers,
    session-at-a-time streaming), so data inside a zip import is copied out once."""
    resource = files("claude_telemetry_cli") / "bundled" / name
    if isinstance(resource, Path):
        return resource
    target = Path(tempfile.mkdtemp(prefix="claude-telemetry-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in resource.iterdir():
            if entry.is_file():
                (target / entry.name).write_bytes(entry.read_bytes())
    return target


BUNDLED_DIR = bundled_data_dir("scenarios")
PRESETS_DIR = bundled_data_dir("presets")


def bundled_scenarios() -> dict[str, Path]:
    """Bundled scenario name (the file stem) -> file, sorted by name."""
    if not BUNDLED_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.yaml"))}


def resolve_scenario(arg: str) -> Path:
    """An existing file as given, else a bundled scenario by name, with or without .yaml."""
    path = Path(arg)
    if path.is_file():
        return path
    bundled = bundled_scenarios()
    name = arg.removesuffix(".yaml").removesuffix(".yml")
    if name in bundled:
        return bundled[name]
    names = ", ".join(bundled) or "(none found)"
    raise ScenarioError(f"no scenario file {arg!r} and no bundled scenario of that name; bundled: {names}")


def resolve_scenario_or_preset(arg: str) -> Path:
    """A scenario as resolve_scenario finds it, else a bundled generator preset by name."""
    try:
        return resolve_scenario(arg)
    except ScenarioError:
        preset = PRESETS_DIR / f"{arg.removesuffix('.yaml')}.yaml"
        if "/" in arg or not preset.is_file():
            raise
        return preset


def bundled_scenario_list() -> list[dict]:
    """Each bundled scenario by name: its file, sessions, simulated seconds and description."""
    from claude_telemetry_cli.scenario.compile import scenario_summary
    from claude_telemetry_cli.scenario.loader import load_scenario

    rows = []
    for name, path in sorted(bundled_scenarios().items()):
        summary = scenario_summary(load_scenario(path))
        rows.append(
            {
                "name": name,
                "path": str(path),
                "sessions": summary["sessions"],
                "duration": summary["duration_seconds"],
                "description": summary.get("description", ""),
            }
        )
    return rows
