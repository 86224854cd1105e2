"""One fuzz case: the CLI in-process or in a subprocess, held to its exit code, stderr, time and memory."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

from claude_telemetry_cli.cli import app
from claude_telemetry_cli.settings import RELEVANT_VARIABLES
from tests.support.cli import telemetry_env

# Seeded and bounded, so CI runs the same cases every time and the suite takes well under a minute;
# FUZZ_EXAMPLES=5000 explores further, with fresh random cases each run.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or None


def fuzz(examples: int) -> settings:
    """Hypothesis settings of a fuzz test: `examples` cases in CI, FUZZ_EXAMPLES when set."""
    return settings(
        derandomize=EXAMPLES is None,
        max_examples=EXAMPLES or examples,
        deadline=None,  # the time bound is CASE_SECONDS, checked by run_case with a clear message
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# Any input, valid or refused, is dealt with in this long, and raises the process's peak memory by less
# than CASE_MEGABYTES. Generous: the machine may be busy; a hang or a blow-up is orders of magnitude past.
CASE_SECONDS = float(os.environ.get("FUZZ_CASE_SECONDS", "10"))
CASE_MEGABYTES = 500
# A subprocess case's address space: the interpreter with grpc and the OTel SDK loaded fits easily.
SUBPROCESS_BYTES = 1024**3
SUBPROCESS_SECONDS = 60

_RUNNER = CliRunner()


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    exception: BaseException | None = None

    def describe(self) -> str:
        return f"exit {self.code} after {self.seconds:.1f}s\nstderr: {self.stderr[-2000:]!r}"


class CaseTimeout(Exception):
    """The case ran past CASE_SECONDS (raised inside it by a timer signal)."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the code inside after `seconds`: a hang becomes a failing case, not a stuck suite."""

    def expire(_signum, _frame):
        raise CaseTimeout(f"still running after {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _peak_megabytes() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quiet_env(home: str, **variables: str | None) -> dict[str, str | None]:
    """Every variable the tool reads unset, HOME elsewhere (no settings file of the user's), then
    `variables`."""
    env: dict[str, str | None] = dict.fromkeys(RELEVANT_VARIABLES)
    env.update({"HOME": home, **variables})
    return env


def run_case(
    args: list[str], env: dict[str, str | None] | None = None, *, megabytes: float = CASE_MEGABYTES
) -> Outcome:
    """The CLI in this process, as `claude-telemetry ARGS` with `env`, within CASE_SECONDS, raising the
    peak memory of the process by less than `megabytes`."""
    before = _peak_megabytes()
    started = time.monotonic()
    try:
        with deadline(CASE_SECONDS):
            result = _RUNNER.invoke(app, args, env=env, catch_exceptions=True)
    except CaseTimeout as exc:
        return Outcome(-1, "", str(exc), time.monotonic() - started, exc)
    seconds = time.monotonic() - started
    if isinstance(result.exception, CaseTimeout):
        return Outcome(-1, "", str(result.exception), seconds, result.exception)
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    outcome = Outcome(result.exit_code, result.stdout, result.stderr, seconds, exception)
    grown = _peak_megabytes() - before
    assert grown < megabytes, f"the case raised peak memory by {grown:.0f} MB; {outcome.describe()}"
    return outcome


def run_subprocess(
    args: list[str], env: dict[str, str] | None = None, *, address_space: int = SUBPROCESS_BYTES
) -> Outcome:
    """The real command, within SUBPROCESS_SECONDS and an address space of `address_space` bytes."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "claude_telemetry_cli", *args],
            env=env or telemetry_env(),
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_SECONDS,
            preexec_fn=limit,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return Outcome(-1, "", f"timed out after {SUBPROCESS_SECONDS}s; {stderr}", SUBPROCESS_SECONDS)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def assert_handled(outcome: Outcome) -> None:
    """Exit 0, or exit 2 with one line on stderr; never a traceback, a hang or a crash."""
    assert outcome.exception is None, f"{type(outcome.exception).__name__}: {outcome.exception}"
    assert "Traceback" not in outcome.stderr, outcome.describe()
    assert outcome.code in (0, 2), outcome.describe()
    assert outcome.seconds < CASE_SECONDS, outcome.describe()
    if outcome.code == 2:
        assert_one_error_line(outcome)


def assert_one_error_line(outcome: Outcome) -> str:
    """The single `error: ...` line of a refused input."""
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.describe()
    return lines[0]


def assert_refused(outcome: Outcome, *fragments: str) -> str:
    """Exit 2 with one error line holding every fragment, well within the time bound."""
    assert_handled(outcome)
    assert outcome.code == 2, outcome.describe()
    line = assert_one_error_line(outcome)
    for fragment in fragments:
        assert fragment in line, line
    return line
