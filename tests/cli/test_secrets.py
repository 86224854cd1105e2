"""Header values, a headers helper's output and a key passphrase appear in no message, summary, --json,
dump or written file, whatever is wrong with them: the header is named and what is wrong said."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_for_port
from tests.support.certs import make_tls_files
from tests.support.cli import otlp_env, run_cli, start_cli, telemetry_env

SECRET = "SECRET-abc123"
HEADER = f"Authorization=Bearer {SECRET}"


def _assert_hidden(proc: subprocess.CompletedProcess, *files: Path, secret: str = SECRET) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    for where, text in [("stdout", proc.stdout), ("stderr", proc.stderr)]:
        assert secret not in text, f"{where}: {text}"
        assert "abc123" not in text, f"{where}: {text}"
    for path in files:
        assert secret not in path.read_text(errors="replace"), path


def _one_line_exit_2(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    return lines[0]


BAD_HEADERS = {
    "bare token": (SECRET, "malformed header 1 of 1 '***'"),
    "colon": (f"Authorization: Bearer {SECRET}", "malformed header 1 of 1 'Authorization***'"),
    "line break": (f"{HEADER}%0Ainjected", "header 'Authorization' holds a line break"),
    "token with '='": (f"Authorization: Bearer {SECRET}=", "'Authorization***' is not a header name"),
}
# Each command that reads the configuration, with what it needs to get that far.
CONFIGURED = {
    "run": ["run", "quickstart", "--instant"],
    "run --json": ["run", "quickstart", "--instant", "--json"],
    "run history": ["run", "quickstart", "--end-at", "now"],
    "load": ["load", "--sessions", "1", "--duration", "1s"],
    "config": ["config"],
    "config --json": ["config", "--json"],
    "export": ["export", "quickstart", "--end-at", "now", "--format", "otlp-json", "--out", "x.jsonl"],
    "scenarios totals": ["scenarios", "totals", "quickstart"],
}


@pytest.mark.parametrize(
    ("command", "protocol"),
    [*((command, "http/protobuf") for command in CONFIGURED), ("run", "grpc"), ("load", "grpc")],
)
@pytest.mark.parametrize("bad", BAD_HEADERS)
def test_a_bad_header_is_named_and_never_shown(tmp_path, command, bad, protocol):
    value, complaint = BAD_HEADERS[bad]
    env = otlp_env("http://127.0.0.1:9", protocol, OTEL_EXPORTER_OTLP_HEADERS=value)

    proc = run_cli(CONFIGURED[command], env, cwd=tmp_path, timeout=60)

    assert complaint in _one_line_exit_2(proc)
    _assert_hidden(proc)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["run", "quickstart", "--instant", "--header", SECRET],
        ["load", "--duration", "1s", "--header", f"{SECRET}"],
        ["config", "--header", f"Bearer {SECRET}"],
        ["config", "-e", f"OTEL_EXPORTER_OTLP_HEADERS={SECRET}"],
        ["receive", "--grpc-port", "0", "--http-port", "0", "--timeout", "1s", "--require-header", SECRET],
        ["record", "--out", "r.yaml", "--timeout", "1s", "--require-header", f"Authorization {SECRET}"],
    ],
    ids=["run --header", "load --header", "config --header", "config -e", "receive", "record"],
)
def test_a_malformed_header_option_is_never_shown(tmp_path, args):
    env = otlp_env("http://127.0.0.1:9", "http/protobuf")

    proc = run_cli(args, env, cwd=tmp_path, timeout=60)

    assert "expected" in _one_line_exit_2(proc)
    _assert_hidden(proc)


def test_an_env_file_line_is_never_shown(tmp_path):
    env_file = tmp_path / "otel.env"
    env_file.write_text(f"CLAUDE_CODE_ENABLE_TELEMETRY=1\n{SECRET}\n")

    proc = run_cli(["config", "--env-file", str(env_file)], telemetry_env(), cwd=tmp_path)

    assert _one_line_exit_2(proc) == f"error: {env_file}:2: '***': expected KEY=VALUE"
    _assert_hidden(proc)


def _failing_helper(tmp_path: Path) -> dict[str, str]:
    """HOME holding a settings file whose otelHeadersHelper prints the secret, everywhere, and fails."""
    script = tmp_path / "helper.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'echo \'{{"Authorization": "Bearer {SECRET}"}}\'\n'
        f"echo 'token service refused Bearer {SECRET}' >&2\n"
        "exit 3\n"
    )
    script.chmod(0o755)
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text(json.dumps({"otelHeadersHelper": str(script)}))
    return {"HOME": str(tmp_path)}


@pytest.mark.parametrize("command", ["run", "load", "config", "config --json"])
def test_a_failing_headers_helper_is_named_but_what_it_printed_never_shown(tmp_path, command):
    env = otlp_env("http://127.0.0.1:9", "http/protobuf", **_failing_helper(tmp_path))

    proc = run_cli(CONFIGURED[command], env, cwd=tmp_path, timeout=60)

    assert "otelHeadersHelper" in _one_line_exit_2(proc) and "exited with status 3" in proc.stderr
    _assert_hidden(proc)


def test_smoke_shows_none_of_the_environments_secrets(tmp_path):
    env = otlp_env(
        "http://127.0.0.1:9",
        "http/protobuf",
        OTEL_EXPORTER_OTLP_HEADERS=HEADER,
        CLAUDE_CODE_CLIENT_KEY_PASSPHRASE=SECRET,
        **_failing_helper(tmp_path),
    )

    for args in (["smoke", "--protocol", "grpc"], ["smoke", "--protocol", "http/json", "--json"]):
        proc = run_cli(args, env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        _assert_hidden(proc)


@pytest.mark.parametrize("command", ["run", "load", "config --json"])
def test_a_wrong_key_passphrase_is_named_and_never_shown(tmp_path, command):
    tls = make_tls_files(tmp_path / "tls")
    env = otlp_env(
        "https://127.0.0.1:9",
        "http/protobuf",
        CLAUDE_CODE_CLIENT_KEY=str(tls.client_key_encrypted),
        CLAUDE_CODE_CLIENT_CERT=str(tls.client_cert),
        CLAUDE_CODE_CLIENT_KEY_PASSPHRASE=SECRET,
    )

    proc = run_cli(CONFIGURED[command], env, cwd=tmp_path, timeout=60)

    if command.startswith("config"):
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["values"]["CLAUDE_CODE_CLIENT_KEY_PASSPHRASE"]["value"] == "***"
    else:
        assert "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE: cannot decrypt" in _one_line_exit_2(proc)
    _assert_hidden(proc)


class _EchoingCollector(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP endpoint refusing every request with a reply that quotes its Authorization header,
    as a careless gateway may."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server method name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = f"invalid credentials: {self.headers.get('Authorization')}".encode()
                self.send_response(401)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.mark.parametrize("command", ["run", "run --json", "run history", "load"])
def test_a_collector_quoting_the_header_it_refused_is_not_echoed(tmp_path, command):
    collector = _EchoingCollector()
    try:
        env = otlp_env(collector.endpoint, "http/protobuf", logs=False, OTEL_EXPORTER_OTLP_HEADERS=HEADER)
        proc = run_cli([*CONFIGURED[command], "--export-timeout", "2"], env, cwd=tmp_path, timeout=60)
    finally:
        collector.stop()

    assert proc.returncode == 3, proc.stderr
    if command == "run history":  # the one whose summary quotes the collector's reply
        assert "invalid credentials: ***" in proc.stdout + proc.stderr
    _assert_hidden(proc)


def test_receive_and_run_with_a_required_header_show_it_nowhere(tmp_path):
    grpc_port, http_port = free_port(), free_port()
    dump = tmp_path / "dump.jsonl"
    receiver = start_cli(
        ["receive", "--require-header", HEADER, "--json"]
        + ["--grpc-port", str(grpc_port), "--http-port", str(http_port), "--dump", str(dump)]
        + ["--expect", "quickstart", "--timeout", "60s"],
        env=telemetry_env(),
        cwd=tmp_path,
    )
    try:
        wait_for_port(http_port, receiver)
        endpoint = f"http://127.0.0.1:{http_port}"
        refused = run_cli(
            ["run", "quickstart", "--instant", "--export-timeout", "2", "--json"],
            otlp_env(
                endpoint, "http/protobuf", OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer SECRET-wrong456"
            ),
        )
        sent = run_cli(
            ["run", "quickstart", "--instant", "--json"],
            otlp_env(endpoint, "http/protobuf", OTEL_EXPORTER_OTLP_HEADERS=HEADER),
        )
        stdout, stderr = receiver.communicate(timeout=90)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.communicate()
    assert refused.returncode == 3, refused.stderr
    _assert_hidden(refused, secret="SECRET-wrong456")
    assert sent.returncode == 0, sent.stderr
    _assert_hidden(sent)
    assert receiver.returncode == 0, stderr
    _assert_hidden(subprocess.CompletedProcess([], 0, stdout, stderr), dump)
    assert dump.stat().st_size > 0


def test_record_with_a_required_header_writes_it_nowhere(tmp_path):
    grpc_port = free_port()
    out = tmp_path / "recorded.yaml"
    recorder = start_cli(
        ["record", "--require-header", HEADER, "--json"]
        + ["--grpc-port", str(grpc_port), "--http-port", "0", "--idle", "1s", "--timeout", "60s"]
        + ["--out", str(out)],
        env=telemetry_env(),
        cwd=tmp_path,
    )
    try:
        wait_for_port(grpc_port, recorder)
        env = otlp_env(f"http://127.0.0.1:{grpc_port}", OTEL_EXPORTER_OTLP_HEADERS=HEADER)
        sent = run_cli(["run", "quickstart", "--instant"], env)
        stdout, stderr = recorder.communicate(timeout=60)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.communicate()
    assert sent.returncode == 0, sent.stderr
    _assert_hidden(sent)
    assert recorder.returncode == 0, stderr
    _assert_hidden(subprocess.CompletedProcess([], 0, stdout, stderr), out)
