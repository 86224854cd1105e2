"""WorkerPool: an OtlpServer in each of several processes on the same ports, their counts merged into the
Reception that judges; refused what a single server refuses."""

from __future__ import annotations

import pickle
import socket
import threading

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.receiver.reception import Reception
from claude_telemetry_cli.receiver.server import OtlpServer
from claude_telemetry_cli.receiver.workers import WorkerPool, _SeriesNumbers
from tests.unit.test_receiver_server import (
    SECRET,
    _grpc_tls_channel,
    _https_context,
    eventually,
    http_post,
    logs_request,
    metrics_request,
    post_signal,
    send,
)


def test_parts_taken_from_workers_merge_into_the_totals_of_one_reception():
    one, parent = Reception(), Reception()
    workers = [Reception(), Reception()]
    numbers = [(_SeriesNumbers(), _SeriesNumbers()) for _ in workers]
    cumulative = ExportMetricsServiceRequest()
    cumulative.CopyFrom(metrics_request([("c", (("session.id", "s-9"),), 4)]))
    cumulative.resource_metrics[0].scope_metrics[0].metrics[
        0
    ].sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    later = ExportMetricsServiceRequest()
    later.CopyFrom(cumulative)
    point = later.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
    point.time_unix_nano, point.as_int = 10, 9
    sent = [
        metrics_request([("t", (("session.id", "s-1"),), 1.5)]),
        logs_request(["user_prompt", "api_request"]),
        later,
        metrics_request([("t", (("session.id", "s-2"),), 2)]),
        cumulative,  # older than `later`, which arrived first at the other worker: not counted
        logs_request(["api_request"]),
    ]
    for i, request in enumerate(sent):
        accept = "accept_logs" if request.DESCRIPTOR.name.startswith("ExportLogs") else "accept_metrics"
        getattr(one, accept)(request, "grpc")
        getattr(workers[i % 2], accept)(request, "grpc")
        if i % 2:  # reports now and then, each one pickled as it travels
            for worker, (mine, theirs) in zip(workers, numbers, strict=True):
                part = worker.take_part()
                if part is not None:
                    parent.merge(theirs.decode(*pickle.loads(pickle.dumps(mine.encode(part)))))
    one.reject("grpc", "invalid protobuf")
    workers[0].reject("grpc", "invalid protobuf")
    for worker, (mine, theirs) in zip(workers, numbers, strict=True):
        part = worker.take_part()
        if part is not None:
            parent.merge(theirs.decode(*pickle.loads(pickle.dumps(mine.encode(part)))))
        assert worker.take_part() is None  # nothing new since
    assert parent.totals().equals(one.totals(), content=True)
    assert parent.snapshot() == one.snapshot()
    assert parent.totals().metrics[("c", (("session.id", "s-9"),))] == 9.0


@pytest.fixture
def reception():
    return Reception()


@pytest.fixture
def start_pool(reception):
    started: list[WorkerPool] = []

    def start(**kw) -> WorkerPool:
        kw.setdefault("grpc_port", 0)
        kw.setdefault("http_port", 0)
        kw.setdefault("workers", 2)
        pool = WorkerPool(kw.pop("reception", reception), **kw).start()
        started.append(pool)
        return pool

    yield start
    for pool in started:
        pool.stop(grace=0)


def test_free_ports_are_shared_and_every_connection_is_counted(start_pool, reception):
    pool = start_pool(workers=3)
    assert pool.grpc_port and pool.http_port and len(set(pool.pids)) == 3
    request = metrics_request([("a", (("session.id", "s"),), 1)])
    for _ in range(12):  # a connection each: the kernel spreads them over the workers
        send(pool, "metrics", request, "grpc")
        send(pool, "metrics", request, "http/protobuf")
        send(pool, "logs", logs_request(["user_prompt"]), "http/json")
    assert eventually(reception, lambda: reception.snapshot()["points"] == 24)
    assert eventually(reception, lambda: reception.event_total() == 12)
    assert reception.totals().metrics == {("a", (("session.id", "s"),)): 24.0}
    snapshot = reception.snapshot()
    assert snapshot["requests"] == {"logs http/json": 12, "metrics grpc": 12, "metrics http/protobuf": 12}
    assert snapshot["sessions"] == 2  # "s" and the events' session


