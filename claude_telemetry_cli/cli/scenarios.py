"""config, catalog, and the scenarios group: list, show, validate, schema, totals."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from claude_telemetry_cli.cli.app import app, guarded, scenarios_app, stderr_console, stdout_console
from claude_telemetry_cli.cli.inputs import PresetArgs, compile_sources, compile_with, telemetry_config
from claude_telemetry_cli.cli.options import (
    DaysOpt,
    DevelopersOpt,
    EndpointOpt,
    EnvFileOpt,
    EnvOpt,
    HeaderOpt,
    InsecureOpt,
    JsonOpt,
    ManagedOpt,
    OrgsOpt,
    PresetOpt,
    ProfileOpt,
    ProtocolOpt,
    SeedOpt,
    SetOpt,
    TeamsOpt,
)
from claude_telemetry_cli.errors import UsageError
from claude_telemetry_cli.wording import counted


@app.command()
@guarded
def config(
    profile: ProfileOpt = "current",
    env: EnvOpt = None,
    env_file: EnvFileOpt = None,
    managed_settings: ManagedOpt = None,
    endpoint: EndpointOpt = None,
    protocol: ProtocolOpt = None,
    header: HeaderOpt = None,
    insecure: InsecureOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Show the effective telemetry configuration per signal, each value with its source.

    Sources: env (process environment), cli (-e/--env-file), cli (--endpoint) and the like (a shorthand
    flag), settings:FILE, managed:FILE, default.
    Header values and key passphrases are shown as ***. Also lists what managed settings removed
    and why a signal would export nothing.
    """
    from claude_telemetry_cli import output
    from claude_telemetry_cli.settings import masked_view

    config = telemetry_config(
        profile,
        env,
        env_file,
        managed_settings,
        endpoint=endpoint,
        protocol=protocol,
        headers=header,
        insecure=insecure,
    )
    view = masked_view(config)
    if json_out:
        output.print_json(stdout_console(), view)
    else:
        output.config_view(stdout_console(), view)


