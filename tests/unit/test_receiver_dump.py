"""The --dump file: a request's line is written whole or not at all, and counted only once written."""

from __future__ import annotations

import errno
import json
import os

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs

from claude_telemetry_cli.receiver import dump as dump_module
from claude_telemetry_cli.receiver.dump import DumpFailed, DumpFile
from claude_telemetry_cli.receiver.reception import Reception
from tests.unit.test_receiver_server import logs_request


class _Disk:
    """os.write on a disk with `free` bytes left: a write past them is cut short, the next one fails."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.real_write = os.write

    def write(self, fd: int, data) -> int:
        if self.free <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = self.real_write(fd, bytes(data[: self.free]))
        self.free -= n
        return n


def test_a_line_that_does_not_fit_is_cut_back_and_the_request_is_not_counted(tmp_path, monkeypatch):
    path = tmp_path / "dump.jsonl"
    dump = DumpFile(path)
    reception = Reception(dump=dump)
    reception.accept_logs(logs_request(["user_prompt"]), "grpc")
    kept = path.read_bytes()
    monkeypatch.setattr(dump_module.os, "write", _Disk(free=100).write)
    with pytest.raises(DumpFailed) as info:
        reception.accept_logs(logs_request(["api_request"] * 20), "grpc")
    assert info.value.message == f"--dump {path}: cannot write: no space left on device"
    assert path.read_bytes() == kept  # the half-written line is gone
    assert [json.loads(line)["signal"] for line in kept.splitlines()] == ["logs"]
    assert reception.totals().events == {"user_prompt": 1}
    assert reception.accepted == 1
    refused = "the request was refused, not counted, and receiving stopped"
    assert reception.failure == f"{info.value.message}; {refused}"
    dump.close()


def test_a_large_request_is_one_write(tmp_path, monkeypatch):
    writes = []
    real_write = os.write

    def counting(fd, data):
        writes.append(len(data))
        return real_write(fd, data)

    dump = DumpFile(tmp_path / "dump.jsonl")
    monkeypatch.setattr(dump_module.os, "write", counting)
    Reception(dump=dump).accept_logs(logs_request(["api_request"] * 5000), "http/json")
    assert len(writes) == 1 and writes[0] > 1_000_000
    dump.close()


def test_a_device_that_refuses_every_write_leaves_nothing_counted():
    dump = DumpFile("/dev/full")
    reception = Reception(dump=dump)
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs()])])
    with pytest.raises(DumpFailed, match="no space left on device"):
        reception.accept_logs(request, "grpc")
    assert reception.requests == {} and reception.failure is not None
    dump.close()


def test_the_sender_is_told_the_request_was_not_kept():
    import grpc

    from claude_telemetry_cli.receiver.server import OtlpServer
    from tests.unit.test_receiver_server import post_signal, send

    dump = DumpFile("/dev/full")
    reception = Reception(dump=dump)
    server = OtlpServer(reception, grpc_port=0, http_port=0).start()
    try:
        status, _, body = post_signal(server, "logs", logs_request(["user_prompt"]), "http/json")
        assert status == 503 and json.loads(body)["code"] == 14  # UNAVAILABLE
        assert "no space left on device" in json.loads(body)["message"]
        with pytest.raises(grpc.RpcError) as info:
            send(server, "logs", logs_request(["user_prompt"]), "grpc")
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(grace=0)
        dump.close()
    assert reception.errors == {("http/json", "dump not written"): 1, ("grpc", "dump not written"): 1}
    assert reception.requests == {} and reception.totals().events == {}
