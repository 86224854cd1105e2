"""generate: a seeded, calibrated organisation written as a scenario file."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from claude_telemetry_cli.cli.app import app, guarded, sigterm_interrupts, stderr_console, stdout_console
from claude_telemetry_cli.cli.options import (
    DaysOpt,
    DevelopersOpt,
    OrgsOpt,
    PresetOpt,
    SeedOpt,
    SetOpt,
    TeamsOpt,
)
from claude_telemetry_cli.wording import counted


@app.command("generate")
@guarded
def generate_cmd(
    preset: PresetOpt = None,
    developers: DevelopersOpt = None,
    teams: TeamsOpt = None,
    orgs: OrgsOpt = None,
    days: DaysOpt = None,
    seed: SeedOpt = None,
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", metavar="FILE|-", help="Where to write the scenario (default: stdout)."),
    ] = None,
    report: Annotated[
        bool,
        typer.Option("--report", help="Print the population's statistics next to Anthropic's figures."),
    ] = False,
    set_: SetOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Generate a realistic organisation as a scenario file: seeded, streamed, calibrated.

    Developers in teams and organisations, over days of working hours in their time zones, with
    heavy-tailed sessions, tokens and costs, subagents, tool and edit decisions, commits, pull requests
    and API errors with retries. The `enterprise` preset reproduces Anthropic's published figures
    (about $13 per developer per active day, $150-250 per month, 0.25-0.35 requests per minute per
    user); --report shows them side by side. The same parameters always give the same bytes.

    Examples:

      claude-telemetry generate --preset small-team --out team.yaml

      claude-telemetry generate --preset enterprise --developers 500 \\
        --days 30 --out org.yaml --report

      claude-telemetry generate --preset incident \\
        --set incident_error_rates.529=0.5 --out bad-afternoon.yaml

    Exit codes: 0 written; 2 an unknown preset or parameter, or a value out of range.
    """
    from claude_telemetry_cli import output
    from claude_telemetry_cli.scenario.generate import build_params, generate

    flags = {"developers": developers, "teams": teams, "orgs": orgs, "days": days, "seed": seed}
    params = build_params(preset, flags, set_)
    to_stdout = out is None or out == "-"
    report = report or json_out
    # The report goes wherever the YAML does not.
    console = stderr_console() if to_stdout else stdout_console()
    err = stderr_console()
    path = None if to_stdout else Path(out)
    with contextlib.ExitStack() as stack:
        if path is None:
            target = sys.stdout
        else:
            from claude_telemetry_cli.files import check_writable, writing

            check_writable(path, "--out")
            # A half-written scenario would not load: the file appears when it is complete.
            target = stack.enter_context(writing(path, "--out", "w", encoding="utf-8", newline="\n"))
        sigterm_interrupts()
        show = not to_stdout and not json_out and err.is_terminal
        bar = (
            output.progress_bar(err, "generating", "days", params.days) if show else contextlib.nullcontext()
        )
        with bar as progress:
            stats = generate(params, target, progress)
        if path is None:
            target.flush()  # a failed write ends the command before its report says "generated"
    s = stats.summary
    if json_out:
        output.print_json(console, {"out": out or "-", **stats.to_json()})
    elif report:
        where = "stdout" if to_stdout else str(path)
        title = f"{params.name}: generated to {where}, seed {params.seed}"
        output.generation_report(console, stats.to_json(), title=title)
    elif path is not None:
        console.print(
            f"wrote {path}: {counted(s['sessions'], 'session')},"
            f" {counted(s['requests']['total'], 'request')}, {counted(s['developers'], 'developer')}"
            f" over {counted(s['days'], 'day')}, {s['bytes'] / 1e6:,.1f} MB",
            highlight=False,
            soft_wrap=True,
        )
