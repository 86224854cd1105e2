"""otelHeadersHelper: the command Claude Code runs for extra OTLP/HTTP headers, run the same way."""

from __future__ import annotations

import json
import os
import signal as os_signal
import subprocess

from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.settings.config import Source
from claude_telemetry_cli.settings.names import HEADERS_HELPER_KEY
from claude_telemetry_cli.settings.values import check_headers

__all__ = ["HEADERS_HELPER_TIMEOUT_S", "run_headers_helper"]

HEADERS_HELPER_TIMEOUT_S = 10


def run_headers_helper(
    command: str, *, source: Source | None = None, timeout_s: float = HEADERS_HELPER_TIMEOUT_S
) -> dict[str, str]:
    """Run an otelHeadersHelper command and return the headers it prints as a JSON object.

    Raises ConfigError "otelHeadersHelper (<source>): <what went wrong>" on any failure; never includes
    what the command printed, on stdout or stderr, since that is where the credentials are.
    """
    where = f"{HEADERS_HELPER_KEY} ({source})" if source else HEADERS_HELPER_KEY
    try:
        # A session of its own, so a timeout kills the helper's children too: a surviving child would
        # keep the output pipes open and the wait would last as long as it does.
        # The value is the path of an executable (spaces allowed) or else a shell command line.
        direct = os.path.isfile(command) and os.access(command, os.X_OK)
        process = subprocess.Popen(
            [command] if direct else command,
            shell=not direct,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        raise ConfigError(f"{where}: could not run '{command}': {exc.strerror or exc}") from None
    try:
        stdout, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_session(process)
        raise ConfigError(f"{where}: '{command}' did not finish within {timeout_s:g} s") from None
    if process.returncode != 0:
        # What it printed is not shown, on stderr no more than on stdout: a failing helper may well
        # print the token it fetched, or the request that fetched it.
        raise ConfigError(
            f"{where}: '{command}' exited with status {process.returncode} (its output is not shown, as it"
            " may hold credentials: run it yourself to see it)"
        )
    try:
        headers = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where}: output is not JSON ({exc.msg}); expected an object of header names to values"
        ) from None
    if not isinstance(headers, dict):
        raise ConfigError(f"{where}: output must be a JSON object of header names to values")
    for key, value in headers.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: header '{key}' must be a string, not {type(value).__name__}")
    # Its headers go to HTTP exporters only.
    check_headers(where, headers.items(), grpc=False)
    return headers


def _kill_session(process: subprocess.Popen) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, os_signal.SIGKILL)
        else:
            process.kill()
    except ProcessLookupError:
        pass
    process.communicate()
