"""What commands read before they act: the configuration's command-line tier, and compiled scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rich.console import Console

from claude_telemetry_cli.errors import UsageError


def telemetry_config(
    profile: str,
    env: list[str] | None,
    env_files: list[Path] | None,
    managed: Path | None,
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: list[str] | None = None,
    insecure: bool = False,
):
    """The configuration with the command-line tier: --env-file, then -e, then the shorthand flags. A
    flag and -e setting the same variable contradict each other; --header adds to the headers instead."""
    from claude_telemetry_cli import settings

    cli_env: dict[str, str] = {}
    for path in env_files or []:
        cli_env.update(settings.read_env_file(path))
    explicit = settings.parse_cli_overrides(list(env or []))
    cli_env.update(explicit)
    flags = settings.flag_overrides(endpoint=endpoint, protocol=protocol, headers=headers, insecure=insecure)
    for variable, (_, flag) in flags.items():
        if variable in explicit and variable != settings.OTLP_HEADERS:
            raise UsageError(f"{flag} and -e {variable} both set {variable}; give one of them")
    return settings.load_config(cli_env=cli_env, cli_flags=flags, managed_path=managed, profile=profile)


def compile_for(arg: str, config, *, keep_records: bool = True, console: Console | None = None):
    """The scenario compiled as it replays under `config` (spans included when tracing is on), a session
    at a time into a temporary file; a transient progress bar on `console` while it works."""
    return compile_with(arg, config.emit, config.tracing, keep_records=keep_records, console=console)


def compile_with(
    arg: str,
    emit,
    tracing: bool,
    *,
    keep_records: bool,
    console: Console | None,
    totals: bool = True,
    spooler=None,
):
    from claude_telemetry_cli.scenario import resolve_scenario
    from claude_telemetry_cli.scenario.spool import compile_file

    path = resolve_scenario(arg)
    kwargs = {"tracing": tracing, "keep_records": keep_records, "totals": totals, "spooler": spooler}
    if console is None or not console.is_terminal:
        return _warned(compile_file(path, emit, **kwargs))
    from claude_telemetry_cli.output import progress_bar

    with progress_bar(console, f"reading {path.name}", "sessions") as update:
        return _warned(compile_file(path, emit, progress=update, **kwargs))


def _warned(compiled):
    """A compiled scenario, once what its compile had to say is on stderr."""
    if compiled.warnings:
        from claude_telemetry_cli import output
        from claude_telemetry_cli.cli.app import stderr_console

        for warning in compiled.warnings:
            output.warning(stderr_console(), warning)
    return compiled


class PresetArgs(NamedTuple):
    """The generator's options, given to a command that compiles an organisation instead of a file."""

    preset: str | None
    developers: int | None = None
    teams: int | None = None
    orgs: int | None = None
    days: int | None = None
    seed: int | None = None
    sets: list[str] | None = None


def compile_sources(
    scenarios: list[str] | None,
    generated: PresetArgs,
    config,
    *,
    keep_records: bool = True,
    console: Console | None = None,
    totals: bool = True,
    spooler=None,
) -> list:
    """The scenarios named on the command line, or the organisation --preset describes generated and
    compiled directly (no file); exactly one of the two. Each process is kept as `spooler` makes it
    (a scenario.spool.Spooler; default: its records)."""
    scenarios = list(scenarios or [])
    flags = dict(zip(("developers", "teams", "orgs", "days", "seed"), generated[1:6], strict=True))
    if generated.preset is None:
        given = [f"--{name}" for name, value in flags.items() if value is not None]
        given += ["--set"] if generated.sets else []
        if given:
            raise UsageError(f"{given[0]} goes with --preset NAME, which generates the scenario to replay")
        if not scenarios:
            raise UsageError("give a scenario (a file or a bundled name) or --preset NAME")
        return [
            compile_with(
                arg,
                config.emit,
                config.tracing,
                keep_records=keep_records,
                console=console,
                totals=totals,
                spooler=spooler,
            )
            for arg in scenarios
        ]
    if scenarios:
        raise UsageError(f"give a scenario or --preset, not both (got {scenarios[0]} and --preset)")
    from claude_telemetry_cli.scenario.generate import build_params
    from claude_telemetry_cli.scenario.source import compile_preset

    params = build_params(generated.preset, flags, generated.sets)
    kwargs = {"tracing": config.tracing, "keep_records": keep_records, "totals": totals, "spooler": spooler}
    if console is None or not console.is_terminal:
        return [_warned(compile_preset(params, config.emit, **kwargs))]
    from claude_telemetry_cli.output import progress_bar

    with progress_bar(console, f"generating {params.name}", "days", params.days) as update:
        return [
            _warned(compile_preset(params, config.emit, progress=lambda done, _days: update(done), **kwargs))
        ]
