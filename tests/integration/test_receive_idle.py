"""`receive --expect` fails fast and says why: a sender that stops short fails once the stream has been
idle, not at --timeout; nothing arriving at all is one plain line; a failed verdict opens with one line
per name that differs."""

from __future__ import annotations

import time

import pytest

from tests.conftest import free_port, wait_for_port
from tests.support.cli import otlp_env, run_cli, start_cli, telemetry_env

pytestmark = pytest.mark.integration


def _receive(tmp_path, *args: str):
    """`receive` as a user runs it, on free ports, its human output captured; started once it listens."""
    grpc_port, http_port = free_port(), free_port()
    proc = start_cli(
        ["receive", "--grpc-port", str(grpc_port), "--http-port", str(http_port), *args],
        env=telemetry_env(),
        cwd=tmp_path,
    )
    try:
        wait_for_port(grpc_port, proc)
        wait_for_port(http_port, proc)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc, grpc_port, http_port


def _finish(proc, timeout: float) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_a_sender_that_stops_short_fails_at_idle_with_one_line_per_name_first(tmp_path):
    idle = 8
    # Expecting a whole team's day; only the quickstart's one session arrives, then nothing more.
    proc, grpc_port, _ = _receive(tmp_path, "--expect", "team-day", "--idle", f"{idle}s", "--timeout", "120s")
    sent = run_cli(
        ["run", "quickstart", "--instant"], otlp_env(f"http://127.0.0.1:{grpc_port}"), cwd=tmp_path
    )
    sender_done = time.monotonic()
    stdout, stderr = _finish(proc, timeout=120)
    elapsed = time.monotonic() - sender_done
    assert sent.returncode == 0, sent.stderr
    assert proc.returncode == 1, stderr
    assert elapsed < idle + 10, elapsed  # the --idle ended it, not the 120 s --timeout
    assert f"nothing new arrived for {idle}s (--idle)" in stderr
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("verification failed: "))
    detail = lines.index("in detail:")
    summary = lines[start + 1 : detail]
    assert "  claude_code.active_time.total: 42 of 42 series missing" in summary
    assert "  events api_request: expected 88, received 2" in summary
    assert "  events user_prompt: expected 36, received 1" in summary
    assert not [line for line in summary if line.startswith(("  missing", "  extra", "  altered"))]
    details = lines[detail + 1 :]
    assert len(details) == 21 and details[-1].endswith(" more (--json lists them all)")


def test_nothing_arriving_within_idle_is_one_plain_line(tmp_path):
    proc, grpc_port, http_port = _receive(
        tmp_path, "--expect", "quickstart", "--idle", "2s", "--timeout", "60s"
    )
    listening = time.monotonic()
    stdout, stderr = _finish(proc, timeout=60)
    assert time.monotonic() - listening < 2 + 10
    assert proc.returncode == 1
    assert stdout == ""
    assert stderr.splitlines()[-1] == (
        f"error: nothing arrived on grpc 127.0.0.1:{grpc_port} or http 127.0.0.1:{http_port} in 2s"
    )
    assert "missing" not in stderr


def test_nothing_arriving_by_the_timeout_says_so_in_json_too_and_names_what_was_refused(tmp_path, receivers):
    import urllib.error
    import urllib.request

    receiver = receivers(
        tmp_path, "--expect", "quickstart", "--timeout", "3s", "--require-header", "Authorization=Bearer x"
    )
    # A sender without the header reaches the receiver but is refused: that is not "nothing to say".
    request = urllib.request.Request(
        f"{receiver.endpoint('http')}/v1/metrics",
        data=b"",
        headers={"Content-Type": "application/x-protobuf"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    code, data, err = receiver.result()
    where = f"grpc 127.0.0.1:{receiver.grpc_port} or http 127.0.0.1:{receiver.http_port}"
    line = f"nothing arrived on {where} in 3s; 1 request refused: http/protobuf: unauthenticated (1)"
    assert code == 1
    assert data["ok"] is False and data["ended"] == "nothing-arrived" and data["timed_out"] is True
    assert data["error"] == line
    assert data["verdict"]["summary"][-1] == "events user_prompt: expected 1, received 0"
    assert err.splitlines()[-1] == f"error: {line}"
