"""Receiving on several processes: workers share the receiver's ports, each decoding and tallying the
connections that reach it, and report what they counted to the process that judges.

Decoding and tallying are CPU work under one interpreter lock per process; workers spread them over the
machine's cores. The kernel hands each new connection to one of the workers listening on the port
(SO_REUSEPORT). A worker reports what it counted since its last report (a Reception's take_part) at
most every REPORT_INTERVAL_S, and at once when something arrives after a quiet spell; the parent's
Reception merges the reports, so its verdict sees every request a worker accepted within that interval.

A worker that exits unasked takes with it what it counted since its last report: the parent's Reception
then fails (a verdict cannot pass), naming the worker. Workers run in a session of their own, out of
reach of a terminal's Ctrl-C and of signals to the parent's process group: the parent stops them, and a
worker whose parent is gone (its end of the pipe closes) stops by itself. With a dump, a worker sends
each request's line to the parent, which writes it to the one file, and counts the request once it is
written.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.otlp.decode import Series
from claude_telemetry_cli.receiver.dump import DumpFailed
from claude_telemetry_cli.receiver.reception import Reception, ReceptionPart
from claude_telemetry_cli.receiver.server import OtlpServer, _bind_reason, _hostport, endpoint_url
from claude_telemetry_cli.records import Totals

REPORT_INTERVAL_S = 0.1
_START_TIMEOUT_S = 60.0  # importing grpc and binding, on a loaded machine
_STOP_MARGIN_S = 10.0  # past the grace period, a worker that has not stopped is killed
MAX_WORKERS = 64


class WorkerPool:
    """An OtlpServer in each of `workers` processes, on the same ports, feeding `reception` (whose dump,
    if any, they write through). Started, stopped and asked for its endpoints as an OtlpServer is."""

    def __init__(
        self,
        reception: Reception,
        *,
        workers: int,
        host: str = "127.0.0.1",
        grpc_port: int = 4317,
        http_port: int = 4318,
        **options,
    ) -> None:
        if not 2 <= workers <= MAX_WORKERS:
            raise ValueError(f"a WorkerPool runs 2 to {MAX_WORKERS} workers, not {workers}")
        if not hasattr(socket, "SO_REUSEPORT"):
            raise ConfigError("--workers: processes cannot share a port on this system; use --workers 1")
        # The options are checked here, as a single server checks them, before any process starts.
        self._model = OtlpServer(reception, host=host, grpc_port=grpc_port, http_port=http_port, **options)
        self.reception = reception
        self.workers = workers
        self.host = host
        self._options = dict(options, host=host)
        self._requested = (
            grpc_port if options.get("grpc", True) else None,
            http_port if options.get("http", True) else None,
        )
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self._workers: list[_Worker] = []
        self._expected: dict | None = None
        reception.on_expect(self._forward_expected)

    # ------------------------------------------------------------------ endpoints, as OtlpServer's

    @property
    def grpc_endpoint(self) -> str | None:
        return endpoint_url(self.host, self.grpc_port, tls=self._options.get("tls_cert") is not None)

    @property
    def http_endpoint(self) -> str | None:
        return endpoint_url(self.host, self.http_port, tls=self._options.get("tls_cert") is not None)

    @property
    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    # ------------------------------------------------------------------ life cycle

    def start(self) -> WorkerPool:
        self._model.check()
        reserved: list[socket.socket] = []
        try:
            grpc_port, http_port = self._requested
            ports = []
            for port in (grpc_port, http_port):
                if port is None:
                    ports.append(None)
                    continue
                reservation = _reserve(self.host, port)
                reserved.append(reservation)
                ports.append(reservation.getsockname()[1])
            self.grpc_port, self.http_port = ports
            options = dict(self._options, grpc_port=self.grpc_port or 0, http_port=self.http_port or 0)
            for i in range(self.workers):
                self._workers.append(_Worker(self, i + 1, options, dump=self.reception.dumps))
            deadline = time.monotonic() + _START_TIMEOUT_S
            for w in self._workers:
                w.wait_ready(deadline)
        except BaseException:
            self.stop(grace=0)
            self.grpc_port = self.http_port = None
            raise
        finally:
            # From now on the workers' own sockets hold the ports (or, if they failed, nothing needs them).
            for reservation in reserved:
                reservation.close()
        for w in self._workers:
            w.serve()
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stop every worker (requests in progress get `grace` seconds), with its last report merged."""
        for w in self._workers:
            w.send(("stop", grace))
        deadline = time.monotonic() + max(grace, 0) + _STOP_MARGIN_S
        for w in self._workers:
            w.finish(deadline)

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _forward_expected(self, expected: Totals) -> None:
        self._expected = expected.content
        if expected.content is not None:
            for w in self._workers:
                w.send(("expect", expected.content))

    def _lost(self, worker: _Worker, how: str) -> None:
        self.reception.fail(
            f"receiver worker {worker.index} of {self.workers} (pid {worker.proc.pid}) {how}:"
            " what it received since its last report is lost"
        )


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound to `port` (a free one for 0) that the workers can bind beside: refused, as a single
    server is refused, if anything else holds the port."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, sockaddr = infos[0]
        # Bound first without SO_REUSEPORT: a port taken by anyone, sharing or not, is refused here.
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
            sockaddr = (sockaddr[0], probe.getsockname()[1], *sockaddr[2:])
        reservation = socket.socket(family, kind, proto)
        try:
            reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            reservation.bind(sockaddr)
        except BaseException:
            reservation.close()
            raise
        return reservation
    except OSError as e:
        raise ConfigError(f"cannot listen on {_hostport(host, port)}: {_bind_reason(e)}") from None


