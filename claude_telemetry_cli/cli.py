"""The command line: thin commands that parse, call the core, and render. The one error boundary.

Heavy modules (the OpenTelemetry SDK, grpc, faker) are imported inside commands, so `--help` and
typos answer at once.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from pathlib import Path
from typing import Annotated, NamedTuple

import typer
from rich.console import Console

from claude_telemetry_cli import __version__
from claude_telemetry_cli.cli_help import PlainCommand, PlainGroup
from claude_telemetry_cli.errors import ExitCode, Interrupted, TelemetryError, UsageError, VerificationFailed
from claude_telemetry_cli.wording import counted

app = typer.Typer(
    name="claude-telemetry",
    help=(
        "Replay scripted Claude Code sessions and emit exactly the OpenTelemetry metrics and events "
        "real Claude Code would, configured from the same environment variables and settings files.\n\n"
        "Start with `claude-telemetry smoke`, which checks the whole pipeline on this machine, then see "
        "what a replay emits:\n\n"
        "  CLAUDE_CODE_ENABLE_TELEMETRY=1 OTEL_METRICS_EXPORTER=console \\\n"
        "    claude-telemetry run quickstart\n\n"
        "Every command explains itself: claude-telemetry COMMAND --help."
    ),
    no_args_is_help=True,
    cls=PlainGroup,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
scenarios_app = typer.Typer(
    help="Bundled scenarios, validation, and the exact totals a scenario must produce.",
    cls=PlainGroup,
    no_args_is_help=True,
)
app.add_typer(scenarios_app, name="scenarios")

_state = {"traceback": False}

ProfileOpt = Annotated[
    str,
    typer.Option(
        "--profile",
        metavar="PROFILE",
        help="Telemetry contract: 'current' (Claude Code 2.1.331) or '2025-05'.",
    ),
]
EnvOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        "-e",
        metavar="KEY=VALUE",
        help="Set a variable as a command-line override (above settings files, below managed settings). "
        "Repeatable.",
    ),
]
EnvFileOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--env-file", metavar="FILE", help="Read KEY=VALUE lines as command-line overrides. Repeatable."
    ),
]
ManagedOpt = Annotated[
    Path | None,
    typer.Option(
        "--managed-settings",
        metavar="FILE",
        help="Managed settings file to use instead of the OS default (/etc/claude-code/managed-settings.json "
        "on Linux); its managed-settings.d/ directory is read too.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object instead.")]
# Shorthands for the OTLP variables, in the command-line tier with -e (settings.flag_overrides).
EndpointOpt = Annotated[
    str | None,
    typer.Option("--endpoint", metavar="URL", help="Shorthand for -e OTEL_EXPORTER_OTLP_ENDPOINT=URL."),
]
ProtocolOpt = Annotated[
    str | None,
    typer.Option(
        "--protocol",
        metavar="P",
        help="Shorthand for -e OTEL_EXPORTER_OTLP_PROTOCOL=P: grpc, http/protobuf or http/json.",
    ),
]
HeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--header",
        metavar="KEY=VALUE",
        help="Add a header to OTEL_EXPORTER_OTLP_HEADERS, after those set elsewhere; the value is taken "
        "literally. Repeatable.",
    ),
]
InsecureOpt = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Shorthand for -e OTEL_EXPORTER_OTLP_INSECURE=true. The endpoint's scheme still decides: "
        "http:// is plaintext, https:// is TLS.",
    ),
]


# The generator's options, shared by `generate` and the commands that compile a preset directly.
PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset", metavar="NAME|FILE", help="small-team, enterprise, incident, or a preset .yaml file."
    ),
]
DevelopersOpt = Annotated[int | None, typer.Option("--developers", metavar="N", help="Developers.")]
TeamsOpt = Annotated[int | None, typer.Option("--teams", metavar="N", help="Teams.")]
OrgsOpt = Annotated[int | None, typer.Option("--orgs", metavar="N", help="Organisations.")]
DaysOpt = Annotated[int | None, typer.Option("--days", metavar="N", help="Days in the period.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", metavar="N", help="Seed of every draw.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Any other parameter (`claude-telemetry scenarios show enterprise` explains each);"
        " KEY.SUB=VALUE changes one "
        "entry of a mix, e.g. --set error_rates.529=0.01. Repeatable.",
    ),
]
# Wider than any line we print: a table sized for it takes its natural width.
_LOG_WIDTH = 4096


def _console(*, stderr: bool) -> Console:
    """soft_wrap: a message holding a path or URL is never broken across lines. Into a pipe or a file
    (a CI log) there is no terminal to fit, so tables keep whole values rather than being cut to 80
    columns; COLUMNS, when set, still wins."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = _LOG_WIDTH
    return console


def _stdout() -> Console:
    return _console(stderr=False)


def _stderr() -> Console:
    return _console(stderr=True)


def guarded(fn):
    """The one place an ending becomes output and an exit code: a domain error (a bad input, or a result
    a command ends on: a failed verification, a failed export, an interrupt) is its one line on stderr
    and its exit code; Ctrl-C outside the core's own handling is 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TelemetryError as exc:
            err = _stderr()
            if _state["traceback"] and not isinstance(exc, Interrupted):
                import traceback

                err.file.write("".join(traceback.format_exception(exc)))
            if not exc.message:
                pass  # what the command printed says why
            elif isinstance(exc, Interrupted):
                err.print(exc.message)
            else:
                from claude_telemetry_cli import output

                output.error(err, exc.message)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            _stderr().print("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        typer.echo(f"claude-telemetry {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the Python traceback of an error (for bug reports).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    _state["traceback"] = traceback


def _load_config(
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


def _compile(arg: str, config, *, keep_records: bool = True, console: Console | None = None):
    """The scenario compiled as it replays under `config` (spans included when tracing is on), a session
    at a time into a temporary file; a transient progress bar on `console` while it works."""
    return _compile_with(arg, config.emit, config.tracing, keep_records=keep_records, console=console)


def _compile_with(
    arg: str, emit, tracing: bool, *, keep_records: bool, console: Console | None, totals: bool = True
):
    from claude_telemetry_cli.scenario import resolve_scenario
    from claude_telemetry_cli.scenario.spool import compile_file

    path = resolve_scenario(arg)
    kwargs = {"tracing": tracing, "keep_records": keep_records, "totals": totals}
    if console is None or not console.is_terminal:
        return compile_file(path, emit, **kwargs)
    from claude_telemetry_cli.output import progress_bar

    with progress_bar(console, f"reading {path.name}", "sessions") as update:
        return compile_file(path, emit, progress=update, **kwargs)


class PresetArgs(NamedTuple):
    """The generator's options, given to a command that compiles an organisation instead of a file."""

    preset: str | None
    developers: int | None = None
    teams: int | None = None
    orgs: int | None = None
    days: int | None = None
    seed: int | None = None
    sets: list[str] | None = None


