"""Domain errors and the process exit codes they map to."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    VERIFICATION_FAILED = 1
    BAD_INPUT = 2
    EXPORT_FAILED = 3
    INTERRUPTED = 130


class TelemetryError(Exception):
    """A failure a user can cause or fix; rendered as one line, never a traceback.

    An empty message ends the command with the exit code alone, when what it printed already says why
    (a verdict's differences, a worker's errors, the files that failed validation).
    """

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class ScenarioError(TelemetryError):
    """A scenario file is malformed; the message starts with FILE:LINE."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class ConfigError(TelemetryError):
    """An environment variable or settings file value is invalid; the message names it."""


class UsageError(TelemetryError):
    """The command line itself is wrong (unknown profile, bad -e pair, ...)."""


class ExportError(TelemetryError):
    """Telemetry could not be delivered after the exporter's retries."""

    exit_code = ExitCode.EXPORT_FAILED


class VerificationFailed(TelemetryError):
    """What arrived is not what was expected, or there was nothing to measure: data lost or altered."""

    exit_code = ExitCode.VERIFICATION_FAILED


class Interrupted(TelemetryError):
    """Ctrl-C or SIGTERM stopped the command; the message says what was kept. A note, not an error."""

    exit_code = ExitCode.INTERRUPTED