class _Worker:
    """One worker process, seen from the parent: its pipe, and the thread reading its reports."""

    def __init__(self, pool: WorkerPool, index: int, options: dict, *, dump: bool) -> None:
        self.pool, self.index = pool, index
        ours, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "claude_telemetry_cli.receiver.workers", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the parent's standard output is its own (--json)
                env=_worker_environment(),
                # Out of the parent's process group: a terminal's Ctrl-C, or a signal to the group, is
                # the parent's to act on (it stops the workers, with their last reports).
                start_new_session=True,
            )
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self._series = _SeriesNumbers()
        self._send_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self.stopped = False
        self.send(("start", options, dump, pool._expected))

    def send(self, message) -> None:
        with self._send_lock:
            try:
                self.conn.send(message)
            except OSError:
                pass  # the worker is gone: its reader says so

    def wait_ready(self, deadline: float) -> None:
        try:
            if not self.conn.poll(max(0.0, deadline - time.monotonic())):
                raise ConfigError(f"receiver worker {self.index} did not start in {_START_TIMEOUT_S:g}s")
            message = self.conn.recv()
        except (EOFError, OSError):
            raise ConfigError(
                f"receiver worker {self.index} exited as it started ({_exit_reason(self._exit_code())})"
            ) from None
        if message[0] == "error":
            raise ConfigError(message[1])

    def serve(self) -> None:
        self._reader = threading.Thread(target=self._read, name=f"receiver-worker-{self.index}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        reception = self.pool.reception
        try:
            while True:
                message = self.conn.recv()
                kind = message[0]
                if kind == "part":
                    reception.merge(self._series.decode(*message[1:]))
                elif kind == "dump":
                    try:
                        reception.write_dump_line(message[2])
                        self.send(("dumped", message[1], None))
                    except DumpFailed as e:
                        self.send(("dumped", message[1], e.message))
                elif kind == "stopped":
                    self.stopped = True
                elif kind == "failed":
                    self.pool._lost(self, f"failed ({message[1]})")
        except (EOFError, OSError):
            pass
        if not self.stopped:
            self.pool._lost(self, _exit_reason(self._exit_code()))

    def _exit_code(self, wait_s: float = 2.0) -> int | None:
        try:
            return self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return None

    def finish(self, deadline: float) -> None:
        if self._reader is not None:
            self._reader.join(timeout=max(0.0, deadline - time.monotonic()))
        try:
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.conn.close()


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def _worker_environment() -> dict[str, str]:
    """The parent's environment, with this package first on the path: the workers run the same code."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


# ---------------------------------------------------------------------------------------------- worker


class _RemoteDump:
    """A worker's dump: each line is written by the parent, and a request counted once it answers."""

    def __init__(self, send) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._next = 0
        self._waiting: dict[int, list] = {}
        self._closed: str | None = None

    def write(self, data: bytes) -> None:
        done = threading.Event()
        with self._lock:
            if self._closed is not None:
                raise DumpFailed(self._closed)
            ticket = self._next
            self._next += 1
            waiter = self._waiting[ticket] = [done, None]
        self._send(("dump", ticket, data))
        done.wait()
        if waiter[1] is not None:
            raise DumpFailed(waiter[1])

    def answer(self, ticket: int, error: str | None) -> None:
        with self._lock:
            waiter = self._waiting.pop(ticket, None)
        if waiter is not None:
            waiter[1] = error
            waiter[0].set()

    def close(self, reason: str) -> None:
        with self._lock:
            self._closed = reason
            waiting, self._waiting = self._waiting, {}
        for waiter in waiting.values():
            waiter[1] = reason
            waiter[0].set()


class _SeriesNumbers:
    """Series sent by number: a report names each series the first time only, then numbers it (a
    report of every series each time would cost more than the tally). The worker numbers, the parent
    reads the numbers back; both start afresh past LIMIT series, the worker saying so."""

    LIMIT = 200_000

    def __init__(self) -> None:
        self._numbers: dict[Series, int] = {}  # the worker's side
        self._series: dict[int, Series] = {}  # the parent's side

    def encode(self, part: ReceptionPart) -> tuple:
        numbers = self._numbers
        fresh = len(numbers) >= self.LIMIT
        if fresh:
            numbers.clear()
        named: list[tuple[int, str, tuple]] = []

        def number(series: Series) -> int:
            n = numbers.get(series)
            if n is None:
                n = numbers[series] = len(numbers)
                named.append((n, series.key[0], series.attributes))
            return n

        tally = part.tally
        sums = [(number(s), v) for s, v in tally.series.items()]
        latest = [(number(s), start, seen) for (s, start), seen in tally.cumulative_series.items()]
        resources = [(r, [number(s) for s in members]) for r, members in tally.resource_series.items()]
        tally.series, tally.cumulative_series, tally.resource_series = {}, {}, {}
        return part, fresh, named, sums, latest, resources

    def decode(self, part: ReceptionPart, fresh: bool, named, sums, latest, resources) -> ReceptionPart:
        series = self._series
        if fresh:
            series.clear()
        for n, name, attributes in named:
            series[n] = Series(name, attributes)
        part.tally.series = {series[n]: v for n, v in sums}
        part.tally.cumulative_series = {(series[n], start): seen for n, start, seen in latest}
        part.tally.resource_series = {r: {series[n] for n in numbers} for r, numbers in resources}
        return part


def _report(reception: Reception, send, numbers: _SeriesNumbers, stopping: threading.Event) -> None:
    """Send what arrived, at most every REPORT_INTERVAL_S: at once after a quiet spell, and in batches
    under a steady stream. A worker that cannot report ends: a tally that stopped short must not pass
    for a whole one."""
    try:
        _report_until(reception, send, numbers, stopping)
    except Exception as e:
        try:
            send(("failed", f"cannot report: {type(e).__name__}: {e}"))
        finally:
            os._exit(70)


def _report_until(reception: Reception, send, numbers: _SeriesNumbers, stopping: threading.Event) -> None:
    generation = -1
    last = 0.0
    while not stopping.is_set():
        seen = reception.wait_for_change(generation, 0.5)
        if seen == generation:
            continue
        generation = seen
        wait = last + REPORT_INTERVAL_S - time.monotonic()
        if wait > 0 and stopping.wait(wait):
            return
        part = reception.take_part()
        if part is not None:
            send(("part", *numbers.encode(part)))
            last = time.monotonic()


def worker_main(fd: int) -> int:
    # Signalled directly, a worker ends at once (and its parent reports it gone), without a traceback.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    conn = Connection(fd)
    send_lock = threading.Lock()

    def send(message) -> None:
        with send_lock:
            conn.send(message)

    try:
        _, options, dump, expected = conn.recv()
    except (EOFError, OSError):
        return 1
    remote_dump = _RemoteDump(send) if dump else None
    reception = Reception(dump=remote_dump)
    if expected is not None:
        reception.expect(Totals(content=expected))
    try:
        server = OtlpServer(reception, share_ports=True, **options).start()
    except ConfigError as e:
        send(("error", e.message))
        return 2
    except Exception as e:  # reported by the parent as one line
        send(("error", f"receiver worker could not start: {type(e).__name__}: {e}"))
        return 2
    send(("ready",))

    stopping, stop_asked = threading.Event(), threading.Event()
    grace = [0.0]

    def listen() -> None:
        try:
            while True:
                message = conn.recv()
                kind = message[0]
                if kind == "dumped" and remote_dump is not None:
                    remote_dump.answer(message[1], message[2])
                elif kind == "expect":
                    reception.expect(Totals(content=message[1]))
                elif kind == "stop":
                    grace[0] = message[1]
                    stop_asked.set()
        except (EOFError, OSError):
            # The parent is gone: nobody will write the dump or read a report.
            if remote_dump is not None:
                remote_dump.close("the receiver is stopping")
            stop_asked.set()

    threading.Thread(target=listen, name="worker-listen", daemon=True).start()
    numbers = _SeriesNumbers()
    reporter = threading.Thread(
        target=_report, args=(reception, send, numbers, stopping), name="worker-report", daemon=True
    )
    reporter.start()
    stop_asked.wait()
    server.stop(grace=grace[0])
    stopping.set()
    reporter.join()
    try:
        part = reception.take_part()
        if part is not None:
            send(("part", *numbers.encode(part)))
        send(("stopped",))
    except OSError:
        return 1
    return 0


def main(argv: Sequence[str]) -> int:
    return worker_main(int(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
