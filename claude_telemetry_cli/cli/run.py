"""run (a replay in real, scaled or no time, or history) and export (history written to a file)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from claude_telemetry_cli.cli.app import app, guarded, sigterm_interrupts, stderr_console, stdout_console
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
    err = stderr_console()
    contract = get_profile(profile)
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
    if history:
        import time

        from claude_telemetry_cli.history import HistorySpooler, check_history_config
        from claude_telemetry_cli.history.when import window_ends

        # Before compiling: a bad configuration or time costs nothing.
        window_ends(start_at, end_at, now_ns=time.time_ns())
        check_history_config(config)
        generated = PresetArgs(preset, developers, teams, orgs, days, seed, set_)
        # History needs no totals: adding them up would hold every series of the period in memory.
        # Each session is encoded for sending as it is compiled (for a preset, by the compile's workers).
        (timeline,) = compile_sources(
            scenarios,
            generated,
            config,
            console=None if json_out else err,
            totals=False,
            spooler=HistorySpooler(contract.name),
        )
        _run_history(timeline, config, contract, start_at, end_at, export_timeout, json_out, err)
        return
    # Everything is loaded and compiled before anything is sent: a bad file sends nothing.
    # The summary adds up what the replay replays; the compiled totals would be held for nothing.
    generated = PresetArgs(preset, developers, teams, orgs, days, seed, set_)
    timelines = compile_sources(scenarios, generated, config, console=None if json_out else err, totals=False)
    sigterm_interrupts(stops=2)
    for w in config.warnings:
        output.warning(err, w)

    from claude_telemetry_cli.errors import ExportError
    from claude_telemetry_cli.pipeline import PipelineFactory
    from claude_telemetry_cli.replay import replay, replay_ending
    from claude_telemetry_cli.settings import config_secrets, redact

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

    # An exporter's error may quote a collector's reply, and a collector may quote a refused header.
    secrets = config_secrets(config)
    exporters = redact([vars(s).copy() for s in factory.stats], secrets)
    summaries = redact(summaries, secrets)
    if json_out:
        output.print_json(
            stdout_console(),
            {
                "ok": not isinstance(ending, ExportError),
                "scenarios": summaries,
                "exporters": exporters,
                "warnings": list(config.warnings),
            },
        )
    else:
        out = stdout_console()
        for s in summaries:
            output.run_summary(out, {**s, "exporters": exporters})
    for w in factory.warnings:
        output.warning(err, w)
    if ending is not None:
        # The cause in one line last on stderr, where a CI log's tail shows it (the summary has the rest).
        ending.message = redact(ending.message, secrets)
        ending.args = (ending.message,)  # what --traceback shows
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
        output.print_json(stdout_console(), summary)
    else:
        output.history_summary(stdout_console(), summary)
    if (ending := result.ending()) is not None:
        raise ending


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
    if not to_stdout:
        from claude_telemetry_cli.files import check_writable

        check_writable(out, "--out")
    err = stderr_console()
    contract = get_profile(profile)
    config = telemetry_config(profile, env, env_file, managed_settings)
    signals = history_export.export_signals(config) if fmt == "otlp-json" else {"metrics"}
    tracing = fmt == "otlp-json" and "traces" in signals
    show = not json_out and err.is_terminal
    sigterm_interrupts()
    timeline = compile_with(
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
        output.print_json(stdout_console(), summary)
    else:
        output.export_summary(err, summary)
