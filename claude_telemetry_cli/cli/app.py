"""The Typer apps, the consoles commands draw on, and guarded: where every ending becomes its exit code."""

from __future__ import annotations

import errno
import functools
import io
import os
import signal
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


class StdoutError(OSError):
    """Writing to standard output failed: its reader left (EPIPE), it is full, or it was closed."""


class _StdoutRaw(io.FileIO):
    """Standard output's file descriptor, whose write errors say they are stdout's: an error writing an
    --out file and one writing stdout end differently."""

    def __init__(self, fd: int, *, closed: bool = False) -> None:
        super().__init__(fd, "w", closefd=False)
        self.refused = closed
        self.silenced = False

    def write(self, data) -> int:
        if self.silenced:
            return len(data)
        if self.refused:
            raise StdoutError(errno.EBADF, "it is closed", "<stdout>")
        try:
            return super().write(data)
        except OSError as exc:
            raise StdoutError(exc.errno, exc.strerror, "<stdout>") from None


def guard_stdout() -> None:
    """Put standard output behind _StdoutRaw, for guarded to end a failed write as one line (or quietly,
    for a closed pipe). Without a file descriptor 1 at start (`>&-`), /dev/null holds its place, so no
    file opened later becomes fd 1, and writing stdout is an error."""
    original = sys.stdout
    if original is None:
        null = os.open(os.devnull, os.O_WRONLY)
        if null != 1:
            os.dup2(null, 1)
            os.close(null)
        raw = _StdoutRaw(1, closed=True)
        encoding, errors, line_buffering = "utf-8", "strict", False
    else:
        try:
            if original.fileno() != 1:
                return
        except (AttributeError, OSError, ValueError):
            return  # not the process's stdout (a test's capture): nothing to guard
        original.flush()
        raw = _StdoutRaw(1)
        encoding, errors, line_buffering = original.encoding, original.errors, original.line_buffering
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw), encoding=encoding, errors=errors, line_buffering=line_buffering
    )


def _silence_stdout() -> None:
    """What is still buffered for stdout goes nowhere: no second error at exit."""
    raw = getattr(getattr(sys.stdout, "buffer", None), "raw", None)
    if isinstance(raw, _StdoutRaw):
        raw.silenced = True


def _flush_stdout() -> None:
    if sys.stdout is not None:
        sys.stdout.flush()


# 128 + SIGPIPE, as a shell reports a writer whose reader left.
CLOSED_PIPE_EXIT = 128 + signal.SIGPIPE


def stdout_failed(exc: StdoutError) -> int:
    """The exit code of a failed write to stdout: a pipe whose reader left (`| head`) ends quietly, as
    the reader has what it wanted; anything else (a full disk, a closed stdout) is one line on stderr."""
    _silence_stdout()
    if exc.errno == errno.EPIPE:
        return CLOSED_PIPE_EXIT
    from claude_telemetry_cli import output

    output.error(stderr_console(), f"cannot write to standard output: {exc.strerror}")
    return int(ExitCode.BAD_INPUT)


def guarded(fn):
    """The one place an ending becomes output and an exit code: a domain error (a bad input, or a result
    a command ends on: a failed verification, a failed export, an interrupt) is its one line on stderr
    and its exit code; Ctrl-C outside the core's own handling is 130; a failed write to stdout is
    stdout_failed's."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            result = fn(*args, **kwargs)
            _flush_stdout()  # a full stdout fails here, not in the interpreter's exit
            return result
        except StdoutError as exc:
            raise typer.Exit(stdout_failed(exc)) from None
        except TelemetryError as exc:
            try:
                _flush_stdout()
            except StdoutError:
                _silence_stdout()  # the domain error says more than the stdout one
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
