"""`receive` under many large request bodies at once: its memory stays bounded, and what it cannot hold it
refuses in a way senders retry (HTTP 429, gRPC RESOURCE_EXHAUSTED), never dropping a request silently."""

from __future__ import annotations

import http.client
import pathlib
import signal
import threading

import grpc
import pytest

from tests.unit.test_receiver_server import GRPC_METHODS, logs_request, otlp_json

pytestmark = pytest.mark.integration

# What the README states for the default limits (16 MiB a request, 64 MiB of bodies held at once).
PEAK_BOUND_MB = 450
CONTENT_TYPES = {"http/protobuf": "application/x-protobuf", "http/json": "application/json"}


def _peak_mb(pid: int) -> float:
    status = pathlib.Path(f"/proc/{pid}/status")
    if not status.exists():
        pytest.skip("needs /proc to read the receiver's peak memory")
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def _post(port: int, protocol: str, body: bytes, *, chunk: int = 0, gap_s: float = 0.0) -> int:
    """POST `body`, all at once or `chunk` bytes every `gap_s` seconds (a slow link); the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.putrequest("POST", "/v1/logs")
        conn.putheader("Content-Type", CONTENT_TYPES[protocol])
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        pause = threading.Event()
        for at in range(0, len(body), chunk or len(body)):
            conn.send(body[at : at + (chunk or len(body))])
            pause.wait(gap_s)
        response = conn.getresponse()
        response.read()
        return response.status
    except (BrokenPipeError, ConnectionResetError):
        # Refused before the whole body was sent: the answer is what the server wrote before closing.
        try:
            response = conn.getresponse()
            return response.status
        except (OSError, http.client.HTTPException):
            return -1
    finally:
        conn.close()


def _grpc(port: int, body: bytes) -> int:
    options = [("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        try:
            channel.unary_unary(GRPC_METHODS["logs"])(body, timeout=120)
            return 200
        except grpc.RpcError as e:
            return 429 if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else -int(e.code().value[0])


def _all_at_once(senders) -> list[int]:
    start = threading.Barrier(len(senders))
    results: list[int] = [0] * len(senders)

    def run(i, send):
        start.wait()
        results[i] = send()

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return results


def _finish(receiver) -> dict:
    receiver.proc.send_signal(signal.SIGINT)
    code, data, err = receiver.result(timeout=120)
    assert code == 130, err
    return data["received"]


def test_concurrent_large_bodies_stay_within_the_bound_and_the_excess_is_refused(tmp_path, receivers):
    receiver = receivers(tmp_path)
    # About 12 MB each, under the 16 MiB limit: protobuf, JSON (which decodes to far more) and gRPC.
    records = {"http/protobuf": 80_000, "http/json": 36_000, "grpc": 80_000}
    bodies = {
        "http/protobuf": logs_request(["user_prompt"] * records["http/protobuf"]).SerializeToString(),
        "http/json": otlp_json(logs_request(["user_prompt"] * records["http/json"])),
        "grpc": logs_request(["user_prompt"] * records["grpc"]).SerializeToString(),
    }
    senders, kinds = [], []
    for protocol, body in bodies.items():
        for _ in range(8):
            kinds.append(protocol)
            if protocol == "grpc":
                senders.append(lambda body=body: _grpc(receiver.grpc_port, body))
            else:
                senders.append(lambda p=protocol, body=body: _post(receiver.http_port, p, body))
    results = _all_at_once(senders)
    peak = _peak_mb(receiver.proc.pid)
    received = _finish(receiver)

    assert set(results) <= {200, 429}, results
    assert 200 in results and 429 in results, results
    accepted = sum(records[kind] for kind, status in zip(kinds, results, strict=True) if status == 200)
    assert received["events"] == accepted
    refused = sum(n for key, n in received["errors"].items() if key.endswith(": busy"))
    assert refused == results.count(429)
    assert peak < PEAK_BOUND_MB, f"peak {peak:.0f} MB"


def test_many_slow_large_bodies_stay_within_the_bound(tmp_path, receivers):
    receiver = receivers(tmp_path)
    n = 30_000
    body = logs_request(["user_prompt"] * n).SerializeToString()  # about 4.5 MB
    # Thirty of them, each arriving over a couple of seconds: together far more than the receiver holds.
    senders = [
        lambda: _post(receiver.http_port, "http/protobuf", body, chunk=256 * 1024, gap_s=0.1)
        for _ in range(30)
    ]
    results = _all_at_once(senders)
    peak = _peak_mb(receiver.proc.pid)
    received = _finish(receiver)

    assert set(results) <= {200, 429}, results
    assert 200 in results and 429 in results, results
    assert received["events"] == n * results.count(200)
    assert peak < PEAK_BOUND_MB, f"peak {peak:.0f} MB"
