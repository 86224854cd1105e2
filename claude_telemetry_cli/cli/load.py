"""load: a fleet of simulated sessions (or a throughput loop) against a collector, measured live."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from claude_telemetry_cli.cli.app import app, guarded, sigterm_interrupts, stderr_console, stdout_console
from claude_telemetry_cli.cli.inputs import telemetry_config
from claude_telemetry_cli.cli.options import (
    EndpointOpt,
    EnvFileOpt,
    EnvOpt,
    HeaderOpt,
    InsecureOpt,
    JsonOpt,
    ManagedOpt,
    ProfileOpt,
    ProtocolOpt,
)
from claude_telemetry_cli.load.options import LoadOptions
from claude_telemetry_cli.wording import counted

# The defaults --help shows are the options' own.
_DEFAULT = LoadOptions()


def _print_locustfile(value: bool) -> None:
    if value:
        from claude_telemetry_cli.locust import LOCUSTFILE

        typer.echo(LOCUSTFILE)
        raise typer.Exit()


@app.command("load")
@guarded
def load_cmd(
    sessions: Annotated[
        int,
        typer.Option("--sessions", min=1, metavar="N", help="Fleet mode: concurrent simulated sessions."),
    ] = _DEFAULT.sessions,
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
    ] = _DEFAULT.preset,
    seed: Annotated[
        int, typer.Option("--seed", min=0, metavar="N", help="Same seed, same sessions and identities.")
    ] = _DEFAULT.seed,
    duration: Annotated[
        str, typer.Option("--duration", metavar="DURATION|inf", help="How long to send.")
    ] = _DEFAULT.duration,
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
    ] = _DEFAULT.concurrency,
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
            help="Write the exact totals of what the collector acknowledged (and what each event and span"
            " carried), for `receive --expect-totals`.",
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
    ] = _DEFAULT.export_timeout_s,
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
    OTEL_TRACES_EXPORTER (with CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1),
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
    if totals_out is not None:
        from claude_telemetry_cli.files import check_writable

        check_writable(totals_out, "--totals-out")  # not after the whole load
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
    from claude_telemetry_cli.load import check_load_config

    check_load_config(config, totals=options.track_totals)
    from claude_telemetry_cli.scenario.generate import load_preset

    load_preset(preset)  # an unknown preset is a one-line error before any worker starts
    from claude_telemetry_cli.load.activity import build_templates

    err = stderr_console()
    with err.status(f"compiling the activity of the {preset} preset", spinner="dots"):
        templates = build_templates(
            preset, seed=seed, options=config.emit, tracing=config.traces.otlp_enabled
        )
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

    sigterm_interrupts()  # a cancelled CI job gets the report and exit 130, like Ctrl-C
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
            "destination": {
                "metrics": config.metrics.endpoint,
                "logs": config.logs.endpoint,
                **({"traces": config.traces.endpoint} if config.traces.otlp_enabled else {}),
            },
            "failure": result.failure,
            "errors": result.errors,
            "interrupted": result.interrupted,
        }
    )
    if totals_out is not None and result.totals is not None:
        from claude_telemetry_cli.files import writing

        with writing(totals_out, "--totals-out", encoding="utf-8") as fh:
            fh.write(result.totals.dumps() + "\n")
    ending = result.ending(spec.max_error_rate)
    data["ok"] = ending is None
    if json_out:
        output.print_json(stdout_console(), data)
    else:
        output.load_report(stdout_console(), data, title)
    for message in dict.fromkeys(result.errors):  # the same complaint from every worker, once
        output.error(err, message)
    if ending is not None:
        raise ending
