"""The Typer apps, the consoles commands draw on, and guarded: where every ending becomes its exit code."""

from __future__ import annotations

import functools
import os
import sys
from typing import Annotated

import typer
from rich.console import Console

from claude_telemetry_cli import __version__
from claude_telemetry_cli.cli.help import PlainGroup
from claude_telemetry_cli.errors import ExitCode, Interrupted, TelemetryError

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


def stdout_console() -> Console:
    return _console(stderr=False)


def stderr_console() -> Console:
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
            err = stderr_console()
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
            stderr_console().print("interrupted")
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


_signals = {"stops": sys.maxsize, "received": 0}


def sigterm_interrupts(stops: int | None = None) -> None:
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


def finishing() -> None:
    """From now on Ctrl-C and SIGTERM are ignored: the command is writing what it has."""
    _signals["stops"] = 0
