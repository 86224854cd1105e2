"""`receive` beside clients that misbehave: calls that never send their message, requests trickled a
byte at a time. A normal sender alongside must still be verified exactly."""

from __future__ import annotations

import pytest

from tests.support.cli import otlp_env, run_cli
from tests.support.misbehaving import Slowloris, stalled_grpc_calls

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("stalled", [8, 50])
def test_stalled_grpc_calls_do_not_starve_a_normal_sender(tmp_path, receivers, stalled):
    receiver = receivers(tmp_path, "--expect", "quickstart", "--timeout", "60s")
    with stalled_grpc_calls(receiver.grpc_port, stalled):
        proc = run_cli(
            ["run", "quickstart", "--instant", "--export-timeout", "5"],
            otlp_env(receiver.endpoint("grpc")),
            cwd=tmp_path,
        )
        code, data, err = receiver.result()
    assert proc.returncode == 0, proc.stderr
    assert code == 0, err
    assert data["ok"] is True and data["verdict"]["mismatches"] == []


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_a_slowloris_client_does_not_starve_a_normal_sender(tmp_path, receivers, protocol):
    receiver = receivers(tmp_path, "--expect", "quickstart", "--timeout", "60s")
    with Slowloris(receiver.http_port, connections=20) as slow:
        proc = run_cli(
            ["run", "quickstart", "--instant", "--export-timeout", "5"],
            otlp_env(receiver.endpoint(protocol), protocol),
            cwd=tmp_path,
        )
        code, data, err = receiver.result()
    assert slow.sent > 0
    assert proc.returncode == 0, proc.stderr
    assert code == 0, err
    assert data["ok"] is True and data["verdict"]["mismatches"] == []