def test_what_arrived_before_stop_is_merged_when_it_returns(start_pool, reception):
    pool = start_pool()
    for _ in range(5):
        send(pool, "metrics", metrics_request([("a", (), 2)]), "http/protobuf")
    pool.stop()
    assert reception.totals().metrics == {("a", ()): 10.0}
    assert reception.failure is None


def test_refusals_are_counted_as_a_single_server_counts_them(start_pool, reception):
    pool = start_pool(require_headers=[("Authorization", SECRET)])
    body = metrics_request([("a", (), 1)]).SerializeToString()
    assert http_post(pool, "/v1/metrics", body)[0] == 401
    assert http_post(pool, "/v1/metrics", body, headers={"Authorization": SECRET})[0] == 200
    with pytest.raises(grpc.RpcError) as info:
        send(pool, "metrics", metrics_request([("a", (), 1)]), "grpc")
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert http_post(pool, "/v1/nothing", body, headers={"Authorization": SECRET})[0] == 404
    expected = {
        ("http/protobuf", "unauthenticated"): 1,
        ("grpc", "unauthenticated"): 1,
        ("http/protobuf", "not found"): 1,
    }
    assert eventually(reception, lambda: reception.errors == expected)
    assert reception.totals().metrics == {("a", ()): 1.0}


def test_tls_is_served_by_every_worker(start_pool, reception, tls):
    pool = start_pool(tls_cert=tls.server_cert, tls_key=tls.server_key)
    assert pool.grpc_endpoint == f"https://127.0.0.1:{pool.grpc_port}"
    with _grpc_tls_channel(pool, tls, client_cert=False) as ch:
        send(pool, "metrics", metrics_request([("a", (), 1)]), "grpc", channel=ch)
    status, _, _ = post_signal(
        pool, "metrics", metrics_request([("a", (), 2)]), "http/protobuf", context=_https_context(tls, False)
    )
    assert status == 200
    assert eventually(reception, lambda: reception.totals().metrics == {("a", ()): 3.0})


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    from tests.support.certs import make_tls_files

    return make_tls_files(tmp_path_factory.mktemp("certs"))


@pytest.mark.parametrize("which", ["grpc", "http"])
def test_a_port_in_use_is_refused_as_a_single_server_refuses_it(reception, which):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        kw = {"grpc_port": 0, "http_port": 0, f"{which}_port": port}
        pool = WorkerPool(reception, workers=2, **kw)
        with pytest.raises(ConfigError) as info:
            pool.start()
    assert info.value.message == f"cannot listen on 127.0.0.1:{port}: address already in use"
    assert pool.grpc_port is None and pool.http_port is None and pool.pids == []


def test_no_other_receiver_can_share_the_workers_ports(start_pool):
    pool = start_pool()
    for kw in ({"grpc_port": pool.grpc_port, "http_port": 0}, {"grpc_port": 0, "http_port": pool.http_port}):
        with pytest.raises(ConfigError, match="address already in use"):
            OtlpServer(Reception(), **kw).start()
        with pytest.raises(ConfigError, match="address already in use"):
            WorkerPool(Reception(), workers=2, **kw).start()


def test_bad_tls_files_are_refused_before_any_worker_starts(reception, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    pool = WorkerPool(reception, workers=2, grpc_port=0, http_port=0, tls_cert=garbage, tls_key=garbage)
    with pytest.raises(ConfigError, match="--tls-cert"):
        pool.start()
    assert pool.pids == []


def test_a_worker_that_cannot_report_says_why_and_ends(monkeypatch):
    """Its parent then fails the verdict: a tally that stopped short never passes for a whole one."""
    from claude_telemetry_cli.receiver import workers

    class Ended(Exception):
        pass

    def end(code):
        raise Ended(code)

    monkeypatch.setattr(workers.os, "_exit", end)
    reception = Reception()
    reception.accept_metrics(metrics_request([("a", (), 1)]), "grpc")
    told = []

    def send(message):
        if message[0] == "part":
            raise TypeError("cannot pickle")
        told.append(message)

    with pytest.raises(Ended) as info:
        workers._report(reception, send, _SeriesNumbers(), threading.Event())
    assert info.value.args == (70,)
    assert told == [("failed", "cannot report: TypeError: cannot pickle")]
