"""mTLS with generated certificates: gRPC via OTEL_EXPORTER_OTLP_*, HTTP via CLAUDE_CODE_CLIENT_*."""

from __future__ import annotations

import pytest

from tests.support.certs import make_tls_files
from tests.support.cli import otlp_env, run_cli
from tests.support.https_sink import HttpsSink
from tests.support.otlp_sink import OtlpSink

pytestmark = pytest.mark.integration


@pytest.fixture
def tls(tmp_path):
    return make_tls_files(tmp_path / "certs")


def _base(endpoint: str, protocol: str) -> dict[str, str]:
    return otlp_env(
        endpoint,
        protocol,
    )


def _grpc_tls_env(endpoint: str, tls, *, client_certificate: bool) -> dict[str, str]:
    env = _base(endpoint, "grpc")
    env["OTEL_EXPORTER_OTLP_CERTIFICATE"] = str(tls.ca_cert)
    if client_certificate:
        env["OTEL_EXPORTER_OTLP_CLIENT_KEY"] = str(tls.client_key)
        env["OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"] = str(tls.client_cert)
    return env


def test_grpc_mtls_delivers_with_client_certificate_and_fails_without(tls, tmp_path):
    sink = OtlpSink(tls).start()
    try:
        env = _grpc_tls_env(sink.endpoint, tls, client_certificate=True)
        proc = run_cli(["run", "quickstart", "--instant"], env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert {p.name for p in sink.points()} >= {"claude_code.session.count", "claude_code.cost.usage"}
        assert any(e.name == "user_prompt" for e in sink.events())

        without_client_cert = _grpc_tls_env(sink.endpoint, tls, client_certificate=False)
        proc = run_cli(
            ["run", "quickstart", "--instant", "--export-timeout", "2"], without_client_cert, cwd=tmp_path
        )
        assert proc.returncode == 3, proc.stderr
        assert "export failed" in proc.stdout
    finally:
        sink.stop()


def test_load_over_grpc_mtls_is_accepted_with_the_client_certificate_and_refused_without(tls, tmp_path):
    import json

    sink = OtlpSink(tls).start()
    args = ["load", "--json", "--sessions", "5", "--interval", "1s", "--duration", "2s", "--workers", "1"]
    try:
        env = _grpc_tls_env(sink.endpoint, tls, client_certificate=True)
        proc = run_cli(args, env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["requests"]["accepted"] == report["requests"]["sent"] > 0
        assert len(sink.metric_requests) + len(sink.log_requests) == report["requests"]["accepted"]

        without_client_cert = _grpc_tls_env(sink.endpoint, tls, client_certificate=False)
        proc = run_cli([*args, "--export-timeout", "2"], without_client_cert, cwd=tmp_path)
        assert proc.returncode == 3, proc.stderr
        assert "failed: UNAVAILABLE" in proc.stderr
    finally:
        sink.stop()


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_http_mtls_with_an_encrypted_client_key(tls, tmp_path, protocol):
    sink = HttpsSink(tls).start()
    try:
        env = _base(sink.endpoint, protocol)
        env.update(
            CLAUDE_CODE_CLIENT_CERT=str(tls.client_cert),
            CLAUDE_CODE_CLIENT_KEY=str(tls.client_key_encrypted),
            CLAUDE_CODE_CLIENT_KEY_PASSPHRASE=tls.passphrase,
            NODE_EXTRA_CA_CERTS=str(tls.ca_cert),
        )
        proc = run_cli(["run", "quickstart", "--instant"], env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert tls.passphrase not in proc.stdout + proc.stderr
        assert "claude_code.session.count" in sink.metric_names()
        assert any(path == "/v1/logs" for path, _, _ in sink.requests)
    finally:
        sink.stop()


def test_http_mtls_wrong_passphrase_is_a_configuration_error(tls, tmp_path):
    env = _base("https://127.0.0.1:9", "http/protobuf")
    env.update(
        CLAUDE_CODE_CLIENT_CERT=str(tls.client_cert),
        CLAUDE_CODE_CLIENT_KEY=str(tls.client_key_encrypted),
        CLAUDE_CODE_CLIENT_KEY_PASSPHRASE="not it",
        NODE_EXTRA_CA_CERTS=str(tls.ca_cert),
    )
    proc = run_cli(["run", "quickstart", "--instant"], env, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE" in proc.stderr
    assert "not it" not in proc.stderr