def _compile_sources(
    scenarios: list[str] | None,
    generated: PresetArgs,
    config,
    *,
    keep_records: bool = True,
    console: Console | None = None,
    totals: bool = True,
) -> list:
    """The scenarios named on the command line, or the organisation --preset describes generated and
    compiled directly (no file); exactly one of the two."""
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
            _compile_with(
                arg, config.emit, config.tracing, keep_records=keep_records, console=console, totals=totals
            )
            for arg in scenarios
        ]
    if scenarios:
        raise UsageError(f"give a scenario or --preset, not both (got {scenarios[0]} and --preset)")
    from claude_telemetry_cli.scenario.generate import build_params
    from claude_telemetry_cli.scenario.source import compile_preset

    params = build_params(generated.preset, flags, generated.sets)
    kwargs = {"tracing": config.tracing, "keep_records": keep_records, "totals": totals}
    if console is None or not console.is_terminal:
        return [compile_preset(params, config.emit, **kwargs)]
    from claude_telemetry_cli.output import progress_bar

    with progress_bar(console, f"generating {params.name}", "days", params.days) as update:
        return [compile_preset(params, config.emit, progress=lambda done, _days: update(done), **kwargs)]


@app.command()
@guarded
def run(
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SCENARIO...", help="Scenario files, or names of bundled scenarios (or --preset)."
        ),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed", min=0.0001, help="Replay X times faster than real time (default: real time)."
        ),
    ] = None,
    instant: Annotated[
        bool, typer.Option("--instant", help="Replay as fast as possible, keeping the export cadence.")
    ] = False,
    profile: ProfileOpt = "current",
    env: EnvOpt = None,
    env_file: EnvFileOpt = None,
    managed_settings: ManagedOpt = None,
    endpoint: EndpointOpt = None,
    protocol: ProtocolOpt = None,
    header: HeaderOpt = None,
    insecure: InsecureOpt = False,
    linger: Annotated[
        str,
        typer.Option(
            "--linger",
            metavar="DURATION",
            help="Keep the Prometheus endpoint serving this long after the replay.",
        ),
    ] = "0s",
    export_timeout: Annotated[
        float,
        typer.Option(
            "--export-timeout",
            min=0.1,
            metavar="SECONDS",
            help="Give up on one export after this long, retries included.",
        ),
    ] = 10.0,
    start_at: Annotated[
        str | None,
        typer.Option(
            "--start-at",
            metavar="WHEN",
            help="History: scenario time 0 lands at WHEN (2026-11-02T09:00:00Z, now, -14d, now-36h), and"
            " everything is sent at its own timestamps as fast as the collector takes it.",
        ),
    ] = None,
    end_at: Annotated[
        str | None,
        typer.Option(
            "--end-at",
            metavar="WHEN",
            help="History: the scenario ends at WHEN (e.g. now); with --start-at, the two must span it.",
        ),
    ] = None,
    json_out: JsonOpt = False,
    preset: PresetOpt = None,
    developers: DevelopersOpt = None,
    teams: TeamsOpt = None,
    orgs: OrgsOpt = None,
    days: DaysOpt = None,
    seed: SeedOpt = None,
    set_: SetOpt = None,
) -> None:
    """Replay scenarios through the OpenTelemetry pipeline Claude Code's configuration describes.

    Configure it exactly as Claude Code: CLAUDE_CODE_ENABLE_TELEMETRY=1, OTEL_METRICS_EXPORTER,
    OTEL_LOGS_EXPORTER, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_ENDPOINT ... from the
    environment, -e/--env-file, ~/.claude/settings.json, .claude/settings*.json or managed settings.
    --endpoint, --protocol, --header and --insecure are shorthands for -e of the OTLP variables.

    Examples:

      claude-telemetry run quickstart --instant

      claude-telemetry run team-day --speed 60 \\
        -e OTEL_EXPORTER_OTLP_PROTOCOL=http/json

      OTEL_METRICS_EXPORTER=prometheus \\
        claude-telemetry run feature-branch --linger 5m

      claude-telemetry run --preset small-team --days 14 --seed 1 --instant

    --preset and the generator's options (as `generate` takes them) replay a generated organisation
    without writing its scenario file.

      claude-telemetry run team-day --end-at now   (history: the day just ended)

    With --start-at or --end-at the scenario is history: every point, event and span carries its
    scenario time shifted there, encoded straight to OTLP (as load does) and sent as fast as the
    collector accepts it, one export per process and interval as Claude Code would have made it.

    Exit codes: 0 replayed and exported; 2 bad scenario, option or configuration;
    3 an export failed after the exporter's retries (history: the collector refused one);
    130 interrupted.
    """
    from claude_telemetry_cli import output
    from claude_telemetry_cli.clock import InstantClock, ScaledClock
    from claude_telemetry_cli.contract import get_profile
    from claude_telemetry_cli.durations import duration_option

    if instant and speed is not None:
        raise UsageError("--instant and --speed exclude each other; choose one")
    history = start_at is not None or end_at is not None
    if history and (instant or speed is not None or linger != "0s"):
        raise UsageError(
            "--start-at/--end-at send history as fast as the collector takes it: --instant, --speed and"
            " --linger do not apply"
        )
    if history and len(scenarios or []) > 1:
        raise UsageError("--start-at/--end-at take one scenario")
    linger_s = duration_option("--linger", linger)
    err = _stderr()
    contract = get_profile(profile)
    config = _load_config(
        profile,
        env,
        env_file,
        managed_settings,
        endpoint=endpoint,
        protocol=protocol,
        headers=header,
        insecure=insecure,
    )
    if history:
        import time

        from claude_telemetry_cli.history import check_history_config
        from claude_telemetry_cli.history.when import window_ends

        # Before compiling: a bad configuration or time costs nothing.
        window_ends(start_at, end_at, now_ns=time.time_ns())
        check_history_config(config)
        generated = PresetArgs(preset, developers, teams, orgs, days, seed, set_)
        # History needs no totals: adding them up would hold every series of the period in memory.
        (timeline,) = _compile_sources(
            scenarios, generated, config, console=None if json_out else err, totals=False
        )
        _run_history(timeline, config, contract, start_at, end_at, export_timeout, json_out, err)
        return
    # Everything is loaded and compiled before anything is sent: a bad file sends nothing.
    # The summary adds up what the replay replays; the compiled totals would be held for nothing.
    generated = PresetArgs(preset, developers, teams, orgs, days, seed, set_)
    timelines = _compile_sources(
        scenarios, generated, config, console=None if json_out else err, totals=False
    )
    _sigterm_interrupts(stops=2)
    for w in config.warnings:
        output.warning(err, w)

    from claude_telemetry_cli.errors import ExportError
    from claude_telemetry_cli.pipeline import PipelineFactory
    from claude_telemetry_cli.replay import replay, replay_ending

    factory = PipelineFactory(
        config, contract, export_timeout_s=export_timeout, console_out=sys.stderr if json_out else None
    )
    results, summaries = [], []
    try:
        for timeline in timelines:
            clock = InstantClock() if instant else ScaledClock(speed or 1.0)
            result = _replay_with_progress(
                replay,
                timeline,
                factory,
                clock,
                metric_interval_s=config.metric_export_interval_ms / 1000,
                logs_interval_s=config.logs_export_interval_ms / 1000,
                traces_interval_s=config.traces_export_interval_ms / 1000,
                show=not json_out and err.is_terminal,
                console=err,
            )
            results.append(result)
            summaries.append(result.summary(timeline))
            if result.aborted or result.interrupted:
                break
        ending = replay_ending(results)
        if factory.prometheus is not None and ending is None:
            if linger_s > 0:
                _linger(factory.prometheus.url, linger_s, err, quiet=json_out)
            else:
                output.warning(
                    err,
                    f"the Prometheus endpoint {factory.prometheus.url} closed when the replay ended;"
                    " use --linger DURATION to keep it up for a scraper",
                )
    finally:
        factory.close()
        for timeline in timelines:
            timeline.close()

    exporters = [vars(s).copy() for s in factory.stats]
    if json_out:
        output.print_json(
            _stdout(),
            {
                "ok": not isinstance(ending, ExportError),
                "scenarios": summaries,
                "exporters": exporters,
                "warnings": list(config.warnings),
            },
        )
    else:
        out = _stdout()
        for s in summaries:
            output.run_summary(out, {**s, "exporters": exporters})
    for w in factory.warnings:
        output.warning(err, w)
    if ending is not None:
        # The cause in one line last on stderr, where a CI log's tail shows it (the summary has the rest).
        raise ending


