"""`claude-telemetry receive` in a subprocess, on free ports: the verdict behind a collector."""

from __future__ import annotations

import json
import os

from tests.conftest import free_port, wait_for_port
from tests.support.cli import start_cli, telemetry_env

# Set, every receiver the tests start runs this many worker processes (unless a test says otherwise).
WORKERS = os.environ.get("TEST_RECEIVE_WORKERS")


class Receiver:
    def __init__(self, tmp_path, *args: str, env=None, preexec_fn=None) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        if WORKERS and "--workers" not in args:
            args = ("--workers", WORKERS, *args)
        self.proc = start_cli(
            [
                "receive",
                "--grpc-port",
                str(self.grpc_port),
                "--http-port",
                str(self.http_port),
                "--json",
                *args,
            ],
            env=env or telemetry_env(),
            cwd=tmp_path,
            preexec_fn=preexec_fn,
        )
        wait_for_port(self.grpc_port, self.proc)
        wait_for_port(self.http_port, self.proc)

    def endpoint(self, protocol: str) -> str:
        return f"http://127.0.0.1:{self.grpc_port if protocol == 'grpc' else self.http_port}"

    def result(self, timeout: float = 60) -> tuple[int, dict, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, json.loads(out) if out.strip() else {}, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
