"""The command line: thin commands that parse, call the core and render, each ending through guarded.

One module per command group; importing it registers its commands. Heavy modules (the OpenTelemetry
SDK, grpc, faker) are imported inside commands, so `--help` and typos answer at once.
"""

from __future__ import annotations

from claude_telemetry_cli.cli.app import app, scenarios_app
from claude_telemetry_cli.cli.help import PlainCommand

# isort: off
# In the order --help lists their commands.
from claude_telemetry_cli.cli import run, scenarios, load, generate, receive  # noqa: F401
# isort: on

__all__ = ["app", "main"]

for _command in (*app.registered_commands, *scenarios_app.registered_commands):
    _command.cls = PlainCommand


def main() -> None:
    import os
    import sys

    from claude_telemetry_cli.cli.app import StdoutError, guard_stdout, stdout_failed

    # grpc logs refused TLS handshakes and the like on stderr by itself; those are counted and
    # reported by the receiver instead. It reads this once, when first imported.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    guard_stdout()
    try:
        app()
    except StdoutError as exc:
        # Written outside a command (--help, --version): the same ending as inside one.
        sys.exit(stdout_failed(exc))
