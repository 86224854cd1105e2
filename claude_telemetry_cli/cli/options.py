"""Options several commands share: the configuration's command-line tier, --json, the generator's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProfileOpt = Annotated[
    str,
    typer.Option(
        "--profile",
        metavar="PROFILE",
        help="Telemetry contract: 'current' (each session in the shape of its app_version's client, "
        "the newest 2.1.331 by default), a client version ('2.1.331', '2.1.197': every session in "
        "that shape) or '2025-05'. See `catalog`.",
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
