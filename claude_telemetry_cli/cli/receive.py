"""receive and its verdict, smoke (the whole pipeline on this machine), record (telemetry -> scenario)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from claude_telemetry_cli.cli.app import (
    app,
    finishing,
    guarded,
    sigterm_interrupts,
    stderr_console,
    stdout_console,
)
from claude_telemetry_cli.cli.inputs import compile_for, telemetry_config
from claude_telemetry_cli.cli.options import (
    EnvFileOpt,
    EnvOpt,
    JsonOpt,
    ManagedOpt,
    ProfileOpt,
)
from claude_telemetry_cli.errors import Interrupted, UsageError, VerificationFailed
from claude_telemetry_cli.wording import counted

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
WorkersOpt = Annotated[
    int,
    typer.Option(
        "--workers",
        metavar="N",
        min=1,
        max=64,
        help="Receive in N processes sharing the ports (decoding on N cores); limits apply per process.",
    ),
]
TimeoutOpt = Annotated[
    str | None,
    typer.Option("--timeout", metavar="DURATION", help="Stop after this long (with --expect: fail, exit 1)."),
]


def _require_headers(pairs: list[str] | None) -> list[tuple[str, str]]:
    from claude_telemetry_cli.pairs import split_pair

    split = (split_pair(pair, "--require-header", form="NAME=VALUE", secret=True) for pair in pairs or [])
    return [(name, value.strip()) for name, value in split]


def _start_server(
    reception, host, grpc_port, http_port, require_header, tls_cert, tls_key, client_ca, workers: int = 1
):
    from claude_telemetry_cli.receiver.server import OtlpServer
    from claude_telemetry_cli.receiver.workers import WorkerPool

    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if client_ca is not None and tls_cert is None:
        raise UsageError("--client-ca needs --tls-cert and --tls-key")
    options = {
        "host": host,
        "grpc_port": grpc_port,
        "http_port": http_port,
        "require_headers": _require_headers(require_header),
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "client_ca": client_ca,
    }
    if workers > 1:
        return WorkerPool(reception, workers=workers, **options).start()
    return OtlpServer(reception, **options).start()


def _expected_totals(expect, expect_totals, profile, env, env_file, managed):
    """The totals --expect or --expect-totals name: a scenario's compiled now, a file read now, or a
    file to wait for."""
    from claude_telemetry_cli.receiver.verify import delivered_totals, parse_totals

    if expect and expect_totals:
        raise UsageError("--expect and --expect-totals exclude each other; choose one")
    if expect:
        config = telemetry_config(profile, env, env_file, managed)
        compiled = compile_for(expect, config, keep_records=False, console=stderr_console())
        return delivered_totals(compiled.totals(), config)
    if expect_totals:

        def parse(text: str):
            return parse_totals(text, source=f"--expect-totals {expect_totals}")

        if not expect_totals.exists():
            # `load --totals-out` writes it when the load ends; until then there is nothing to compare.
            from claude_telemetry_cli.receiver.watch import TotalsFile

            if not expect_totals.parent.is_dir():
                raise UsageError(f"--expect-totals: no directory {expect_totals.parent} for {expect_totals}")
            stderr_console().print(f"waiting for {expect_totals} to be written", highlight=False)
            return TotalsFile(expect_totals, parse)
        try:
            return parse(expect_totals.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"--expect-totals {expect_totals}: {exc.strerror}") from None
    return None


def _watch_with_view(
    reception, *, expected, timeout_s, idle_s=None, show: bool, console: Console, title: str
):
    from claude_telemetry_cli import output
    from claude_telemetry_cli.receiver.watch import watch

    if not show:
        return watch(reception, expected=expected, timeout_s=timeout_s, idle_s=idle_s)
    from rich.live import Live

    with Live(
        output.reception_view(reception.snapshot(), title), console=console, refresh_per_second=4
    ) as live:
        return watch(
            reception,
            expected=expected,
            timeout_s=timeout_s,
            idle_s=idle_s,
            on_tick=lambda: live.update(output.reception_view(reception.snapshot(), title)),
        )


def _idle_option(idle: str | None, *, expecting: bool) -> float | None:
    from claude_telemetry_cli.durations import duration_option

    idle_s = duration_option("--idle", idle)
    if idle_s is None:
        return None
    if idle_s <= 0:
        raise UsageError(f"--idle: must be more than 0, got {idle!r}")
    if not expecting:
        raise UsageError("--idle ends the wait for a verdict: give it with --expect or --expect-totals")
    return idle_s


def _nothing_arrived(server, snapshot: dict, seconds: float) -> str:
    """The one line for a wait that ended with no request accepted: where it listened, for how long,
    and what it refused meanwhile (a sender with the wrong header or certificate does reach it)."""
    from claude_telemetry_cli.durations import format_duration

    where = " or ".join(
        f"{protocol} {endpoint.split('://', 1)[-1]}"
        for protocol, endpoint in (("grpc", server.grpc_endpoint), ("http", server.http_endpoint))
        if endpoint is not None
    )
    line = f"nothing arrived on {where} in {format_duration(seconds)}"
    refused = snapshot["errors"]
    if refused:
        reasons = ", ".join(f"{reason} ({n:,})" for reason, n in refused.items())
        line += f"; {counted(sum(refused.values()), 'request')} refused: {reasons}"
    return line


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
    idle: Annotated[
        str | None,
        typer.Option(
            "--idle",
            metavar="DURATION",
            help="With --expect: fail (exit 1) once nothing new arrived for this long, or nothing at all"
            " since the start.",
        ),
    ] = None,
    require_header: RequireHeaderOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    client_ca: ClientCaOpt = None,
    dump: Annotated[
        Path | None,
        typer.Option("--dump", metavar="FILE", help="Write every accepted request as one OTLP JSON line."),
    ] = None,
    workers: WorkersOpt = 1,
    profile: ProfileOpt = "current",
    env: EnvOpt = None,
    env_file: EnvFileOpt = None,
    managed_settings: ManagedOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Receive OTLP metrics and events (gRPC and HTTP, protobuf or JSON) and say what arrived.

    With --expect (or --expect-totals) it is a verdict: exit 0 as soon as what arrived equals the
    expected totals, exit 1 at --timeout (default 2m) with the exact differences: one line per metric,
    event and span name that differs, then series by series. With --idle, it fails sooner: once
    nothing new has arrived for that long (or nothing at all since the start). Pass the same
    -e/--env-file options the sender used: they shape the attributes.

    Examples:

      claude-telemetry receive --grpc-port 0 --http-port 0

      claude-telemetry receive --expect feature-branch --timeout 1m

      claude-telemetry receive --expect team-day --idle 30s --timeout 10m

    Exit codes: 0 verified (or stopped by --timeout without --expect); 1 verification failed (at
    --timeout, at --idle, or nothing arrived at all), or the --dump file could not be written (it
    stops at once; a request is counted only once dumped); 2 bad option; 130 interrupted (the summary
    is printed; --dump keeps everything accepted).
    """
    from claude_telemetry_cli import output
    from claude_telemetry_cli.durations import duration_option
    from claude_telemetry_cli.receiver.reception import Reception

    timeout_s = duration_option("--timeout", timeout)
    idle_s = _idle_option(idle, expecting=bool(expect or expect_totals))
    expected = _expected_totals(expect, expect_totals, profile, env, env_file, managed_settings)
    if expected is not None and timeout_s is None:
        timeout_s = 120.0
    err = stderr_console()
    dump_file = None
    if dump is not None:
        from claude_telemetry_cli.files import check_writable
        from claude_telemetry_cli.receiver.dump import DumpFile

        check_writable(dump, "--dump")
        try:
            # Opened before listening: a path that cannot be written is a bad option, found at once.
            dump_file = DumpFile(dump)
        except OSError as exc:
            raise UsageError(f"--dump {dump}: {(exc.strerror or str(exc)).lower()}") from None
    reception = Reception(dump=dump_file)
    server = _start_server(
        reception, host, grpc_port, http_port, require_header, tls_cert, tls_key, client_ca, workers
    )
    sigterm_interrupts(stops=1)
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
            idle_s=idle_s,
            show=not json_out and err.is_terminal,
            console=err,
            title=_receiving_title(expected),
        )
        finishing()
    finally:
        server.stop()
        if dump_file is not None:
            dump_file.close()
    summary = reception.snapshot()
    verdict = outcome.verdict
    nothing = None
    if outcome.ended == "nothing-arrived" and expected is not None and verdict is not None:
        # The bound the user set, not the few milliseconds more the wait took.
        nothing = _nothing_arrived(server, summary, timeout_s if outcome.timed_out else idle_s)
    if json_out:
        output.print_json(
            stdout_console(),
            {
                "ok": (verdict.ok if verdict else (False if expected is not None else None))
                and not outcome.failure,
                "ended": outcome.ended,
                "timed_out": outcome.timed_out,
                "interrupted": outcome.interrupted,
                "seconds": round(outcome.seconds, 3),
                "received": summary,
                "verdict": verdict.to_json() if verdict else None,
                "error": outcome.failure or nothing,
            },
        )
    elif nothing is None:
        out = stdout_console()
        output.reception_summary(out, summary)
        if verdict is not None:
            if outcome.ended == "idle" and idle_s is not None:
                from claude_telemetry_cli.durations import format_duration

                err.print(f"nothing new arrived for {format_duration(idle_s)} (--idle)", highlight=False)
            output.verdict(out, verdict, seconds=outcome.seconds)
    if outcome.failure:
        raise VerificationFailed(outcome.failure)
    if outcome.interrupted:
        raise Interrupted()  # the summary says what arrived until then
    if nothing is not None:
        raise VerificationFailed(nothing)
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
    err = stderr_console()
    show = not json_out and err.is_terminal
    cases = run_smoke(
        path,
        profile=profile,
        protocols=protocols,
        on_case=(lambda c: err.print(output.smoke_line(c))) if show else None,
    )
    ok = all(c.ok for c in cases)
    if json_out:
        output.print_json(
            stdout_console(), {"ok": ok, "scenario": str(path), "cases": [c.to_json() for c in cases]}
        )
    else:
        output.smoke_table(stdout_console(), path.stem, cases)
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
    from claude_telemetry_cli.files import check_writable, writing
    from claude_telemetry_cli.receiver.reception import Reception
    from claude_telemetry_cli.receiver.watch import record_until
    from claude_telemetry_cli.scenario.reconstruct import build_scenario

    timeout_s, idle_s = duration_option("--timeout", timeout), duration_option("--idle", idle)
    check_writable(out, "--out")  # before the recording, not after it
    reception = Reception(keep_decoded=True)
    server = _start_server(
        reception, host, grpc_port, http_port, require_header, tls_cert, tls_key, client_ca
    )
    sigterm_interrupts(stops=1)
    err = stderr_console()
    try:
        err.print(
            f"recording OTLP: grpc {server.grpc_endpoint}  http {server.http_endpoint}  (Ctrl-C to finish)",
            highlight=False,
            soft_wrap=True,
        )
        record_until(reception, timeout_s=timeout_s, idle_s=idle_s)
        finishing()
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
    with writing(out, "--out", encoding="utf-8") as fh:
        fh.write(recorded.yaml)
    summary = {
        "out": str(out),
        "sessions": recorded.sessions,
        "points": len(points),
        "events": len(events),
        "profile": recorded.profile,
        "replay_env": dict(recorded.env),
    }
    if json_out:
        output.print_json(stdout_console(), {**summary, "warnings": list(recorded.warnings)})
    else:
        console = stdout_console()
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
