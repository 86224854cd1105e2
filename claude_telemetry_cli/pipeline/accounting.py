"""What each exporter did over a replay: requests, items, failures, and why a failure happened."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "NOT_SENT",
    "ExportStats",
    "capture",
    "failure_cause",
    "first_failure",
    "install_capture",
    "record",
    "stats_lock",
]


@dataclass
class ExportStats:
    """What one exporter of one signal did over a whole replay."""

    signal: str
    exporter: str  # "otlp grpc", "otlp http/json", "console", "prometheus"
    destination: str = ""
    requests: int = 0
    failed_requests: int = 0
    items: int = 0  # data points, log records or spans sent successfully
    failed_items: int = 0
    last_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_requests == 0


class _ErrorCapture(logging.Handler):
    """Catches the OTel exporters' own log lines so failures become results, not stderr noise.

    Messages are kept per thread: exporters log on the thread that exports, and several processes'
    exports run at once. All of one export's lines are kept: the last one of a failure that was
    retried ("... due to timeout, max retries or shutdown") hides the cause, which an earlier
    "Transient error ..." line names.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().splitlines()[0] if record.getMessage() else record.levelname
        if record.exc_info and record.exc_info[1] is not None:
            message = f"{message}: {record.exc_info[1]}"
        self._messages().append(message)

    def _messages(self) -> list[str]:
        if not hasattr(self._local, "messages"):
            self._local.messages = []
        return self._local.messages

    def take(self) -> list[str]:
        """The lines logged on this thread since the last take, oldest first."""
        messages = self._messages()
        self._local.messages = []
        return messages


capture = _ErrorCapture()
stats_lock = threading.Lock()


def install_capture() -> None:
    otel = logging.getLogger("opentelemetry")
    if capture not in otel.handlers:
        otel.addHandler(capture)
        otel.propagate = False
        otel.setLevel(logging.WARNING)


_REFUSED = ("connection refused", "errno 111", "econnrefused")
_UNRESOLVED = ("name or service not known", "nodename nor servname", "temporary failure in name resolution")


def _host_port(destination: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(destination).netloc or destination


def _probe(host_port: str, timeout_s: float) -> str | None:
    """Why nothing answers at `host_port`, found by connecting once; None when something listens."""
    import socket
    from urllib.parse import urlsplit

    split = urlsplit(f"//{host_port}")
    if split.hostname is None or split.port is None:
        return None
    try:
        with socket.create_connection((split.hostname, split.port), timeout=timeout_s):
            return None
    except ConnectionRefusedError:
        return f"connection refused at {host_port}"
    except socket.gaierror:
        return f"cannot resolve the host of {host_port}"
    except OSError:
        return None


def failure_cause(messages: Sequence[str], destination: str, *, probe_timeout_s: float = 1.0) -> str:
    """One line on why an export failed, from the exporter's own log lines of that export.

    The SDK retries a refused connection until the export timeout and then reports only that it gave
    up; the cause, when its lines do not name it, is found by connecting once to the destination.
    """
    host_port = _host_port(destination)
    text = " ".join(messages).lower()
    if any(marker in text for marker in _REFUSED):
        return f"connection refused at {host_port}"
    if any(marker in text for marker in _UNRESOLVED):
        return f"cannot resolve the host of {host_port}"
    if not messages or "max retries or shutdown" in messages[-1]:
        probed = _probe(host_port, probe_timeout_s)
        if probed is not None:
            return probed
    if not messages:
        return "the exporter reported a failure"
    return messages[-1]


NOT_SENT = "not sent: the replay stopped before this request"


def first_failure(stats: Sequence[ExportStats]) -> ExportStats | None:
    """The exporter whose failure says why (a request that failed itself rather than one dropped)."""
    failing = [s for s in stats if not s.ok]
    return next((s for s in failing if s.last_error != NOT_SENT), failing[0] if failing else None)


def record(stats: ExportStats, ok: bool, items: int, error: str | None) -> None:
    """Count one request's outcome. A failure without an error of its own (a request dropped when the
    replay stopped) counts as failed but keeps the cause an earlier one gave."""
    with stats_lock:
        if ok:
            stats.items += items
        else:
            stats.failed_requests += 1
            stats.failed_items += items
            if error is not None or stats.last_error is None:
                stats.last_error = error or NOT_SENT