@app.command()
@guarded
def catalog(
    profile: ProfileOpt = "current",
    diff: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--diff",
            metavar="OLD NEW",
            help="List what changes from profile OLD to profile NEW (e.g. --diff 2.1.197 current), "
            "one line each, instead of the catalog.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """List the telemetry contract: every metric, event and standard attribute a profile emits.

    Profiles are named by the Claude Code release whose shape they reproduce: `current` (the newest,
    2.1.331; 2.1.332 has its shape) and `2.1.197`, plus `2025-05` (the May 2025 monitoring page).
    `--diff OLD NEW` lists the drift between two of them: what a dashboard built on one sees change
    on the other.
    """
    from claude_telemetry_cli import output
    from claude_telemetry_cli.contract import get_profile, profile_changes

    if diff is not None:
        old, new = get_profile(diff[0]), get_profile(diff[1])
        changes = profile_changes(old, new)
        if json_out:
            output.print_json(stdout_console(), {"from": old.name, "to": new.name, "changes": changes})
        else:
            console = stdout_console()
            console.print(f"{old.name} -> {new.name}: {len(changes) or 'no'} changes", highlight=False)
            for line in changes:
                console.print(f"  {line}", highlight=False, markup=False)
        return
    data = get_profile(profile).to_json()
    if json_out:
        output.print_json(stdout_console(), data)
    else:
        output.catalog(stdout_console(), data)


@scenarios_app.command("list")
@guarded
def scenarios_list(json_out: JsonOpt = False) -> None:
    """List the bundled scenarios."""
    from claude_telemetry_cli import output
    from claude_telemetry_cli.scenario.bundled import bundled_scenario_list
    from claude_telemetry_cli.scenario.generate.params import preset_names

    rows = bundled_scenario_list()
    presets = preset_names()
    if json_out:
        output.print_json(stdout_console(), rows)
    else:
        output.scenario_list(stdout_console(), rows)
        stdout_console().print(
            f"generator presets (generate --preset NAME; scenarios show NAME): {', '.join(presets)}"
        )


@scenarios_app.command("show")
@guarded
def scenarios_show(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="A bundled scenario, a generator preset, or a file.")
    ],
) -> None:
    """Print a scenario or generator preset file, with its path on stderr.

    The presets list and explain every generator parameter in comments: `scenarios show enterprise`.
    """
    from claude_telemetry_cli.scenario.bundled import resolve_scenario_or_preset

    path = resolve_scenario_or_preset(name)
    stderr_console().print(f"# {path}")
    sys.stdout.write(path.read_text(encoding="utf-8"))


@scenarios_app.command("validate")
@guarded
def scenarios_validate(
    files: Annotated[list[str], typer.Argument(metavar="FILE...", help="Scenario files or bundled names.")],
    profile: ProfileOpt = "current",
) -> None:
    """Check scenario files; print one line per problem (FILE:LINE: ...) and exit 2 if any."""
    from claude_telemetry_cli import output
    from claude_telemetry_cli.errors import ScenarioError
    from claude_telemetry_cli.options import EmitOptions
    from claude_telemetry_cli.scenario import resolve_scenario

    err, out, bad = stderr_console(), stdout_console(), 0
    for arg in files:
        try:
            path = resolve_scenario(arg)
            compiled = compile_with(
                str(path), EmitOptions(profile=profile), False, keep_records=False, totals=False, console=err
            )
        except ScenarioError as exc:
            output.error(err, exc.message)
            bad += 1
        else:
            out.print(
                f"ok  {path}  ({counted(compiled.session_count, 'session')},"
                f" {counted(compiled.record_count, 'record')})"
            )
    if bad:
        raise UsageError()  # each problem is on its own line above


@scenarios_app.command("schema")
@guarded
def scenarios_schema(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write it to FILE instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of scenario files, for editors to complete and check them.

    With VS Code's YAML extension, put `# yaml-language-server: $schema=scenario.schema.json` at
    the top of a scenario, or map the schema to scenario files in `yaml.schemas`.
    """
    import json

    from claude_telemetry_cli.files import check_writable, writing
    from claude_telemetry_cli.scenario.schema import scenario_json_schema

    if out is not None:
        check_writable(out, "--out")
    text = json.dumps(scenario_json_schema(), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    with writing(out, "--out", encoding="utf-8") as fh:
        fh.write(text)
    stderr_console().print(f"wrote {out}")


@scenarios_app.command("totals")
@guarded
def scenarios_totals(
    file: Annotated[
        str | None, typer.Argument(metavar="FILE", help="A scenario file or bundled name (or --preset).")
    ] = None,
    profile: ProfileOpt = "current",
    env: EnvOpt = None,
    env_file: EnvFileOpt = None,
    managed_settings: ManagedOpt = None,
    json_out: JsonOpt = False,
    preset: PresetOpt = None,
    developers: DevelopersOpt = None,
    teams: TeamsOpt = None,
    orgs: OrgsOpt = None,
    days: DaysOpt = None,
    seed: SeedOpt = None,
    set_: SetOpt = None,
) -> None:
    """The exact totals a replay must deliver: sum per metric name and attribute set, count per event.

    The attribute sets depend on the same configuration as `run` (OTEL_METRICS_INCLUDE_*,
    OTEL_RESOURCE_ATTRIBUTES), so pass the same -e/--env-file options. With the sender's
    configuration (CLAUDE_CODE_ENABLE_TELEMETRY=1), only the signals it exports are counted.

    --preset and the generator's options (as `generate` takes them) count a generated organisation
    without writing its scenario file.
    """
    from claude_telemetry_cli import output

    config = telemetry_config(profile, env, env_file, managed_settings)
    generated = PresetArgs(preset, developers, teams, orgs, days, seed, set_)
    (compiled,) = compile_sources(
        [file] if file else [], generated, config, keep_records=False, console=stderr_console()
    )
    from claude_telemetry_cli.receiver.verify import delivered_totals

    data = delivered_totals(compiled.totals(), config).to_json()
    if json_out:
        output.print_json(stdout_console(), data)
    else:
        output.totals(stdout_console(), data)