def _run_history(timeline, config, contract, start_at, end_at, export_timeout, json_out, err) -> None:
    """run --start-at/--end-at: the compiled scenario sent over OTLP at its own timestamps, shifted."""
    import time

    from claude_telemetry_cli import history, output

    try:
        window = history.history_window(start_at, end_at, timeline.duration, now_ns=time.time_ns())
        for w in config.warnings:
            output.warning(err, w)
        reached = [0.0]

        def send(progress=None):
            return history.send_scenario_history(
                timeline, config, contract, window, export_timeout_s=export_timeout, progress=progress
            )

        if json_out or not err.is_terminal:
            result = send()
        else:
            with output.replay_progress(
                err, timeline.name, None, timeline.duration, now=lambda: reached[0], unit="requests"
            ) as update:

                def progress(at: float, requests: int) -> None:
                    reached[0] = at
                    update(requests)

                result = send(progress)
    finally:
        timeline.close()
    summary = result.summary(timeline, window)
    if json_out:
        output.print_json(_stdout(), summary)
    else:
        output.history_summary(_stdout(), summary)
    if (ending := result.ending()) is not None:
        raise ending


@app.command("export")
@guarded
def export_cmd(
    scenario: Annotated[
        str, typer.Argument(metavar="SCENARIO", help="A scenario file, or the name of a bundled scenario.")
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="openmetrics (what Prometheus would have stored, for promtool tsdb create-blocks-from"
            " openmetrics) or otlp-json (the OTLP requests, one a line, as the Collector's file exporter"
            " writes them).",
        ),
    ] = "openmetrics",
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Write to FILE (complete or not at all: it appears when finished). Default or -: stdout.",
        ),
    ] = None,
    start_at: Annotated[
        str | None,
        typer.Option("--start-at", metavar="WHEN", help="Scenario time 0 lands at WHEN (as for run)."),
    ] = None,
    end_at: Annotated[
        str | None, typer.Option("--end-at", metavar="WHEN", help="The scenario ends at WHEN (e.g. now).")
    ] = None,
    naming: Annotated[
        str,
        typer.Option(
            "--naming",
            metavar="NAMING",
            help="openmetrics: what Prometheus scraped. otel-collector: the Collector's prometheus exporter"
            " fed with OTLP (claude_code_cost_usage_USD_total). claude-code: each Claude Code process's"
            " own endpoint, OTEL_METRICS_EXPORTER=prometheus (claude_code_cost_usage_total).",
        ),
    ] = "otel-collector",
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            metavar="KEY=VALUE",
            help="openmetrics: a label the scrape adds to every series (job=..., instance=...), replacing"
            " the one the naming derives. Repeatable.",
        ),
    ] = None,
    scrape_interval: Annotated[
        str,
        typer.Option(
            "--scrape-interval", metavar="DURATION", help="openmetrics: Prometheus scrapes this often."
        ),
    ] = "15s",
    series_expiry: Annotated[
        str,
        typer.Option(
            "--series-expiry",
            metavar="DURATION",
            help="openmetrics, otel-collector: a series is no longer served this long after its last update"
            " (the exporter's metric_expiration).",
        ),
    ] = "5m",
    delta_rule: Annotated[
        str,
        typer.Option(
            "--delta-rule",
            metavar="RULE",
            help="openmetrics, otel-collector: processor (every delta point adds to its series, as with a"
            " deltatocumulative processor before the exporter) or exporter (the prometheus exporter alone:"
            " a delta adds only if it starts where the series' last point ended, else restarts it).",
        ),
    ] = "processor",
    profile: ProfileOpt = "current",
    env: EnvOpt = None,
    env_file: EnvFileOpt = None,
    managed_settings: ManagedOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write a scenario's telemetry as history to a file: Prometheus samples or OTLP/JSON lines.

    The scenario is put in a window of the past (--start-at/--end-at, as for run) and every process
    exports as Claude Code would have: metrics every OTEL_METRIC_EXPORT_INTERVAL, events and spans in
    batches. The configuration options shape the data as for run and scenarios totals
    (OTEL_METRICS_INCLUDE_*, OTEL_RESOURCE_ATTRIBUTES, temporality); no exporter needs to be set.

    Examples:

      claude-telemetry generate --preset small-team --days 14 --out team.yaml

      claude-telemetry export team.yaml --end-at now --out team.om

      promtool tsdb create-blocks-from openmetrics team.om data/

      claude-telemetry export team.yaml --format otlp-json --end-at now \\
        --out team.jsonl

    A summary of what was written goes to stderr (--json: to stdout, then --out is needed).

    Exit codes: 0 written; 2 bad scenario, option, window or output file; 130 interrupted (nothing
    is left behind).
    """
    import time

    from claude_telemetry_cli import output
    from claude_telemetry_cli.contract import get_profile
    from claude_telemetry_cli.durations import duration_option
    from claude_telemetry_cli.history import export as history_export
    from claude_telemetry_cli.history import history_window
    from claude_telemetry_cli.history.openmetrics import DELTA_RULES, Naming, parse_labels
    from claude_telemetry_cli.history.when import window_ends

    if fmt not in history_export.FORMATS:
        raise UsageError(f"--format {fmt!r}: use one of {', '.join(history_export.FORMATS)}")
    names = Naming(naming, parse_labels(label or []))
    if delta_rule not in DELTA_RULES:
        raise UsageError(f"--delta-rule {delta_rule!r}: use one of {', '.join(DELTA_RULES)}")
    interval_s = duration_option("--scrape-interval", scrape_interval)
    expiry_s = duration_option("--series-expiry", series_expiry)
    if interval_s < 0.001:
        raise UsageError(f"--scrape-interval {scrape_interval!r}: give at least 1ms")
    to_stdout = out is None or out == "-"
    if json_out and to_stdout:
        raise UsageError("--json prints its summary on stdout: give --out FILE for the data")
    now_ns = time.time_ns()
    window_ends(start_at, end_at, now_ns=now_ns)
    history_export.check_target(out)
    err = _stderr()
    contract = get_profile(profile)
    config = _load_config(profile, env, env_file, managed_settings)
    signals = history_export.export_signals(config) if fmt == "otlp-json" else {"metrics"}
    tracing = fmt == "otlp-json" and "traces" in signals
    show = not json_out and err.is_terminal
    _sigterm_interrupts()
    timeline = _compile_with(
        scenario, config.emit, tracing, keep_records=True, console=err if show else None, totals=False
    )
    began = time.perf_counter()
    try:
        window = history_window(start_at, end_at, timeline.duration, now_ns=now_ns)
        reached = [0.0]
        spool_dir = None if to_stdout or not Path(out).parent.is_dir() else str(Path(out).parent)
        with contextlib.ExitStack() as stack:
            update = None
            if show:
                update = stack.enter_context(
                    output.replay_progress(
                        err,
                        timeline.name,
                        None,
                        timeline.duration,
                        now=lambda: reached[0],
                        unit="samples" if fmt == "openmetrics" else "lines",
                    )
                )

            def progress(at_ns: int, done: int) -> None:
                reached[0] = (at_ns - window.start_ns) / 1e9
                if update is not None:
                    update(done)

            fh = stack.enter_context(history_export.target_file(out))
            if fmt == "openmetrics":
                result = history_export.export_openmetrics(
                    timeline,
                    config,
                    contract,
                    window,
                    fh,
                    naming=names,
                    scrape_interval_s=interval_s,
                    series_expiry_s=expiry_s,
                    delta_rule=delta_rule,
                    spool_dir=spool_dir,
                    progress=progress,
                )
            else:
                result = history_export.export_otlp_json(
                    timeline, config, contract, window, fh, signals=signals, progress=progress
                )
    finally:
        timeline.close()
    seconds = time.perf_counter() - began
    summary = {
        "scenario": timeline.name,
        "sessions": timeline.session_count,
        "format": fmt,
        **({"naming": names.kind} if fmt == "openmetrics" else {"signals": sorted(signals)}),
        "out": "-" if to_stdout else out,
        "window": window.to_json(),
        **result.to_json(),
        "seconds": round(seconds, 3),
        "lines_per_second": round(result.lines / seconds) if seconds > 0 else None,
    }
    if json_out:
        output.print_json(_stdout(), summary)
    else:
        output.export_summary(err, summary)


_signals = {"stops": sys.maxsize, "received": 0}


def _sigterm_interrupts(stops: int | None = None) -> None:
    """SIGTERM (a CI job cancelled, a container stopped) ends a command like Ctrl-C: exit 130.

    With `stops`, only the first `stops` signals raise KeyboardInterrupt (for `run`: the first stops
    the replay, the second its final flush); later ones are ignored, so what a command is finishing
    (writing a scenario, its summary) is not thrown away. `timeout` and container runtimes signal a
    process and then its group, so a second signal often follows the first at once.
    """
    import signal

    _signals.update(stops=stops if stops is not None else sys.maxsize, received=0)

    def interrupt(signum, frame):
        _signals["received"] += 1
        if _signals["received"] <= _signals["stops"]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)


def _finishing() -> None:
    """From now on Ctrl-C and SIGTERM are ignored: the command is writing what it has."""
    _signals["stops"] = 0


def _interrupted() -> bool:
    return _signals["received"] > 0


def _replay_with_progress(replay, timeline, factory, clock, *, show: bool, console: Console, **kwargs):
    if not show or not timeline.record_count:
        return replay(timeline, factory, clock, **kwargs)
    from claude_telemetry_cli.output import replay_progress

    with replay_progress(
        console, timeline.name, timeline.record_count, timeline.duration, now=clock.now
    ) as update:
        return replay(timeline, factory, clock, progress=lambda done, _total: update(done), **kwargs)


def _linger(url: str, seconds: float, console: Console, *, quiet: bool) -> None:
    import time

    if not quiet:
        console.print(f"serving Prometheus metrics at {url} for {seconds:g}s (Ctrl-C to stop)")
    try:
        time.sleep(seconds)
    except KeyboardInterrupt:
        pass


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

    config = _load_config(
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
        output.print_json(_stdout(), view)
    else:
        output.config_view(_stdout(), view)


@app.command()
@guarded
def catalog(profile: ProfileOpt = "current", json_out: JsonOpt = False) -> None:
    """List the telemetry contract: every metric, event and standard attribute a profile emits."""
    from claude_telemetry_cli import output
    from claude_telemetry_cli.contract import get_profile

    data = get_profile(profile).to_json()
    if json_out:
        output.print_json(_stdout(), data)
    else:
        output.catalog(_stdout(), data)


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
        output.print_json(_stdout(), rows)
    else:
        output.scenario_list(_stdout(), rows)
        _stdout().print(
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
    _stderr().print(f"# {path}")
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

    err, out, bad = _stderr(), _stdout(), 0
    for arg in files:
        try:
            path = resolve_scenario(arg)
            compiled = _compile_with(
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

    from claude_telemetry_cli.scenario.schema import scenario_json_schema

    text = json.dumps(scenario_json_schema(), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    from claude_telemetry_cli.files import write_atomically

    try:
        write_atomically(out, text)
    except OSError as exc:
        raise UsageError(f"--out {out}: {exc.strerror}") from None
    _stderr().print(f"wrote {out}")


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

    config = _load_config(profile, env, env_file, managed_settings)
    generated = PresetArgs(preset, developers, teams, orgs, days, seed, set_)
    (compiled,) = _compile_sources(
        [file] if file else [], generated, config, keep_records=False, console=_stderr()
    )
    from claude_telemetry_cli.receiver.verify import delivered_totals

    data = delivered_totals(compiled.totals(), config).to_json()
    if json_out:
        output.print_json(_stdout(), data)
    else:
        output.totals(_stdout(), data)


def _print_locustfile(value: bool) -> None:
    if value:
        typer.echo(Path(__file__).resolve().parent / "locust" / "locustfile.py")
        raise typer.Exit()


@app.command("load")
@guarded
def load_cmd(
    sessions: Annotated[
        int,
        typer.Option("--sessions", min=1, metavar="N", help="Fleet mode: concurrent simulated sessions."),
    ] = 100,
    throughput: Annotated[
        bool,
        typer.Option(
            "--throughput",
            help="Throughput mode: realistic requests in a loop, as fast as accepted or at --rate.",
        ),
    ] = False,
    rate: Annotated[
        float | None,
        typer.Option("--rate", min=0.001, metavar="REQ/S", help="Throughput mode: requests per second."),
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option(
            "--batch",
            min=1,
            max=100_000,
            metavar="N",
            help="Throughput mode: points (or events) per request [100].",
        ),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval",
            metavar="DURATION",
            help="Fleet mode: metric export interval (default: OTEL_METRIC_EXPORT_INTERVAL, else 60s).",
        ),
    ] = None,
    ramp_up: Annotated[
        str | None,
        typer.Option(
            "--ramp-up",
            metavar="DURATION",
            help="Fleet mode: start the sessions over this long (default: one export interval, so their "
            "exports do not come in waves; 0 starts them all at once).",
        ),
    ] = None,
    session_rate: Annotated[
        float | None,
        typer.Option(
            "--session-rate",
            min=0.001,
            metavar="N/S",
            help="Fleet mode: start this many sessions per second.",
        ),
    ] = None,
    preset: Annotated[
        str,
        typer.Option("--preset", metavar="NAME|FILE", help="Generator preset the activity comes from."),
    ] = "enterprise",
    seed: Annotated[
        int, typer.Option("--seed", min=0, metavar="N", help="Same seed, same sessions and identities.")
    ] = 1,
    duration: Annotated[
        str, typer.Option("--duration", metavar="DURATION|inf", help="How long to send.")
    ] = "60s",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, max=1024, metavar="W", help="Worker processes (default: one per core)."
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            min=1,
            max=1024,
            metavar="C",
            help="Requests in flight per worker. Requests per second are at most C / round trip: raise it"
            " for a distant collector. Over HTTP, each request in flight has a connection of its own.",
        ),
    ] = 256,
    allow_export_failures: Annotated[
        bool,
        typer.Option("--allow-export-failures", help="Go on when an export fails; count it in the report."),
    ] = False,
    max_error_rate: Annotated[
        float | None,
        typer.Option(
            "--max-error-rate",
            min=0.0,
            max=1.0,
            metavar="R",
            help="Go on through failures, exit 1 if more than this share of requests failed.",
        ),
    ] = None,
    totals_out: Annotated[
        Path | None,
        typer.Option(
            "--totals-out",
            metavar="FILE",
            help="Write the exact totals of what the collector acknowledged, for `receive --expect-totals`.",
        ),
    ] = None,
    export_timeout: Annotated[
        float,
        typer.Option(
            "--export-timeout",
            min=0.1,
            metavar="SECONDS",
            help="Give up on one request after this long, retries included.",
        ),
    ] = 10.0,
    profile: ProfileOpt = "current",
    env: EnvOpt = None,
    env_file: EnvFileOpt = None,
    managed_settings: ManagedOpt = None,
    endpoint: EndpointOpt = None,
    protocol: ProtocolOpt = None,
    header: HeaderOpt = None,
    insecure: InsecureOpt = False,
    json_out: JsonOpt = False,
    locustfile: Annotated[
        bool,
        typer.Option(
            "--locustfile",
            is_eager=True,
            callback=_print_locustfile,
            help='Print the path of the installed locustfile and exit: locust -f "$(claude-telemetry load'
            ' --locustfile)".',
        ),
    ] = False,
) -> None:
    """Generate the load of a fleet of Claude Code sessions against a collector, and measure it.

    Configured like `run`, from CLAUDE_CODE_ENABLE_TELEMETRY, OTEL_METRICS_EXPORTER, OTEL_LOGS_EXPORTER,
    OTEL_EXPORTER_OTLP_PROTOCOL (grpc or http/protobuf), OTEL_EXPORTER_OTLP_ENDPOINT, headers and TLS;
    --endpoint, --protocol, --header and --insecure are shorthands for -e of the OTLP variables.

    Fleet mode (default): --sessions N simulated sessions, each with its own session.id, exporting its
    metrics every interval and its events as Claude Code does; activity from a generator preset.
    Throughput mode (--throughput): realistic requests of --batch points, as fast as the collector
    accepts them or at --rate.

    Examples:

      claude-telemetry load --sessions 5000 --ramp-up 1m --duration 10m

      claude-telemetry load --throughput --batch 200 --duration 30s --workers 4

      claude-telemetry load --sessions 200 --interval 5s --duration 1m \\
        --totals-out sent.json

    More than one machine: `locust -f "$(claude-telemetry load --locustfile)"` runs the same sessions
    on Locust's master and workers (see the README).

    At the end of --duration every running session sends what it holds (its pending points and events),
    as Claude Code does at exit; a --duration shorter than the ramp-up starts only part of the sessions,
    with a warning.

    Exit codes: 0 done; 1 nothing was sent at all, or the error rate exceeded --max-error-rate; 2 bad
    option or configuration; 3 an export failed (without --allow-export-failures); 130 interrupted (the
    report is printed).
    """
    from claude_telemetry_cli import output
    from claude_telemetry_cli.load.options import LoadOptions
    from claude_telemetry_cli.load.runner import LoadSpec, run_load

    options = LoadOptions(
        sessions=sessions,
        throughput=throughput,
        rate=rate,
        batch=batch,
        interval=interval,
        ramp_up=ramp_up,
        session_rate=session_rate,
        preset=preset,
        seed=seed,
        duration=duration,
        workers=workers,
        concurrency=concurrency,
        allow_export_failures=allow_export_failures,
        max_error_rate=max_error_rate,
        track_totals=totals_out is not None,
        export_timeout_s=export_timeout,
    )
    options.validate()  # before the configuration: a typo costs nothing
    config = _load_config(
        profile,
        env,
        env_file,
        managed_settings,
        endpoint=endpoint,
        protocol=protocol,
        headers=header,
        insecure=insecure,
    )
    from claude_telemetry_cli.load import check_load_config

    check_load_config(config, totals=options.track_totals)
    from claude_telemetry_cli.scenario.generate import load_preset

    load_preset(preset)  # an unknown preset is a one-line error before any worker starts
    from claude_telemetry_cli.load.activity import build_templates

    err = _stderr()
    with err.status(f"compiling the activity of the {preset} preset", spinner="dots"):
        templates = build_templates(preset, seed=seed, options=config.emit)
    spec = LoadSpec.from_options(options, config, templates)
    for w in (*config.warnings, *spec.warnings):
        output.warning(err, w)
    target = None if throughput else sessions
    title = (
        f"load: {'throughput' if throughput else counted(sessions, 'session')},"
        f" {counted(spec.workers, 'worker')}"
        f" -> {config.metrics.endpoint or config.logs.endpoint}"
    )
    live = None
    if not json_out and err.is_terminal:
        from rich.live import Live

        live = Live(console=err, refresh_per_second=4, transient=True)
        live.start()

    from claude_telemetry_cli.load.stats import RecentRates

    recent = RecentRates()

    def update(stats, elapsed) -> None:
        if live is not None:
            data = output.load_report_data(stats, elapsed, sessions_target=target)
            data["recent"] = recent.update(stats, elapsed)
            live.update(output.load_view(data, title))

    _sigterm_interrupts()  # a cancelled CI job gets the report and exit 130, like Ctrl-C
    try:
        result = run_load(spec, update)
    finally:
        if live is not None:
            live.stop()
    data = output.load_report_data(result.stats, result.elapsed_s, sessions_target=target)
    data.update(
        {
            "mode": spec.mode,
            "workers": spec.workers,
            "destination": {"metrics": config.metrics.endpoint, "logs": config.logs.endpoint},
            "failure": result.failure,
            "errors": result.errors,
            "interrupted": result.interrupted,
        }
    )
    if totals_out is not None and result.totals is not None:
        from claude_telemetry_cli.files import write_atomically

        try:
            write_atomically(totals_out, result.totals.dumps() + "\n")
        except OSError as exc:
            raise UsageError(f"--totals-out {totals_out}: {exc.strerror}") from None
    ending = result.ending(spec.max_error_rate)
    data["ok"] = ending is None
    if json_out:
        output.print_json(_stdout(), data)
    else:
        output.load_report(_stdout(), data, title)
    for message in dict.fromkeys(result.errors):  # the same complaint from every worker, once
        output.error(err, message)
    if ending is not None:
        raise ending


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
    import os

    from claude_telemetry_cli.scenario.generate import build_params, generate_with_progress, render_report

    flags = {"developers": developers, "teams": teams, "orgs": orgs, "days": days, "seed": seed}
    params = build_params(preset, flags, set_)
    to_stdout = out is None or out == "-"
    report = report or json_out
    # The report goes wherever the YAML does not.
    console = _stderr() if to_stdout else _stdout()
    err = _stderr()
    path = None if to_stdout else Path(out)
    with contextlib.ExitStack() as stack:
        if path is None:
            target = sys.stdout
        else:
            from claude_telemetry_cli.files import replacing

            # A half-written scenario would not load: the file appears when it is complete.
            try:
                target = stack.enter_context(replacing(path, "w", encoding="utf-8", newline="\n"))
            except OSError as exc:
                raise UsageError(f"--out {out}: {exc.strerror or exc}") from None
        _sigterm_interrupts()
        try:
            stats = generate_with_progress(
                params, target, show=not to_stdout and not json_out and err.is_terminal, console=err
            )
        except BrokenPipeError:
            # `generate | head`: the reader has what it wanted; no traceback for a closed pipe.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        if path is None:
            target.flush()
    s = stats.summary
    if json_out:
        from claude_telemetry_cli import output

        output.print_json(console, {"out": out or "-", **stats.to_json()})
    elif report:
        where = "stdout" if to_stdout else str(path)
        render_report(console, stats, title=f"{params.name}: generated to {where}, seed {params.seed}")
    elif path is not None:
        console.print(
            f"wrote {path}: {counted(s['sessions'], 'session')},"
            f" {counted(s['requests']['total'], 'request')}, {counted(s['developers'], 'developer')}"
            f" over {counted(s['days'], 'day')}, {s['bytes'] / 1e6:,.1f} MB",
            highlight=False,
            soft_wrap=True,
        )


# --------------------------------------------------------------------------- receiving

HostOpt = Annotated[
    str,
    typer.Option(
        "--host", metavar="ADDRESS", help="Address to listen on (loopback unless you say otherwise)."
    ),
]
GrpcPortOpt = Annotated[
    int,
    typer.Option("--grpc-port", metavar="PORT", min=0, max=65535, help="OTLP/gRPC port; 0 picks a free one."),
]
HttpPortOpt = Annotated[
    int,
    typer.Option(
        "--http-port",
        metavar="PORT",
        min=0,
        max=65535,
        help="OTLP/HTTP port (protobuf and JSON); 0 picks a free one.",
    ),
]
RequireHeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--require-header",
        metavar="NAME=VALUE",
        help="Refuse requests without this header (HTTP 401, gRPC UNAUTHENTICATED). Repeatable.",
    ),
]
TlsCertOpt = Annotated[
    Path | None, typer.Option("--tls-cert", metavar="FILE", help="Serve TLS with this certificate.")
]
TlsKeyOpt = Annotated[
    Path | None, typer.Option("--tls-key", metavar="FILE", help="The TLS certificate's key.")
]
ClientCaOpt = Annotated[
    Path | None,
    typer.Option("--client-ca", metavar="FILE", help="Require client certificates signed by this CA (mTLS)."),
]
TimeoutOpt = Annotated[
    str | None,
    typer.Option("--timeout", metavar="DURATION", help="Stop after this long (with --expect: fail, exit 1)."),
]


def _require_headers(pairs: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--require-header {pair.split('=')[0]!r}: expected NAME=VALUE")
        out.append((name.strip(), value.strip()))
    return out


def _start_server(reception, host, grpc_port, http_port, require_header, tls_cert, tls_key, client_ca):
    from claude_telemetry_cli.receiver.server import OtlpServer

    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if client_ca is not None and tls_cert is None:
        raise UsageError("--client-ca needs --tls-cert and --tls-key")
    return OtlpServer(
        reception,
        host=host,
        grpc_port=grpc_port,
        http_port=http_port,
        require_headers=_require_headers(require_header),
        tls_cert=tls_cert,
        tls_key=tls_key,
        client_ca=client_ca,
    ).start()


def _expected_totals(expect, expect_totals, profile, env, env_file, managed):
    """The totals --expect or --expect-totals name: a scenario's compiled now, a file read now, or a
    file to wait for."""
    from claude_telemetry_cli.receiver.verify import delivered_totals, parse_totals

    if expect and expect_totals:
        raise UsageError("--expect and --expect-totals exclude each other; choose one")
    if expect:
        config = _load_config(profile, env, env_file, managed)
        compiled = _compile(expect, config, keep_records=False, console=_stderr())
        return delivered_totals(compiled.totals(), config)
    if expect_totals:

        def parse(text: str):
            return parse_totals(text, source=f"--expect-totals {expect_totals}")

        if not expect_totals.exists():
            # `load --totals-out` writes it when the load ends; until then there is nothing to compare.
            from claude_telemetry_cli.receiver.watch import TotalsFile

            if not expect_totals.parent.is_dir():
                raise UsageError(f"--expect-totals: no directory {expect_totals.parent} for {expect_totals}")
            _stderr().print(f"waiting for {expect_totals} to be written", highlight=False)
            return TotalsFile(expect_totals, parse)
        try:
            return parse(expect_totals.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"--expect-totals {expect_totals}: {exc.strerror}") from None
    return None


def _watch_with_view(reception, *, expected, timeout_s, show: bool, console: Console, title: str):
    from claude_telemetry_cli import output
    from claude_telemetry_cli.receiver.watch import watch

    if not show:
        return watch(reception, expected=expected, timeout_s=timeout_s)
    from rich.live import Live

    with Live(
        output.reception_view(reception.snapshot(), title), console=console, refresh_per_second=4
    ) as live:
        return watch(
            reception,
            expected=expected,
            timeout_s=timeout_s,
            on_tick=lambda: live.update(output.reception_view(reception.snapshot(), title)),
        )


def _receiving_title(expected) -> str:
    if expected is None:
        return "receiving"
    if not hasattr(expected, "metrics"):
        return f"receiving, waiting for {expected.path}"
    return (
        f"receiving, expecting {counted(len(expected.metrics), 'series')}"
        f" and {counted(sum(expected.events.values()), 'event')}"
    )


@app.command()
@guarded
def receive(
    host: HostOpt = "127.0.0.1",
    grpc_port: GrpcPortOpt = 4317,
    http_port: HttpPortOpt = 4318,
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect", metavar="SCENARIO", help="Exit 0 once exactly this scenario's totals arrived."
        ),
    ] = None,
    expect_totals: Annotated[
        Path | None,
        typer.Option(
            "--expect-totals", metavar="FILE", help="Totals from `scenarios totals --json` to expect."
        ),
    ] = None,
    timeout: TimeoutOpt = None,
    require_header: RequireHeaderOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    client_ca: ClientCaOpt = None,
    dump: Annotated[
        Path | None,
        typer.Option("--dump", metavar="FILE", help="Write every accepted request as one OTLP JSON line."),
    ] = None,
    profile: ProfileOpt = "current",
    env: EnvOpt = None,
    env_file: EnvFileOpt = None,
    managed_settings: ManagedOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Receive OTLP metrics and events (gRPC and HTTP, protobuf or JSON) and say what arrived.

    With --expect (or --expect-totals) it is a verdict: exit 0 as soon as what arrived equals the
    expected totals, exit 1 at --timeout (default 2m) with the exact differences: what is missing,
    extra or altered. Pass the same -e/--env-file options the sender used: they shape the attributes.

    Examples:

      claude-telemetry receive --grpc-port 0 --http-port 0

      claude-telemetry receive --expect feature-branch --timeout 1m

    Exit codes: 0 verified (or stopped by --timeout without --expect); 1 verification failed;
    2 bad option; 130 interrupted (the summary is printed; --dump keeps everything accepted).
    """
    from claude_telemetry_cli import output
    from claude_telemetry_cli.durations import duration_option
    from claude_telemetry_cli.receiver.reception import Reception

    expected = _expected_totals(expect, expect_totals, profile, env, env_file, managed_settings)
    timeout_s = duration_option("--timeout", timeout)
    if expected is not None and timeout_s is None:
        timeout_s = 120.0
    err = _stderr()
    dump_file = None
    if dump is not None:
        try:
            dump_file = dump.open("a", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--dump {dump}: {exc.strerror}") from None
    reception = Reception(dump=dump_file)
    server = _start_server(
        reception, host, grpc_port, http_port, require_header, tls_cert, tls_key, client_ca
    )
    _sigterm_interrupts(stops=1)
    try:
        err.print(
            f"receiving OTLP: grpc {server.grpc_endpoint}  http {server.http_endpoint}"
            + ("  (Ctrl-C to stop)" if timeout_s is None else f"  (for at most {timeout_s:g}s)"),
            highlight=False,
            soft_wrap=True,
        )
        outcome = _watch_with_view(
            reception,
            expected=expected,
            timeout_s=timeout_s,
            show=not json_out and err.is_terminal,
            console=err,
            title=_receiving_title(expected),
        )
        _finishing()
    finally:
        server.stop()
        if dump_file is not None:
            dump_file.close()
    summary = reception.snapshot()
    verdict = outcome.verdict
    if json_out:
        output.print_json(
            _stdout(),
            {
                "ok": verdict.ok if verdict else (False if expected is not None else None),
                "timed_out": outcome.timed_out,
                "interrupted": outcome.interrupted,
                "seconds": round(outcome.seconds, 3),
                "received": summary,
                "verdict": verdict.to_json() if verdict else None,
            },
        )
    else:
        out = _stdout()
        output.reception_summary(out, summary)
        if verdict is not None:
            output.verdict(out, verdict, seconds=outcome.seconds)
    if outcome.interrupted:
        raise Interrupted()  # the summary says what arrived until then
    if verdict is not None and not verdict.ok:
        raise VerificationFailed()  # the verdict lists the differences
    if expected is not None and verdict is None:
        raise VerificationFailed(f"--expect-totals: {expected.path} was never written; nothing to verify")


@app.command()
@guarded
def smoke(
    scenario: Annotated[str, typer.Argument(help="A scenario file or bundled name.")] = "quickstart",
    profile: ProfileOpt = "current",
    protocol: Annotated[
        list[str] | None,
        typer.Option(
            "--protocol",
            metavar="PROTOCOL",
            help="Only this protocol (grpc, http/protobuf, http/json). Repeatable.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check the whole pipeline on this machine, with no server to install.

    Starts a receiver on free loopback ports, replays the scenario (metrics, events and beta traces)
    through the real OpenTelemetry SDK and exporters once per protocol (grpc, http/protobuf,
    http/json) and per temporality (delta, cumulative), and verifies that exactly the expected totals
    arrived each time. Your environment and settings files are not used: the check is self-contained.

    Exit codes: 0 every combination verified; 1 one failed (its differences are printed).
    """
    from claude_telemetry_cli import output
    from claude_telemetry_cli.receiver.smoke import PROTOCOLS, run_smoke
    from claude_telemetry_cli.scenario import resolve_scenario

    protocols = tuple(protocol) if protocol else PROTOCOLS
    for p in protocols:
        if p not in PROTOCOLS:
            raise UsageError(f"--protocol {p!r}: choose grpc, http/protobuf or http/json")
    path = resolve_scenario(scenario)
    err = _stderr()
    show = not json_out and err.is_terminal
    cases = run_smoke(
        path,
        profile=profile,
        protocols=protocols,
        on_case=(lambda c: err.print(output.smoke_line(c))) if show else None,
    )
    ok = all(c.ok for c in cases)
    if json_out:
        output.print_json(_stdout(), {"ok": ok, "scenario": str(path), "cases": [c.to_json() for c in cases]})
    else:
        output.smoke_table(_stdout(), path.stem, cases)
    if not ok:
        raise VerificationFailed()  # the table shows which combination failed, and how


@app.command()
@guarded
def record(
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="FILE.yaml", help="Where to write the scenario.")
    ],
    host: HostOpt = "127.0.0.1",
    grpc_port: GrpcPortOpt = 4317,
    http_port: HttpPortOpt = 4318,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout", metavar="DURATION", help="Stop recording after this long and write what arrived."
        ),
    ] = None,
    idle: Annotated[
        str | None,
        typer.Option(
            "--idle", metavar="DURATION", help="Stop once nothing new arrived for this long (after data)."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="The scenario's name (default: the file's).")
    ] = None,
    require_header: RequireHeaderOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    client_ca: ClientCaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record telemetry (from real Claude Code, or anything) and write a scenario that replays it.

    Point Claude Code at the receiver (OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 with grpc),
    work, then stop with Ctrl-C, --timeout or --idle. One session per session.id; steps are rebuilt
    from the events, or from the metrics when only metrics arrived. Replaying the file gives the same
    totals as the recording.

    Exit codes: 0 written (stopped by Ctrl-C, SIGTERM, --timeout or --idle; a second signal while it
    writes does not cut the file short); 1 nothing to replay arrived; 2 bad option.
    """
    from claude_telemetry_cli import output
    from claude_telemetry_cli.durations import duration_option
    from claude_telemetry_cli.receiver.reception import Reception
    from claude_telemetry_cli.receiver.record import build_scenario

    timeout_s, idle_s = duration_option("--timeout", timeout), duration_option("--idle", idle)
    reception = Reception(keep_decoded=True)
    server = _start_server(
        reception, host, grpc_port, http_port, require_header, tls_cert, tls_key, client_ca
    )
    _sigterm_interrupts(stops=1)
    err = _stderr()
    try:
        err.print(
            f"recording OTLP: grpc {server.grpc_endpoint}  http {server.http_endpoint}  (Ctrl-C to finish)",
            highlight=False,
            soft_wrap=True,
        )
        _record_until(reception, timeout_s, idle_s)
        _finishing()
    finally:
        server.stop()
    points, events = reception.decoded()
    recorded = build_scenario(points, events, name=name or out.stem)
    for w in recorded.warnings:
        output.warning(err, w)
    if recorded.sessions == 0:
        raise VerificationFailed(
            f"nothing to replay arrived ({counted(len(points), 'point')}, {counted(len(events), 'event')});"
            f" {out} not written"
        )
    from claude_telemetry_cli.files import write_atomically

    try:
        write_atomically(out, recorded.yaml)
    except OSError as exc:
        raise UsageError(f"--out {out}: {exc.strerror}") from None
    summary = {
        "out": str(out),
        "sessions": recorded.sessions,
        "points": len(points),
        "events": len(events),
        "profile": recorded.profile,
        "replay_env": dict(recorded.env),
    }
    if json_out:
        output.print_json(_stdout(), {**summary, "warnings": list(recorded.warnings)})
    else:
        console = _stdout()
        console.print(
            f"wrote {out}: {counted(recorded.sessions, 'session')} from {counted(len(points), 'point')}"
            f" and {counted(len(events), 'event')}"
        )
        if recorded.env or recorded.profile != "current":
            pairs = " ".join(f"-e {k}={v}" for k, v in recorded.env.items())
            profile = f" --profile {recorded.profile}" if recorded.profile != "current" else ""
            console.print(
                f"replay it with: claude-telemetry run {out}{profile} {pairs}".rstrip(), soft_wrap=True
            )


def _record_until(reception, timeout_s: float | None, idle_s: float | None) -> None:
    import time

    started = time.monotonic()
    generation = -1
    try:
        while True:
            generation = reception.wait_for_change(generation, 0.25)
            now = time.monotonic()
            if timeout_s is not None and now - started >= timeout_s:
                return
            last = reception.last_arrival
            if idle_s is not None and last is not None and now - last >= idle_s:
                return
    except KeyboardInterrupt:
        return


for _command in (*app.registered_commands, *scenarios_app.registered_commands):
    _command.cls = PlainCommand


def main() -> None:
    import os

    # grpc logs refused TLS handshakes and the like on stderr by itself; those are counted and
    # reported by the receiver instead. It reads this once, when first imported.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    app()


if __name__ == "__main__":
    main()
