"""The scenarios shipped in the repository's scenarios/ directory, found by name or path."""

from __future__ import annotations

from pathlib import Path

from claude_telemetry_cli.errors import ScenarioError

__all__ = ["BUNDLED_DIR", "bundled_scenarios", "resolve_scenario"]

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "scenarios"


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
